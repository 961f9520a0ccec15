package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/node/dataset"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// Executor runs tasks on this node, as initiator or as responder. It is
// the one place a task's protocol runs, whoever asked for it.
type Executor struct {
	party       string
	reg         *Registry
	dataDir     string // holds models/ (score models)
	resultsDir  string
	keys        *keyStore
	dialer      *dialer
	group       string
	taskTimeout time.Duration
	idleTimeout time.Duration
	slots       chan struct{}
	metrics     *metrics
	log         *slog.Logger
	now         func() time.Time
	// scoreWorkers and psiWorkers are the goroutines of score and PSI
	// jobs, from the host profile (0: GOMAXPROCS).
	scoreWorkers, psiWorkers int
	// psiBatchSize is the most elements per PSI message this node sends or
	// accepts, from the host profile (0: psi.DefaultBatchSize).
	psiBatchSize int
	// fence, when set, confirms with the coordinator that an offered
	// scheduled attempt is current.
	fence func(context.Context, *mitaiv1.TaskSpec) error
	// track, when set, follows a scheduled attempt this node answers: its
	// context ends when the coordinator aborts the attempt, and finish
	// reports how it ended.
	track func(context.Context, *mitaiv1.TaskSpec) (ctx context.Context, finish func(*mitaiv1.TaskReport, error))

	sessMu   sync.Mutex
	sessions map[string]*session  // multi-party attempts running here, by sessionKey
	ended    map[string]time.Time // recently ended ones, so late offers are refused
}

// linger bounds how long a role that finished well waits for its stream to
// flush; a failed role does not wait for a peer that may be gone.
func lingerAfter(err error) time.Duration {
	if err != nil {
		return 0
	}
	return 30 * time.Second
}

// NewJobID returns a random job identifier.
func NewJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "job-" + hex.EncodeToString(b[:])
}

// Run runs a task with this node as its initiator (the first participant):
// it dials the peer, offers the task and runs this node's role.
func (e *Executor) Run(ctx context.Context, spec *mitaiv1.TaskSpec) (*mitaiv1.TaskReport, error) {
	if isGroupKind(spec.Kind) {
		return e.runGroup(ctx, spec)
	}
	pl, err := planTask(spec, e.party)
	if err != nil {
		return nil, err
	}
	if pl.local != spec.Participants[0] {
		return nil, fmt.Errorf("this node (party %q) must be the task's first participant to start it", e.party)
	}
	if pl.peer.Address == "" {
		return nil, fmt.Errorf("participant %q has no address", pl.peer.Party)
	}
	info, err := e.checkLocal(pl)
	if err != nil {
		return nil, err
	}
	release, err := e.acquire(ctx, true)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := e.taskContext(ctx, spec)
	defer cancel()

	stream, err := e.dialer.openTask(ctx, pl.peer)
	if err != nil {
		return nil, err
	}
	defer stream.cc.Close()
	if err := stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Offer{Offer: spec}}); err != nil {
		return nil, fmt.Errorf("offer task to %s: %w", pl.peer.Party, err)
	}
	answer, err := recvFrame(ctx, stream.Recv, e.idleTimeout)
	if err != nil {
		return nil, fmt.Errorf("wait for %s to accept the task: %w", pl.peer.Party, err)
	}
	a := answer.GetAnswer()
	if a == nil {
		return nil, fmt.Errorf("%s answered the offer with a %T frame", pl.peer.Party, answer.Kind)
	}
	if !a.Accepted {
		e.metrics.taskDone(pl.roleName(), "refused")
		return nil, fmt.Errorf("%s refused the task: %s", pl.peer.Party, a.Reason)
	}
	conn := newPeerConn(stream, stream.CloseSend)
	report, err := e.execute(ctx, spec, pl, info, conn)
	if cerr := conn.Close(lingerAfter(err)); err == nil && cerr != nil {
		err = cerr
	}
	cancel()
	conn.wait()
	return report, err
}

// Serve answers a task offered by a peer on stream; caller is the party of
// the peer's verified certificate.
func (e *Executor) Serve(ctx context.Context, caller string, stream frameStream) error {
	first, err := recvFrame(ctx, stream.Recv, e.idleTimeout)
	if err != nil {
		return fmt.Errorf("wait for the task offer from %s: %w", caller, err)
	}
	spec := first.GetOffer()
	if spec == nil {
		return fmt.Errorf("%s opened a task stream without an offer", caller)
	}
	refuse := func(err error) error {
		e.log.Warn("task refused", "job", spec.JobId, "task", spec.TaskId, "peer", caller, "err", err)
		e.metrics.taskDone("responder", "refused")
		_ = stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Answer{Answer: &mitaiv1.TaskAnswer{Reason: err.Error()}}})
		return nil
	}
	if isGroupKind(spec.Kind) {
		return e.serveGroup(ctx, caller, spec, stream)
	}
	pl, err := planTask(spec, e.party)
	if err != nil {
		return refuse(err)
	}
	if pl.local != spec.Participants[1] {
		return refuse(fmt.Errorf("party %q must be the task's second participant", e.party))
	}
	if pl.peer.Party != caller {
		return refuse(fmt.Errorf("the offer names initiator %q but the caller's certificate is party %q", pl.peer.Party, caller))
	}
	if spec.Scheduled {
		if e.fence == nil {
			return refuse(errors.New("a scheduled task, but this node has no coordinator to confirm it with"))
		}
		if err := e.fence(ctx, spec); err != nil {
			return refuse(err)
		}
	}
	info, err := e.checkLocal(pl)
	if err != nil {
		return refuse(err)
	}
	release, err := e.acquire(ctx, false)
	if err != nil {
		return refuse(err)
	}
	defer release()
	ctx, cancel := e.taskContext(ctx, spec)
	defer cancel()
	if err := stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Answer{Answer: &mitaiv1.TaskAnswer{Accepted: true}}}); err != nil {
		return err
	}
	finish := func(*mitaiv1.TaskReport, error) {}
	if spec.Scheduled && e.track != nil {
		ctx, finish = e.track(ctx, spec)
	}
	conn := newPeerConn(stream, nil)
	report, err := e.execute(ctx, spec, pl, info, conn)
	if cerr := conn.Close(lingerAfter(err)); err == nil && cerr != nil {
		err = cerr
	}
	cancel()
	finish(report, err)
	return err
}

// checkLocal checks this node's side of a task against its own dataset's
// policy, whatever the other side or a coordinator decided.
func (e *Executor) checkLocal(pl *plan) (*mitaiv1.DatasetInfo, error) {
	info, err := e.reg.Get(pl.local.Dataset)
	if err != nil {
		return nil, err
	}
	err = CheckPolicy(info.Policy, PolicyRequest{Partners: []string{pl.peer.Party}, Use: pl.mode.String(), Reveal: pl.reveal, Now: e.now()})
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", info.Name, err)
	}
	for _, c := range pl.reveal {
		if c == info.KeyColumn || !slices.Contains(info.Columns, c) {
			return nil, fmt.Errorf("dataset %q has no payload column %q", info.Name, c)
		}
	}
	return info, nil
}

// acquire takes a task slot. The initiator waits for one; a responder
// refuses at once when the node is busy, so the initiator can retry.
func (e *Executor) acquire(ctx context.Context, wait bool) (func(), error) {
	release := func() { <-e.slots }
	if wait {
		select {
		case e.slots <- struct{}{}:
			return release, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case e.slots <- struct{}{}:
		return release, nil
	default:
		return nil, errors.New("node busy: all task slots in use, retry later")
	}
}

func (e *Executor) taskContext(ctx context.Context, spec *mitaiv1.TaskSpec) (context.Context, context.CancelFunc) {
	if spec.DeadlineUnixMs > 0 {
		return context.WithDeadline(ctx, time.UnixMilli(spec.DeadlineUnixMs))
	}
	return context.WithTimeout(ctx, e.taskTimeout)
}

// execute loads the local dataset, runs this node's psi role over conn and
// writes the result if this node's party receives one.
func (e *Executor) execute(ctx context.Context, spec *mitaiv1.TaskSpec, pl *plan, info *mitaiv1.DatasetInfo, conn protocol.Conn) (report *mitaiv1.TaskReport, err error) {
	start := e.now()
	log := e.log.With("job", spec.JobId, "task", spec.TaskId, "role", pl.roleName(), "peer", pl.peer.Party, "dataset", info.Name, "mode", pl.mode.String())
	log.Info("task started")
	meter := protocol.NewMeter(conn)
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "failed"
			if errors.Is(err, psi.ErrBelowMinimum) {
				outcome = "below_minimum"
			}
			log.Warn("task failed", "err", err, "seconds", e.now().Sub(start).Seconds())
		} else {
			log.Info("task done", "seconds", report.Seconds, "intersection_known", report.IntersectionKnown,
				"bytes_sent", report.BytesSent, "bytes_received", report.BytesReceived)
		}
		e.metrics.taskDone(pl.roleName(), outcome)
		e.metrics.observe(pl.roleName(), e.now().Sub(start), meter.BytesSent(), meter.BytesReceived())
	}()

	var columns []string
	switch {
	case pl.mode == psi.Join && !pl.receiver:
		columns = pl.reveal
	case pl.mode == psi.Join && pl.receiver:
		for _, c := range info.Columns {
			if c != info.KeyColumn {
				columns = append(columns, c)
			}
		}
	}
	table, err := dataset.LoadFile(info.Path, dataset.Options{KeyColumn: info.KeyColumn, Columns: columns, Dedupe: spec.Psi.Dedupe})
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", info.Name, err)
	}
	if d := table.Digest(); hex.EncodeToString(d[:]) != info.Digest {
		return nil, fmt.Errorf("dataset %q: file %s changed since it was registered; register it again", info.Name, info.Path)
	}
	groupName := spec.Psi.Group
	if groupName == "" {
		groupName = e.group
	}
	g, err := group.ByName(groupName)
	if err != nil {
		return nil, err
	}
	opts := psi.Options{
		JobID:           spec.JobId + "/" + spec.TaskId,
		Group:           g,
		Mode:            pl.mode,
		BothReceive:     pl.both,
		MinIntersection: info.Policy.GetMinIntersection(),
		IdleTimeout:     e.idleTimeout,
		Workers:         e.psiWorkers,
		BatchSize:       e.psiBatchSize,
	}
	var res *psi.Result
	if pl.receiver {
		res, err = psi.RunReceiver(ctx, meter, table, opts)
	} else {
		res, err = psi.RunSender(ctx, meter, payloadTable{table}, opts)
	}
	if err != nil {
		return nil, err
	}
	report = &mitaiv1.TaskReport{
		JobId: spec.JobId, TaskId: spec.TaskId, Ok: true, Role: pl.roleName(),
		LocalRows: uint64(res.LocalSize), PeerRows: uint64(res.PeerSize),
		IntersectionKnown: res.SizeKnown, IntersectionSize: uint64(res.IntersectionSize),
		Learned: learned(e.party, pl, res),
	}
	if pl.localReceives {
		path, digest, err := e.writeResult(spec, pl, info.KeyColumn, table, res)
		if err != nil {
			return nil, err
		}
		report.ResultPath, report.ResultDigest = path, digest
		log.Info("result written", "path", path, "sha256", digest)
	}
	report.BytesSent, report.BytesReceived = meter.BytesSent(), meter.BytesReceived()
	report.Seconds = e.now().Sub(start).Seconds()
	return report, nil
}

// payloadTable gives the protocol a dataset's rows, with the kept columns
// encoded as each row's payload.
type payloadTable struct{ *dataset.Table }

func (t payloadTable) AppendPayload(dst []byte, i int) []byte { return t.EncodeRow(dst, i) }

// resultPath is where a task's result goes in the results folder.
func (e *Executor) resultPath(spec *mitaiv1.TaskSpec) string {
	name := spec.JobId
	if spec.TaskId != "" {
		name += "-" + spec.TaskId
	}
	return filepath.Join(e.resultsDir, name+".csv")
}
