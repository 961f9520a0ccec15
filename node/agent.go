package node

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/internal/coordclient"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// agent connects a node to the coordinator: it heartbeats (listing the
// attempts it takes part in, which renews their leases), starts the
// attempts the coordinator assigns to this node as initiator, stops every
// attempt the coordinator has aborted, whichever role this node plays in
// it, and reports signed outcomes and result deliveries.
type agent struct {
	coord    *coordclient.Client
	exec     *Executor
	reg      *Registry
	party    string
	name     string // this node's name within its party
	address  string // where peers reach this node
	slots    int    // attempts this node runs at once
	interval time.Duration
	cert     tls.Certificate // signs reports
	log      *slog.Logger

	mu      sync.Mutex
	running map[string]attempt // by coordinator task id
	done    map[string]uint32  // attempts that ended here, until the coordinator moves on
	wg      sync.WaitGroup
}

type attempt struct {
	ref    *mitaiv1.TaskRef
	cancel context.CancelFunc
}

// coordTaskID is the coordinator's id of a task spec's task.
func coordTaskID(spec *mitaiv1.TaskSpec) string { return spec.JobId + "." + spec.TaskId }

// run heartbeats until ctx ends, then waits for the attempts it started.
func (a *agent) run(ctx context.Context) {
	defer a.wg.Wait()
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		if err := a.beat(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *agent) beat(ctx context.Context) error {
	req := &mitaiv1.HeartbeatRequest{Node: a.name, Address: a.address, Slots: uint32(a.slots)}
	for _, d := range a.reg.List() {
		req.Datasets = append(req.Datasets, d.Name)
	}
	a.mu.Lock()
	for _, at := range a.running {
		req.Running = append(req.Running, at.ref)
	}
	a.mu.Unlock()
	var resp *mitaiv1.HeartbeatResponse
	err := a.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		resp, err = c.Heartbeat(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	for _, ref := range resp.Abort {
		a.mu.Lock()
		if at, ok := a.running[ref.TaskId]; ok && at.ref.Attempt == ref.Attempt {
			a.log.Warn("the coordinator aborted an attempt; stopping it", "task", ref.TaskId, "attempt", ref.Attempt)
			at.cancel()
		}
		a.mu.Unlock()
	}
	for _, spec := range resp.Start {
		a.start(ctx, spec)
	}
	return nil
}

// start runs an assigned attempt unless it runs or ran here already.
func (a *agent) start(ctx context.Context, spec *mitaiv1.TaskSpec) {
	id := coordTaskID(spec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if at, ok := a.running[id]; ok && at.ref.Attempt >= spec.Attempt || a.done[id] >= spec.Attempt {
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	a.running[id] = attempt{ref: attemptRef(spec), cancel: cancel}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		report, err := a.exec.Run(tctx, spec)
		a.untrack(spec)
		a.report(ctx, spec, state.KindTaskOutcome, report, err)
		a.reportDelivery(ctx, spec, report, err)
	}()
}

func attemptRef(spec *mitaiv1.TaskSpec) *mitaiv1.TaskRef {
	return &mitaiv1.TaskRef{TaskId: coordTaskID(spec), Attempt: spec.Attempt, Term: spec.Term}
}

// untrack forgets an attempt that ended here.
func (a *agent) untrack(spec *mitaiv1.TaskSpec) {
	id := coordTaskID(spec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if at, ok := a.running[id]; ok && at.ref.Attempt == spec.Attempt {
		delete(a.running, id)
	}
	a.done[id] = max(a.done[id], spec.Attempt)
}

// serve tracks an attempt this node answers as responder, so that its
// heartbeats renew the attempt's lease and an abort stops it; finish ends
// the tracking and reports the delivery of a result this party received.
func (a *agent) serve(ctx context.Context, spec *mitaiv1.TaskSpec) (context.Context, func(*mitaiv1.TaskReport, error)) {
	ctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	a.running[coordTaskID(spec)] = attempt{ref: attemptRef(spec), cancel: cancel}
	a.mu.Unlock()
	return ctx, func(report *mitaiv1.TaskReport, err error) {
		cancel()
		a.untrack(spec)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.reportDelivery(context.WithoutCancel(ctx), spec, report, err)
		}()
	}
}

// reportDelivery states, signed, that this party received the attempt's
// result, when it did.
func (a *agent) reportDelivery(ctx context.Context, spec *mitaiv1.TaskSpec, report *mitaiv1.TaskReport, err error) {
	if err == nil && report.GetResultDigest() != "" && slices.Contains(spec.Receivers, a.party) {
		a.report(ctx, spec, state.KindResultDelivered, report, nil)
	}
}

// report sends the coordinator a signed statement about an attempt (how
// it ended, or that its result was delivered), retrying while the
// coordinator is unreachable; a rejection (a stale attempt) is final.
func (a *agent) report(ctx context.Context, spec *mitaiv1.TaskSpec, kind string, report *mitaiv1.TaskReport, runErr error) {
	o := &mitaiv1.TaskOutcome{Task: attemptRef(spec), Node: state.NodeKey(a.party, a.name), Ok: runErr == nil, Report: report}
	if runErr != nil {
		o.Error = runErr.Error()
	}
	signed, err := a.sign(kind, o)
	if err != nil {
		a.log.Error("cannot sign the attempt's report", "task", o.Task.TaskId, "err", err)
		return
	}
	for ctx.Err() == nil {
		err := a.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) error {
			_, err := c.ReportTask(ctx, &mitaiv1.ReportTaskRequest{Signed: signed})
			return err
		})
		switch {
		case err == nil:
			a.log.Info("attempt reported", "kind", kind, "task", o.Task.TaskId, "attempt", o.Task.Attempt, "ok", o.Ok)
			return
		case status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.InvalidArgument:
			a.log.Warn("the coordinator rejected the report", "kind", kind, "task", o.Task.TaskId, "attempt", o.Task.Attempt, "reason", status.Convert(err).Message())
			return
		}
		a.log.Warn("report failed; retrying", "err", err)
		time.Sleep(time.Second)
	}
}

// sign makes the statement a ledger entry will hold, signed with this
// node's certificate key.
func (a *agent) sign(kind string, o *mitaiv1.TaskOutcome) (*mitaiv1.SignedOutcome, error) {
	b, err := proto.Marshal(o)
	if err != nil {
		return nil, err
	}
	signer, ok := a.cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the node's key (%T) cannot sign", a.cert.PrivateKey)
	}
	signed := &mitaiv1.SignedOutcome{Kind: kind, Outcome: b}
	e := state.StatementEntry(a.party, o.Task.TaskId, signed)
	if err := ledger.Sign(e, a.cert.Certificate[0], signer); err != nil {
		return nil, err
	}
	signed.SignerCert, signed.Signature = e.SignerCert, e.Signature
	return signed, nil
}

// fence asks the coordinator whether an offered, scheduled attempt is
// current; the responder refuses stale ones.
func (a *agent) fence(ctx context.Context, spec *mitaiv1.TaskSpec) error {
	var resp *mitaiv1.CheckTaskResponse
	err := a.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		resp, err = c.CheckTask(ctx, &mitaiv1.CheckTaskRequest{Task: attemptRef(spec)})
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot confirm attempt %d with the coordinator: %w", spec.Attempt, err)
	}
	if !resp.Current {
		return fmt.Errorf("attempt %d refused: %s", spec.Attempt, resp.Reason)
	}
	return nil
}
