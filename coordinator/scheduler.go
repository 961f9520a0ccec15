package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// scheduler runs on the leader: it turns approved jobs into task attempts on
// live nodes with free slots, and aborts attempts whose leases expired.
//
// Leases live only in the leader's memory. A node's lease is renewed by
// each of its heartbeats; an attempt's lease by the heartbeats of all its
// nodes, the initiator's listing the attempt as running. An attempt whose
// lease lapses for the node TTL is aborted for every party (the heartbeat
// answers tell the nodes) and the next attempt is scheduled. A new leader
// re-arms every lease with a full TTL, so a failover never expires leases
// en masse.
type scheduler struct {
	s    *Server
	ttl  time.Duration
	kick chan struct{}

	mu     sync.Mutex
	term   uint64                   // the term the leases were armed for
	nodes  map[string]nodeLease     // by node key
	listed map[attemptKey]time.Time // when the initiator last listed a running attempt
}

type nodeLease struct {
	seen  time.Time // last renewal: a heartbeat, or the re-arming at takeover
	beat  time.Time // last heartbeat on this leader (zero if none yet)
	slots int       // attempts the node runs at once
}

type attemptKey struct {
	task    string
	attempt uint32
}

// defaultSlots is a node's slot count when its heartbeat does not say.
const defaultSlots = 4

// maxSchedulePerPass bounds the attempts one pass schedules, so that a
// large backlog is worked off in steps that each commit quickly.
const maxSchedulePerPass = 512

// minPassInterval spaces passes that commits keep waking, so the
// scheduler's reads do not compete with a burst of writes.
const minPassInterval = 5 * time.Millisecond

// maxConcurrentProposals bounds the scheduler's commands in flight at once;
// Raft commits concurrent proposals in one batch.
const maxConcurrentProposals = 64

func newScheduler(s *Server) *scheduler {
	return &scheduler{s: s, ttl: s.cfg.NodeTTL, kick: make(chan struct{}, 1), nodes: map[string]nodeLease{}, listed: map[attemptKey]time.Time{}}
}

// wake makes the scheduler look for work now rather than at its next tick.
func (sc *scheduler) wake() {
	select {
	case sc.kick <- struct{}{}:
	default:
	}
}

// run schedules on wake-ups and every 100 ms until ctx ends.
func (sc *scheduler) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-sc.kick:
		}
		if wait := minPassInterval - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		if !sc.s.rep.IsLeader() {
			continue
		}
		sc.tick(ctx)
	}
}

// arm re-arms every lease when this replica starts a new term as leader,
// and grants a fresh lease to attempts it has not seen yet.
func (sc *scheduler) arm(nodes []*mitaiv1.NodeRecord, running []*mitaiv1.Task, now time.Time) {
	term := sc.s.rep.Status().Term
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.term != term {
		sc.term = term
		sc.listed = map[attemptKey]time.Time{}
		for _, n := range nodes {
			key := state.NodeKey(n.Party, n.Node)
			l := sc.nodes[key]
			l.seen = now
			if l.slots == 0 {
				l.slots = defaultSlots
			}
			sc.nodes[key] = l
		}
	}
	listed := make(map[attemptKey]time.Time, len(running))
	for _, t := range running {
		k := attemptKey{t.Id, t.Attempt}
		if at, ok := sc.listed[k]; ok {
			listed[k] = at
		} else {
			listed[k] = now
		}
	}
	sc.listed = listed
}

// readyDatasets returns the datasets ("party:name") that a node heard
// from on this leader, with a live lease, holds: a job over others cannot
// be scheduled now.
func (sc *scheduler) readyDatasets(nodes []*mitaiv1.NodeRecord, now time.Time) map[string]bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	ready := map[string]bool{}
	for _, n := range nodes {
		l := sc.nodes[state.NodeKey(n.Party, n.Node)]
		if l.beat.IsZero() || now.Sub(l.seen) >= sc.ttl {
			continue
		}
		for _, d := range n.Datasets {
			ready[state.DatasetKey(n.Party, d)] = true
		}
	}
	return ready
}

// expired says why an attempt's lease lapsed, or "" if it holds.
func (sc *scheduler) expired(t *mitaiv1.Task, now time.Time) string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, nk := range t.Nodes {
		if now.Sub(sc.nodes[nk].seen) >= sc.ttl {
			return fmt.Sprintf("lease expired: node %s missed heartbeats for %v", nk, sc.ttl)
		}
	}
	if now.Sub(sc.listed[attemptKey{t.Id, t.Attempt}]) >= sc.ttl {
		return fmt.Sprintf("lease expired: initiator %s did not list the attempt as running for %v", t.Nodes[0], sc.ttl)
	}
	return ""
}

func (sc *scheduler) tick(ctx context.Context) {
	var pending []state.Pending
	var running []*mitaiv1.Task
	var nodes []*mitaiv1.NodeRecord
	var pins map[string]map[string]string // job -> party -> the node its inputs are on
	now := time.Now()
	sc.s.rep.Read(func(st *state.State) { nodes = st.Nodes() })
	ready := sc.readyDatasets(nodes, now)
	sc.s.rep.Read(func(st *state.State) {
		pending = st.Schedulable(func(j *mitaiv1.Job) bool {
			for _, p := range j.Spec.Participants {
				if !ready[p] {
					return false
				}
			}
			return true
		}, maxSchedulePerPass)
		running = st.RunningTasks()
		for _, p := range pending {
			if pin, err := st.PinnedNodes(p.Job.Spec); err == nil && pin != nil {
				if pins == nil {
					pins = map[string]map[string]string{}
				}
				pins[p.Job.Id] = pin
			}
		}
	})
	sc.arm(nodes, running, now)
	var cmds []*mitaiv1.Command
	load := map[string]int{}
	for _, t := range running {
		if reason := sc.expired(t, now); reason != "" {
			sc.s.metrics.leaseExpired.Inc()
			cmds = append(cmds, &mitaiv1.Command{Body: &mitaiv1.Command_AbortAttempt{AbortAttempt: &mitaiv1.AbortAttemptCommand{
				Task: &mitaiv1.TaskRef{TaskId: t.Id, Attempt: t.Attempt, Term: t.Term}, Reason: reason,
			}}})
			continue
		}
		for _, nk := range t.Nodes {
			load[nk]++
		}
	}
	term := sc.s.rep.Status().Term
	for _, p := range pending {
		chosen := sc.choose(p.Job, nodes, load, time.UnixMilli(p.PreviousEndedUnixMs), pins[p.Job.Id])
		if chosen == nil {
			continue // a party has no live node with the dataset and a free slot yet
		}
		for _, nk := range chosen {
			load[nk]++
		}
		cmds = append(cmds, &mitaiv1.Command{Body: &mitaiv1.Command_ScheduleTask{ScheduleTask: &mitaiv1.ScheduleTaskCommand{
			JobId: p.Job.Id, TaskId: state.TaskID(p.Job.Id), Attempt: p.Attempt, Term: term, Nodes: chosen,
		}}})
	}
	sc.proposeAll(ctx, cmds)
}

// choose picks, for each participant, the least loaded live node of its
// party that holds the dataset and has a free slot (ties: by name); where
// pin names the node that holds a participant's inputs (a score job's key
// share and aligned rows), only that node. After
// a failed attempt, only nodes that heartbeated since it ended qualify: a
// node that just died still looks alive for a TTL, and retrying on it at
// once would burn the remaining attempts in milliseconds.
func (sc *scheduler) choose(j *mitaiv1.Job, nodes []*mitaiv1.NodeRecord, load map[string]int, heardSince time.Time, pin map[string]string) []string {
	now := time.Now()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var chosen []string
	for _, p := range j.Spec.Participants {
		party, dataset, _ := strings.Cut(p, ":")
		pick := ""
		for _, n := range nodes {
			key := state.NodeKey(n.Party, n.Node)
			l := sc.nodes[key]
			if n.Party != party || !slices.Contains(n.Datasets, dataset) || now.Sub(l.seen) >= sc.ttl || load[key] >= l.slots ||
				!l.beat.After(heardSince) || pin[party] != "" && pin[party] != key {
				continue
			}
			if pick == "" || load[key] < load[pick] {
				pick = key
			}
		}
		if pick == "" {
			return nil
		}
		chosen = append(chosen, pick)
	}
	return chosen
}

// proposeAll proposes commands concurrently, so that Raft commits them in
// batches, and waits for all.
func (sc *scheduler) proposeAll(ctx context.Context, cmds []*mitaiv1.Command) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxConcurrentProposals)
	for _, cmd := range cmds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sc.propose(ctx, cmd)
		}()
	}
	wg.Wait()
}

func (sc *scheduler) propose(ctx context.Context, cmd *mitaiv1.Command) {
	res, err := sc.s.propose(ctx, cmd)
	if err != nil {
		sc.s.log.Debug("scheduler command not applied", "err", err)
		return
	}
	if cmd.GetScheduleTask() != nil {
		sc.s.metrics.scheduled.Inc()
	}
	if t := res.Task; t != nil {
		sc.s.log.Info("task attempt", "task", t.Id, "attempt", t.Attempt, "term", t.Term, "state", t.State.String(), "nodes", t.Nodes, "error", t.Error)
	}
}

// nodeStatus reports every registered node's lease and load, by key.
func (sc *scheduler) nodeStatus() []*mitaiv1.NodeStatus {
	var nodes []*mitaiv1.NodeRecord
	var running []*mitaiv1.Task
	sc.s.rep.Read(func(st *state.State) { nodes, running = st.Nodes(), st.RunningTasks() })
	load := map[string]uint32{}
	for _, t := range running {
		for _, nk := range t.Nodes {
			load[nk]++
		}
	}
	now := time.Now()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := make([]*mitaiv1.NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		key := state.NodeKey(n.Party, n.Node)
		l, ok := sc.nodes[key]
		ns := &mitaiv1.NodeStatus{Party: n.Party, Node: n.Node, Address: n.Address, Datasets: n.Datasets,
			LastHeartbeatMsAgo: -1, Slots: uint32(l.slots), Running: load[key]}
		if ok && sc.term == sc.s.rep.Status().Term {
			ns.LastHeartbeatMsAgo = now.Sub(l.seen).Milliseconds()
			ns.Alive = now.Sub(l.seen) < sc.ttl
		}
		out = append(out, ns)
	}
	return out
}

// Heartbeat implements the API: it renews the node's lease and those of
// the attempts it lists, records that the initiator runs an attempt, and
// answers with the attempts the node must start or abort.
func (s *Server) Heartbeat(ctx context.Context, req *mitaiv1.HeartbeatRequest) (*mitaiv1.HeartbeatResponse, error) {
	party, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	if !s.rep.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader: heartbeats go to the leader")
	}
	key := state.NodeKey(party, req.Node)
	slots := int(req.Slots)
	if slots == 0 {
		slots = defaultSlots
	}
	now := time.Now()
	s.sched.mu.Lock()
	s.sched.nodes[key] = nodeLease{seen: now, beat: now, slots: slots}
	s.sched.mu.Unlock()

	var rec *mitaiv1.NodeRecord
	s.rep.Read(func(st *state.State) { rec, _ = st.Node(key) })
	if rec == nil || rec.Address != req.Address || !slices.Equal(rec.Datasets, req.Datasets) {
		cmd := &mitaiv1.Command{Actor: party, Body: &mitaiv1.Command_RegisterNode{RegisterNode: &mitaiv1.RegisterNodeCommand{
			Node: req.Node, Address: req.Address, Datasets: req.Datasets,
		}}}
		if _, err := s.propose(ctx, cmd); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "register node: %v", err)
		}
	}
	running := map[string]uint32{}
	for _, r := range req.Running {
		running[r.TaskId] = r.Attempt
	}
	resp := &mitaiv1.HeartbeatResponse{}
	var started []*mitaiv1.TaskRef
	s.rep.Read(func(st *state.State) {
		for _, r := range req.Running {
			t, ok := st.Task(r.TaskId)
			if !ok || t.Attempt != r.Attempt || t.Term != r.Term || t.State != mitaiv1.TaskState_TASK_STATE_RUNNING {
				resp.Abort = append(resp.Abort, r)
				continue
			}
			if t.Nodes[0] == key {
				s.sched.mu.Lock()
				s.sched.listed[attemptKey{t.Id, t.Attempt}] = now
				s.sched.mu.Unlock()
				if t.RunningUnixMs == 0 {
					started = append(started, r)
				}
			}
		}
		for _, t := range st.RunningTasks() {
			if t.Nodes[0] != key || running[t.Id] == t.Attempt {
				continue
			}
			if spec := taskSpec(st, t); spec != nil {
				resp.Start = append(resp.Start, spec)
			}
		}
	})
	for _, r := range started {
		if _, err := s.propose(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_TaskStarted{TaskStarted: &mitaiv1.TaskStartedCommand{Task: r}}}); err != nil &&
			!errors.Is(err, state.ErrRejected) {
			s.log.Warn("could not record a started attempt", "task", r.TaskId, "attempt", r.Attempt, "err", err)
		}
	}
	return resp, nil
}

// taskSpec is what the initiating node runs for an attempt.
func taskSpec(st *state.State, t *mitaiv1.Task) *mitaiv1.TaskSpec {
	j, ok := st.Job(t.JobId)
	if !ok {
		return nil
	}
	spec := &mitaiv1.TaskSpec{
		JobId: j.Id, TaskId: strings.TrimPrefix(t.Id, j.Id+"."), Attempt: t.Attempt, Term: t.Term, Kind: j.Spec.Kind,
		Receivers: j.Spec.Receivers, Psi: j.Spec.Psi, Keygen: j.Spec.Keygen, Seed: j.Seed, Scheduled: true,
	}
	if sc := j.Spec.Score; sc != nil {
		ks, ok := st.KeySet(sc.KeySet)
		if !ok {
			return nil
		}
		spec.Score = proto.Clone(sc).(*mitaiv1.ScoreParams)
		spec.Score.KeySet = ks.Id
	}
	for i, p := range j.Spec.Participants {
		party, dataset, _ := strings.Cut(p, ":")
		n, ok := st.Node(t.Nodes[i])
		if !ok {
			return nil
		}
		spec.Participants = append(spec.Participants, &mitaiv1.Participant{Party: party, Dataset: dataset, Address: n.Address})
	}
	return spec
}

// ReportTask implements the API: it checks that the statement is signed by
// the certificate of the calling node before the leader records it.
func (s *Server) ReportTask(ctx context.Context, req *mitaiv1.ReportTaskRequest) (*mitaiv1.ReportTaskResponse, error) {
	party, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	cert, err := mtls.CallerCertificate(ctx)
	if err != nil {
		return nil, err
	}
	signed := req.GetSigned()
	var o mitaiv1.TaskOutcome
	if signed == nil || proto.Unmarshal(signed.Outcome, &o) != nil || o.Task == nil {
		return nil, status.Error(codes.InvalidArgument, "a report carries a signed, decodable task outcome")
	}
	if !bytes.Equal(signed.SignerCert, cert.Raw) {
		return nil, status.Error(codes.PermissionDenied, "the report must be signed with the certificate of the reporting connection")
	}
	if err := ledger.VerifySignature(state.StatementEntry(party, o.Task.TaskId, signed), nil); err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	_, err = s.write(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_TaskOutcome{TaskOutcome: &mitaiv1.TaskOutcomeCommand{Signed: signed}}})
	if err != nil {
		return nil, err
	}
	return &mitaiv1.ReportTaskResponse{}, nil
}

// CheckTask implements the API: a consistent read on the leader.
func (s *Server) CheckTask(ctx context.Context, req *mitaiv1.CheckTaskRequest) (*mitaiv1.CheckTaskResponse, error) {
	party, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	if !s.rep.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader: ask the leader")
	}
	if err := s.rep.Consistent(); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &mitaiv1.CheckTaskResponse{}
	s.rep.Read(func(st *state.State) {
		t, ok := st.Task(req.GetTask().GetTaskId())
		switch {
		case !ok:
			resp.Reason = "no such task"
		case t.Attempt != req.Task.Attempt || t.Term != req.Task.Term || t.State != mitaiv1.TaskState_TASK_STATE_RUNNING:
			resp.Reason = fmt.Sprintf("attempt %d (term %d) is stale (current %d, term %d, %v)", req.Task.Attempt, req.Task.Term, t.Attempt, t.Term, t.State)
		case !slices.ContainsFunc(t.Nodes, func(n string) bool { return strings.HasPrefix(n, party+"/") }):
			resp.Reason = "the attempt is not assigned to your party"
		default:
			resp.Current = true
		}
	})
	return resp, nil
}
