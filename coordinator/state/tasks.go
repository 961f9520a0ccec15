package state

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// MaxAttempts bounds the attempts of a task; after the last one fails or
// its lease expires, the job fails.
const MaxAttempts = 3

// NodeKey is a node's key, "party/node".
func NodeKey(party, node string) string { return party + "/" + node }

// TaskID is the id of a job's (single, for now) task.
func TaskID(jobID string) string { return jobID + ".t0" }

func (s *State) registerNode(cmd *mitaiv1.Command, c *mitaiv1.RegisterNodeCommand, data []byte) (Result, error) {
	if cmd.Actor == "" || !idPattern(c.Node) || c.Address == "" {
		return Result{}, rejectf("a node registers with its party's certificate, a name and an address")
	}
	key := NodeKey(cmd.Actor, c.Node)
	rec := &mitaiv1.NodeRecord{Party: cmd.Actor, Node: c.Node, Address: c.Address, Datasets: c.Datasets, RegisteredUnixMs: cmd.TimeUnixMs}
	s.nodes[key] = rec
	idx := s.audit(cmd, "node.registered", key, data)
	return Result{AuditIndex: idx}, nil
}

func (s *State) scheduleTask(cmd *mitaiv1.Command, c *mitaiv1.ScheduleTaskCommand, data []byte) (Result, error) {
	if cmd.Actor != "" {
		return Result{}, rejectf("only the leader schedules tasks")
	}
	job, ok := s.jobs[c.JobId]
	if !ok {
		return Result{}, rejectf("no job %s", c.JobId)
	}
	if c.TaskId != TaskID(job.Id) {
		return Result{}, rejectf("task %q is not job %s's task", c.TaskId, job.Id)
	}
	if next, ok := nextAttempt(job, s.tasks[c.TaskId]); !ok || c.Attempt != next {
		return Result{}, rejectf("job %s (%v) cannot start attempt %d", job.Id, job.State, c.Attempt)
	}
	if len(c.Nodes) != len(job.Spec.Participants) {
		return Result{}, rejectf("attempt names %d nodes for %d participants", len(c.Nodes), len(job.Spec.Participants))
	}
	for i, nk := range c.Nodes {
		party, dataset, _ := strings.Cut(job.Spec.Participants[i], ":")
		n, ok := s.nodes[nk]
		if !ok || n.Party != party || !slices.Contains(n.Datasets, dataset) {
			return Result{}, rejectf("node %s does not hold %s", nk, job.Spec.Participants[i])
		}
	}
	task := &mitaiv1.Task{
		Id: c.TaskId, JobId: job.Id, Attempt: c.Attempt, Term: c.Term, State: mitaiv1.TaskState_TASK_STATE_RUNNING,
		Nodes: c.Nodes, StartedUnixMs: cmd.TimeUnixMs,
	}
	s.tasks[task.Id] = task
	job.State = mitaiv1.JobState_JOB_STATE_SCHEDULED
	job.UpdatedUnixMs = cmd.TimeUnixMs
	idx := s.audit(cmd, "task.scheduled", task.Id, data)
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), Task: proto.Clone(task).(*mitaiv1.Task), AuditIndex: idx}, nil
}

// nextAttempt says whether job may start an attempt now, and which: the
// first once it is approved, the next after a failed or aborted one, while
// attempts remain.
func nextAttempt(job *mitaiv1.Job, task *mitaiv1.Task) (uint32, bool) {
	switch {
	case job.State == mitaiv1.JobState_JOB_STATE_SUBMITTED && task == nil:
		return 1, true
	case (job.State == mitaiv1.JobState_JOB_STATE_SCHEDULED || job.State == mitaiv1.JobState_JOB_STATE_RUNNING) &&
		task != nil && task.Attempt < MaxAttempts &&
		(task.State == mitaiv1.TaskState_TASK_STATE_FAILED || task.State == mitaiv1.TaskState_TASK_STATE_ABORTED):
		return task.Attempt + 1, true
	}
	return 0, false
}

// reindex recomputes a job's membership in the derived indexes.
func (s *State) reindex(jobID string) {
	job, task := s.jobs[jobID], s.tasks[TaskID(jobID)]
	if job == nil {
		return
	}
	if _, ok := nextAttempt(job, task); ok {
		s.runnable[jobID] = struct{}{}
	} else {
		delete(s.runnable, jobID)
	}
	if task != nil && task.State == mitaiv1.TaskState_TASK_STATE_RUNNING {
		s.running[task.Id] = struct{}{}
	} else if task != nil {
		delete(s.running, task.Id)
	}
	if id := task.GetReport().GetKeySet(); id != "" && job.Spec.GetKind() == "keygen" && job.State == mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		s.keySets[id] = jobID
	}
}

// Pending is a job whose next attempt the scheduler may start.
type Pending struct {
	Job     *mitaiv1.Job
	Attempt uint32
	// PreviousEndedUnixMs is when the previous attempt ended (0 for the
	// first): the next one goes only to nodes heard from since.
	PreviousEndedUnixMs int64
}

// Schedulable returns copies of at most limit jobs awaiting an attempt
// for which ready (called under the state's lock, on the job itself: it
// must not keep or change it) is true, by id. Jobs that cannot run are
// skipped before they are copied, so a backlog that waits for nodes costs
// little.
func (s *State) Schedulable(ready func(*mitaiv1.Job) bool, limit int) []Pending {
	ids := make([]string, 0, min(len(s.runnable), limit))
	for id := range s.runnable {
		if ready(s.jobs[id]) {
			ids = append(ids, id)
		}
	}
	// Oldest first; ids break ties.
	slices.SortFunc(ids, func(a, b string) int {
		if c := cmp.Compare(s.jobs[a].CreatedUnixMs, s.jobs[b].CreatedUnixMs); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]Pending, 0, len(ids))
	for _, id := range ids {
		task := s.tasks[TaskID(id)]
		next, _ := nextAttempt(s.jobs[id], task)
		out = append(out, Pending{Job: proto.Clone(s.jobs[id]).(*mitaiv1.Job), Attempt: next, PreviousEndedUnixMs: task.GetEndedUnixMs()})
	}
	return out
}

// RunningTasks returns copies of the tasks whose current attempt runs, by id.
func (s *State) RunningTasks() []*mitaiv1.Task {
	out := make([]*mitaiv1.Task, 0, len(s.running))
	for id := range s.running {
		out = append(out, proto.Clone(s.tasks[id]).(*mitaiv1.Task))
	}
	slices.SortFunc(out, func(a, b *mitaiv1.Task) int { return strings.Compare(a.Id, b.Id) })
	return out
}

// currentAttempt returns the task if ref names its current, running attempt.
func (s *State) currentAttempt(ref *mitaiv1.TaskRef) (*mitaiv1.Task, error) {
	task, ok := s.tasks[ref.GetTaskId()]
	if !ok {
		return nil, rejectf("no task %s", ref.GetTaskId())
	}
	if ref.Attempt != task.Attempt || ref.Term != task.Term || task.State != mitaiv1.TaskState_TASK_STATE_RUNNING {
		return nil, rejectf("attempt %d (term %d) of task %s is stale (current attempt %d, term %d, %v)",
			ref.Attempt, ref.Term, task.Id, task.Attempt, task.Term, task.State)
	}
	return task, nil
}

func (s *State) taskStarted(cmd *mitaiv1.Command, c *mitaiv1.TaskStartedCommand, data []byte) (Result, error) {
	if cmd.Actor != "" {
		return Result{}, rejectf("only the leader records that an attempt started")
	}
	task, err := s.currentAttempt(c.Task)
	if err != nil {
		return Result{}, err
	}
	if task.RunningUnixMs != 0 {
		return Result{}, rejectf("attempt %d of task %s already runs", task.Attempt, task.Id)
	}
	job := s.jobs[task.JobId]
	task.RunningUnixMs = cmd.TimeUnixMs
	job.State = mitaiv1.JobState_JOB_STATE_RUNNING
	job.UpdatedUnixMs = cmd.TimeUnixMs
	idx := s.audit(cmd, "task.started", task.Id, data)
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), Task: proto.Clone(task).(*mitaiv1.Task), AuditIndex: idx}, nil
}

// Kinds of the signed statements nodes make about attempts.
const (
	KindTaskOutcome     = "task.outcome"
	KindResultDelivered = "result.delivered"
)

// taskOutcome records a node's signed statement: the initiator's outcome
// of the current attempt, or a receiving node's delivery of its result. The
// leader has checked the signature and that the certificate is the
// reporting connection's; the ledger keeps the statement verbatim.
func (s *State) taskOutcome(cmd *mitaiv1.Command, c *mitaiv1.TaskOutcomeCommand, data []byte) (Result, error) {
	signed := c.GetSigned()
	var o mitaiv1.TaskOutcome
	if signed == nil || proto.Unmarshal(signed.Outcome, &o) != nil || o.Task == nil {
		return Result{}, rejectf("a task outcome must carry a decodable signed statement")
	}
	task, ok := s.tasks[o.Task.TaskId]
	if !ok {
		return Result{}, rejectf("no task %s", o.Task.TaskId)
	}
	if party, _, _ := strings.Cut(o.Node, "/"); party != cmd.Actor || !slices.Contains(task.Nodes, o.Node) {
		return Result{}, rejectf("node %q of party %q does not take part in task %s", o.Node, cmd.Actor, task.Id)
	}
	job := s.jobs[task.JobId]
	switch signed.Kind {
	case KindTaskOutcome:
		if _, err := s.currentAttempt(o.Task); err != nil {
			return Result{}, err
		}
		if o.Node != task.Nodes[0] {
			return Result{}, rejectf("only the initiating node %s reports task %s's outcome", task.Nodes[0], task.Id)
		}
		task.EndedUnixMs, task.Report, task.Error = cmd.TimeUnixMs, o.Report, o.Error
		if o.Ok {
			task.State = mitaiv1.TaskState_TASK_STATE_SUCCEEDED
			job.State = mitaiv1.JobState_JOB_STATE_SUCCEEDED
		} else {
			task.State = mitaiv1.TaskState_TASK_STATE_FAILED
			s.afterFailedAttempt(job, task, o.Error)
		}
		job.UpdatedUnixMs = cmd.TimeUnixMs
	case KindResultDelivered:
		// A receiver may report before or after the initiator's outcome,
		// but only for the current attempt, and only once.
		current := o.Task.Attempt == task.Attempt && o.Task.Term == task.Term &&
			(task.State == mitaiv1.TaskState_TASK_STATE_RUNNING || task.State == mitaiv1.TaskState_TASK_STATE_SUCCEEDED)
		if !current {
			return Result{}, rejectf("attempt %d (term %d) of task %s is stale (current attempt %d, term %d, %v)",
				o.Task.Attempt, o.Task.Term, task.Id, task.Attempt, task.Term, task.State)
		}
		if !slices.Contains(job.Spec.Receivers, cmd.Actor) {
			return Result{}, rejectf("%s is not a receiver of job %s", cmd.Actor, job.Id)
		}
		if !o.Ok || o.Report.GetResultDigest() == "" {
			return Result{}, rejectf("a delivery names the result's digest")
		}
		if slices.Contains(task.Delivered, cmd.Actor) {
			return Result{}, rejectf("%s already reported attempt %d's result delivered", cmd.Actor, task.Attempt)
		}
		task.Delivered = append(task.Delivered, cmd.Actor)
	default:
		return Result{}, rejectf("unknown statement kind %q", signed.Kind)
	}
	entry := StatementEntry(cmd.Actor, task.Id, signed)
	entry.TimeUnixMs = cmd.TimeUnixMs
	e := s.ledger.Append(entry)
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), Task: proto.Clone(task).(*mitaiv1.Task), AuditIndex: e.Index}, nil
}

func (s *State) abortAttempt(cmd *mitaiv1.Command, c *mitaiv1.AbortAttemptCommand, data []byte) (Result, error) {
	if cmd.Actor != "" {
		return Result{}, rejectf("only the leader aborts attempts")
	}
	task, err := s.currentAttempt(c.Task)
	if err != nil {
		return Result{}, err
	}
	job := s.jobs[task.JobId]
	task.State, task.EndedUnixMs, task.Error = mitaiv1.TaskState_TASK_STATE_ABORTED, cmd.TimeUnixMs, c.Reason
	s.afterFailedAttempt(job, task, c.Reason)
	job.UpdatedUnixMs = cmd.TimeUnixMs
	idx := s.audit(cmd, "task.aborted", task.Id, data)
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), Task: proto.Clone(task).(*mitaiv1.Task), AuditIndex: idx}, nil
}

// afterFailedAttempt fails the job once its attempts are used up; until
// then the job stays scheduled and the scheduler starts the next attempt.
func (s *State) afterFailedAttempt(job *mitaiv1.Job, task *mitaiv1.Task, reason string) {
	if task.Attempt >= MaxAttempts {
		job.State = mitaiv1.JobState_JOB_STATE_FAILED
		job.Reason = reason
	}
}

// Task returns a copy of a task.
func (s *State) Task(id string) (*mitaiv1.Task, bool) {
	t, ok := s.tasks[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(t).(*mitaiv1.Task), true
}

// Node returns a copy of a registered node.
func (s *State) Node(key string) (*mitaiv1.NodeRecord, bool) {
	n, ok := s.nodes[key]
	if !ok {
		return nil, false
	}
	return proto.Clone(n).(*mitaiv1.NodeRecord), true
}

// Nodes returns copies of every registered node, by key.
func (s *State) Nodes() []*mitaiv1.NodeRecord {
	out := s.sortedNodes()
	for i, n := range out {
		out[i] = proto.Clone(n).(*mitaiv1.NodeRecord)
	}
	return out
}

// Tasks returns copies of every task, by id.
func (s *State) Tasks() []*mitaiv1.Task {
	out := s.sortedTasks()
	for i, t := range out {
		out[i] = proto.Clone(t).(*mitaiv1.Task)
	}
	return out
}

// idPattern accepts names of nodes: 1-63 of a-z 0-9 - _, starting with a letter or digit.
func idPattern(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_'))
		if !ok {
			return false
		}
	}
	return true
}

// Statement returns the node's statement that a task.outcome or
// result.delivered ledger entry holds verbatim, or nil for entries of other
// kinds (whose detail is the command that made them).
func Statement(e *mitaiv1.AuditEntry) (*mitaiv1.TaskOutcome, error) {
	if e.Kind != KindTaskOutcome && e.Kind != KindResultDelivered {
		return nil, nil
	}
	var o mitaiv1.TaskOutcome
	if err := proto.Unmarshal(e.Detail, &o); err != nil {
		return nil, fmt.Errorf("ledger entry %d: %w", e.Index, err)
	}
	return &o, nil
}

// StatementEntry is the ledger entry that holds a party's signed statement
// about a task: what the node signs, what the leader checks and what the
// state appends (index, time and hashes aside).
func StatementEntry(party, taskID string, signed *mitaiv1.SignedOutcome) *mitaiv1.AuditEntry {
	return &mitaiv1.AuditEntry{Kind: signed.Kind, Actor: party, Subject: taskID,
		Detail: signed.Outcome, SignerCert: signed.SignerCert, Signature: signed.Signature}
}
