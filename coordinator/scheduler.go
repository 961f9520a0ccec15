package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// scheduler runs on the leader: it turns approved jobs into task attempts on
// live nodes, and aborts attempts whose nodes stopped heartbeating. Node
// liveness lives only in the leader's memory; a new leader re-arms every
// node with a full TTL, so a failover never marks nodes dead en masse.
type scheduler struct {
	s    *Server
	ttl  time.Duration
	mu   sync.Mutex
	seen map[string]time.Time // node key -> last heartbeat on this leader
	term uint64               // the term seen was armed for
}

func newScheduler(s *Server) *scheduler {
	return &scheduler{s: s, ttl: s.cfg.NodeTTL, seen: map[string]time.Time{}}
}

// run ticks until ctx ends.
func (sc *scheduler) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !sc.s.rep.IsLeader() {
			continue
		}
		sc.tick(ctx)
	}
}

// arm re-arms liveness when this replica starts a new term as leader.
func (sc *scheduler) arm(nodes []*mitaiv1.NodeRecord) {
	term := sc.s.rep.Status().Term
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.term == term {
		return
	}
	sc.term = term
	now := time.Now()
	for _, n := range nodes {
		sc.seen[state.NodeKey(n.Party, n.Node)] = now
	}
}

func (sc *scheduler) alive(key string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	last, ok := sc.seen[key]
	return ok && time.Since(last) < sc.ttl
}

func (sc *scheduler) tick(ctx context.Context) {
	var pending []state.Pending
	var running []*mitaiv1.Task
	var nodes []*mitaiv1.NodeRecord
	sc.s.rep.Read(func(st *state.State) {
		pending, running, nodes = st.Schedulable(), st.RunningTasks(), st.Nodes()
	})
	sc.arm(nodes)
	for _, t := range running {
		for _, nk := range t.Nodes {
			if !sc.alive(nk) {
				sc.propose(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_AbortAttempt{AbortAttempt: &mitaiv1.AbortAttemptCommand{
					Task: &mitaiv1.TaskRef{TaskId: t.Id, Attempt: t.Attempt}, Reason: fmt.Sprintf("node %s missed heartbeats for %v", nk, sc.ttl),
				}}})
				break
			}
		}
	}
	for _, p := range pending {
		chosen := sc.choose(p.Job, nodes)
		if chosen == nil {
			continue // a party has no live node with the dataset yet
		}
		sc.propose(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_ScheduleTask{ScheduleTask: &mitaiv1.ScheduleTaskCommand{
			JobId: p.Job.Id, TaskId: state.TaskID(p.Job.Id), Attempt: p.Attempt, Term: sc.s.rep.Status().Term, Nodes: chosen,
		}}})
	}
}

// choose picks, for each participant, a live node of its party that holds
// the dataset (the first by name; load-aware choice comes with slots).
func (sc *scheduler) choose(j *mitaiv1.Job, nodes []*mitaiv1.NodeRecord) []string {
	var chosen []string
	for _, p := range j.Spec.Participants {
		party, dataset, _ := strings.Cut(p, ":")
		pick := ""
		for _, n := range nodes {
			key := state.NodeKey(n.Party, n.Node)
			if n.Party == party && slices.Contains(n.Datasets, dataset) && sc.alive(key) {
				pick = key
				break
			}
		}
		if pick == "" {
			return nil
		}
		chosen = append(chosen, pick)
	}
	return chosen
}

func (sc *scheduler) propose(ctx context.Context, cmd *mitaiv1.Command) {
	res, err := sc.s.rep.Propose(ctx, cmd)
	if err != nil {
		sc.s.log.Debug("scheduler command not applied", "err", err)
		return
	}
	if res.Task != nil {
		sc.s.log.Info("task attempt", "task", res.Task.Id, "attempt", res.Task.Attempt, "state", res.Task.State.String(), "nodes", res.Task.Nodes, "error", res.Task.Error)
	}
}

// Heartbeat implements the API.
func (s *Server) Heartbeat(ctx context.Context, req *mitaiv1.HeartbeatRequest) (*mitaiv1.HeartbeatResponse, error) {
	party, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	if !s.rep.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader: heartbeats go to the leader")
	}
	key := state.NodeKey(party, req.Node)
	s.sched.mu.Lock()
	s.sched.seen[key] = time.Now()
	s.sched.mu.Unlock()

	var rec *mitaiv1.NodeRecord
	s.rep.Read(func(st *state.State) { rec, _ = st.Node(key) })
	if rec == nil || rec.Address != req.Address || !slices.Equal(rec.Datasets, req.Datasets) {
		cmd := &mitaiv1.Command{Actor: party, Body: &mitaiv1.Command_RegisterNode{RegisterNode: &mitaiv1.RegisterNodeCommand{
			Node: req.Node, Address: req.Address, Datasets: req.Datasets,
		}}}
		if _, err := s.rep.Propose(ctx, cmd); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "register node: %v", err)
		}
	}
	running := map[string]uint32{}
	for _, r := range req.Running {
		running[r.TaskId] = r.Attempt
	}
	resp := &mitaiv1.HeartbeatResponse{}
	s.rep.Read(func(st *state.State) {
		for _, r := range req.Running {
			if t, ok := st.Task(r.TaskId); !ok || t.Attempt != r.Attempt || t.State != mitaiv1.TaskState_TASK_STATE_RUNNING {
				resp.Abort = append(resp.Abort, r)
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
	return resp, nil
}

// taskSpec is what the initiating node runs for an attempt.
func taskSpec(st *state.State, t *mitaiv1.Task) *mitaiv1.TaskSpec {
	j, ok := st.Job(t.JobId)
	if !ok {
		return nil
	}
	spec := &mitaiv1.TaskSpec{
		JobId: j.Id, TaskId: strings.TrimPrefix(t.Id, j.Id+"."), Attempt: t.Attempt, Kind: j.Spec.Kind,
		Receivers: j.Spec.Receivers, Psi: j.Spec.Psi, Scheduled: true,
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

// ReportTask implements the API.
func (s *Server) ReportTask(ctx context.Context, req *mitaiv1.ReportTaskRequest) (*mitaiv1.ReportTaskResponse, error) {
	_, err := s.write(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_TaskOutcome{TaskOutcome: &mitaiv1.TaskOutcomeCommand{
		Task: req.Task, Ok: req.Ok, Error: req.Error, Report: req.Report,
	}}})
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
		case t.Attempt != req.Task.Attempt || t.State != mitaiv1.TaskState_TASK_STATE_RUNNING:
			resp.Reason = fmt.Sprintf("attempt %d is stale (current %d, %v)", req.Task.Attempt, t.Attempt, t.State)
		case !strings.HasPrefix(t.Nodes[1], party+"/") && !strings.HasPrefix(t.Nodes[0], party+"/"):
			resp.Reason = "the attempt is not assigned to your party"
		default:
			resp.Current = true
		}
	})
	return resp, nil
}
