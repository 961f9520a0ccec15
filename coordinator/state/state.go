package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// ErrRejected marks a command that Apply refused; the state is unchanged.
var ErrRejected = errors.New("rejected")

// State is the replicated state. It is not safe for concurrent use; the
// coordinator serialises Apply and guards reads with its own lock.
type State struct {
	datasets map[string]*mitaiv1.CatalogDataset // by "party:name"
	jobs     map[string]*mitaiv1.Job
	// byKey finds a job by its submitter and idempotency key.
	byKey  map[string]string
	nodes  map[string]*mitaiv1.NodeRecord // by "party/node"
	tasks  map[string]*mitaiv1.Task       // by task id
	ledger *ledger.Ledger
	// Applied client requests by id, and in apply order for expiry.
	requests   map[string]*mitaiv1.AppliedRequest
	requestLog []*mitaiv1.AppliedRequest
	// Derived indexes for the leader's hot paths, kept by reindex and
	// rebuilt on Restore; never snapshotted.
	runnable map[string]struct{} // jobs whose next attempt may be scheduled
	running  map[string]struct{} // tasks whose current attempt runs
}

// New returns an empty state.
func New() *State {
	return &State{
		datasets: map[string]*mitaiv1.CatalogDataset{},
		jobs:     map[string]*mitaiv1.Job{},
		byKey:    map[string]string{},
		nodes:    map[string]*mitaiv1.NodeRecord{},
		tasks:    map[string]*mitaiv1.Task{},
		ledger:   ledger.New(),
		requests: map[string]*mitaiv1.AppliedRequest{},
		runnable: map[string]struct{}{},
		running:  map[string]struct{}{},
	}
}

// Result is what applying one command produced.
type Result struct {
	// Job is a copy of the job the command created or changed.
	Job *mitaiv1.Job
	// Task is a copy of the task the command scheduled or ended.
	Task *mitaiv1.Task
	// Dataset is a copy of the dataset the command published.
	Dataset *mitaiv1.CatalogDataset
	// Duplicate reports a submit whose idempotency key named an existing job.
	Duplicate bool
	// AuditIndex is the ledger entry the command made (0: none).
	AuditIndex uint64
}

// Apply decodes one log entry and applies it. It returns an error wrapping
// ErrRejected when the command breaks a rule (nothing changes), or another
// error when the bytes are not a command this version knows.
func (s *State) Apply(data []byte) (Result, error) {
	var cmd mitaiv1.Command
	if err := proto.Unmarshal(data, &cmd); err != nil {
		return Result{}, fmt.Errorf("state: undecodable command: %w", err)
	}
	if prev, ok := s.requests[cmd.RequestId]; ok && cmd.RequestId != "" {
		return s.replay(prev), nil
	}
	r, err := s.apply(&cmd, data)
	if err == nil && r.Job != nil {
		s.reindex(r.Job.Id)
	}
	if err == nil {
		s.remember(&cmd, r)
	}
	return r, err
}

func (s *State) apply(cmd *mitaiv1.Command, data []byte) (Result, error) {
	switch body := cmd.Body.(type) {
	case *mitaiv1.Command_PublishDataset:
		return s.publishDataset(cmd, body.PublishDataset, data)
	case *mitaiv1.Command_SubmitJob:
		return s.submitJob(cmd, body.SubmitJob, data)
	case *mitaiv1.Command_ApproveJob:
		return s.approveJob(cmd, body.ApproveJob, data)
	case *mitaiv1.Command_CancelJob:
		return s.cancelJob(cmd, body.CancelJob, data)
	case *mitaiv1.Command_RegisterNode:
		return s.registerNode(cmd, body.RegisterNode, data)
	case *mitaiv1.Command_ScheduleTask:
		return s.scheduleTask(cmd, body.ScheduleTask, data)
	case *mitaiv1.Command_TaskOutcome:
		return s.taskOutcome(cmd, body.TaskOutcome, data)
	case *mitaiv1.Command_AbortAttempt:
		return s.abortAttempt(cmd, body.AbortAttempt, data)
	case *mitaiv1.Command_TaskStarted:
		return s.taskStarted(cmd, body.TaskStarted, data)
	}
	return Result{}, fmt.Errorf("state: unknown command type %T: is this replica older than the leader?", cmd.Body)
}

func rejectf(format string, args ...any) error {
	return fmt.Errorf("state: %w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// audit appends a ledger entry whose detail is the command's log bytes.
func (s *State) audit(cmd *mitaiv1.Command, kind, subject string, data []byte) uint64 {
	e := s.ledger.Append(&mitaiv1.AuditEntry{
		TimeUnixMs: cmd.TimeUnixMs, Kind: kind, Actor: cmd.Actor, Subject: subject, Detail: data,
	})
	return e.Index
}

// DatasetKey is the catalog key of a party's dataset.
func DatasetKey(party, name string) string { return party + ":" + name }

func (s *State) publishDataset(cmd *mitaiv1.Command, c *mitaiv1.PublishDatasetCommand, data []byte) (Result, error) {
	if cmd.Actor == "" || c.Info == nil || c.Info.Name == "" {
		return Result{}, rejectf("a dataset is published by its owner, with a name")
	}
	d := &mitaiv1.CatalogDataset{Party: cmd.Actor, Info: c.Info, PolicyDigest: PolicyDigest(c.Info.Policy)}
	key := DatasetKey(cmd.Actor, c.Info.Name)
	s.datasets[key] = d
	idx := s.audit(cmd, "dataset.published", key, data)
	return Result{Dataset: proto.Clone(d).(*mitaiv1.CatalogDataset), AuditIndex: idx}, nil
}

// PolicyDigest is the SHA-256 of a policy's deterministic encoding, hex.
func PolicyDigest(p *mitaiv1.Policy) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

func (s *State) submitJob(cmd *mitaiv1.Command, c *mitaiv1.SubmitJobCommand, data []byte) (Result, error) {
	spec := c.Spec
	if spec == nil || cmd.Actor == "" {
		return Result{}, rejectf("a job needs a spec and a submitting party")
	}
	if spec.IdempotencyKey != "" {
		if id, ok := s.byKey[cmd.Actor+"/"+spec.IdempotencyKey]; ok {
			j := s.jobs[id]
			if !proto.Equal(j.Spec, spec) {
				return Result{}, rejectf("idempotency key %q already names job %s with a different spec", spec.IdempotencyKey, id)
			}
			return Result{Job: proto.Clone(j).(*mitaiv1.Job), Duplicate: true}, nil
		}
	}
	if c.JobId == "" {
		return Result{}, rejectf("the leader gave the job no id")
	}
	if _, ok := s.jobs[c.JobId]; ok {
		return Result{}, rejectf("job id %s is taken", c.JobId)
	}
	owners, err := s.checkSpec(spec)
	if err != nil {
		return Result{}, err
	}
	job := &mitaiv1.Job{
		Id: c.JobId, Spec: spec, Submitter: cmd.Actor,
		CreatedUnixMs: cmd.TimeUnixMs, UpdatedUnixMs: cmd.TimeUnixMs,
	}
	for i, key := range spec.Participants {
		d := s.datasets[key]
		owner := owners[i]
		if owner == cmd.Actor || slices.Contains(d.Info.Policy.GetAutoApprove(), cmd.Actor) ||
			slices.Contains(job.PendingApprovals, owner) {
			continue
		}
		job.PendingApprovals = append(job.PendingApprovals, owner)
	}
	job.State = mitaiv1.JobState_JOB_STATE_SUBMITTED
	if len(job.PendingApprovals) > 0 {
		job.State = mitaiv1.JobState_JOB_STATE_AWAITING_APPROVAL
	}
	job.AuditIndex = s.audit(cmd, "job.submitted", job.Id, data)
	s.jobs[job.Id] = job
	if spec.IdempotencyKey != "" {
		s.byKey[cmd.Actor+"/"+spec.IdempotencyKey] = job.Id
	}
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), AuditIndex: job.AuditIndex}, nil
}

// checkSpec validates a job spec against the catalog and the published
// policies, and returns the owner of each participant dataset.
func (s *State) checkSpec(spec *mitaiv1.JobSpec) ([]string, error) {
	if spec.Kind != "psi" {
		return nil, rejectf("job kind %q: only psi jobs exist yet", spec.Kind)
	}
	if len(spec.Participants) != 2 {
		return nil, rejectf("a psi job has 2 participants, this one %d", len(spec.Participants))
	}
	if spec.Psi == nil {
		return nil, rejectf("a psi job needs psi parameters")
	}
	mode, err := psi.ModeFromProto(spec.Psi.Mode)
	if err != nil {
		return nil, rejectf("%v", err)
	}
	owners := make([]string, 2)
	for i, key := range spec.Participants {
		party, _, ok := strings.Cut(key, ":")
		if !ok {
			return nil, rejectf("participant %q: want party:dataset", key)
		}
		if _, ok := s.datasets[key]; !ok {
			return nil, rejectf("dataset %s is not in the catalog", key)
		}
		owners[i] = party
	}
	if owners[0] == owners[1] {
		return nil, rejectf("both participants belong to %s", owners[0])
	}
	if len(spec.Receivers) == 0 {
		return nil, rejectf("a job names at least one receiver")
	}
	for _, r := range spec.Receivers {
		if !slices.Contains(owners, r) {
			return nil, rejectf("receiver %q is not a participant", r)
		}
	}
	for i, key := range spec.Participants {
		pol := s.datasets[key].Info.Policy
		partner := owners[1-i]
		if !slices.Contains(pol.GetPartners(), partner) {
			return nil, rejectf("the published policy of %s does not allow partner %s", key, partner)
		}
		if !slices.Contains(pol.GetModes(), mode.String()) {
			return nil, rejectf("the published policy of %s does not allow mode %s", key, mode)
		}
	}
	return owners, nil
}

func (s *State) approveJob(cmd *mitaiv1.Command, c *mitaiv1.ApproveJobCommand, data []byte) (Result, error) {
	job, ok := s.jobs[c.JobId]
	if !ok {
		return Result{}, rejectf("no job %s", c.JobId)
	}
	if job.State != mitaiv1.JobState_JOB_STATE_AWAITING_APPROVAL {
		return Result{}, rejectf("job %s is %v, not awaiting approval", job.Id, job.State)
	}
	i := slices.Index(job.PendingApprovals, cmd.Actor)
	if i < 0 {
		return Result{}, rejectf("job %s does not wait for %q's approval", job.Id, cmd.Actor)
	}
	job.PendingApprovals = slices.Delete(job.PendingApprovals, i, i+1)
	if len(job.PendingApprovals) == 0 {
		job.State = mitaiv1.JobState_JOB_STATE_SUBMITTED
	}
	job.UpdatedUnixMs = cmd.TimeUnixMs
	idx := s.audit(cmd, "job.approved", job.Id, data)
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), AuditIndex: idx}, nil
}

func (s *State) cancelJob(cmd *mitaiv1.Command, c *mitaiv1.CancelJobCommand, data []byte) (Result, error) {
	job, ok := s.jobs[c.JobId]
	if !ok {
		return Result{}, rejectf("no job %s", c.JobId)
	}
	switch job.State {
	case mitaiv1.JobState_JOB_STATE_SUCCEEDED, mitaiv1.JobState_JOB_STATE_FAILED, mitaiv1.JobState_JOB_STATE_CANCELLED:
		return Result{}, rejectf("job %s has ended (%v)", job.Id, job.State)
	}
	allowed := cmd.Actor == job.Submitter
	for _, key := range job.Spec.Participants {
		if party, _, _ := strings.Cut(key, ":"); party == cmd.Actor {
			allowed = true
		}
	}
	if !allowed {
		return Result{}, rejectf("party %q may not cancel job %s", cmd.Actor, job.Id)
	}
	job.State = mitaiv1.JobState_JOB_STATE_CANCELLED
	job.Reason = c.Reason
	if t := s.tasks[TaskID(job.Id)]; t != nil && t.State == mitaiv1.TaskState_TASK_STATE_RUNNING {
		t.State, t.EndedUnixMs, t.Error = mitaiv1.TaskState_TASK_STATE_ABORTED, cmd.TimeUnixMs, "job cancelled"
	}
	job.UpdatedUnixMs = cmd.TimeUnixMs
	idx := s.audit(cmd, "job.cancelled", job.Id, data)
	return Result{Job: proto.Clone(job).(*mitaiv1.Job), AuditIndex: idx}, nil
}

// Job returns a copy of a job.
func (s *State) Job(id string) (*mitaiv1.Job, bool) {
	j, ok := s.jobs[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(j).(*mitaiv1.Job), true
}

// Jobs returns copies of every job, by id.
func (s *State) Jobs() []*mitaiv1.Job {
	out := make([]*mitaiv1.Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, proto.Clone(j).(*mitaiv1.Job))
	}
	slices.SortFunc(out, func(a, b *mitaiv1.Job) int { return strings.Compare(a.Id, b.Id) })
	return out
}

// Datasets returns copies of the catalog, by key.
func (s *State) Datasets() []*mitaiv1.CatalogDataset {
	out := make([]*mitaiv1.CatalogDataset, 0, len(s.datasets))
	for _, d := range s.datasets {
		out = append(out, proto.Clone(d).(*mitaiv1.CatalogDataset))
	}
	slices.SortFunc(out, func(a, b *mitaiv1.CatalogDataset) int {
		return strings.Compare(DatasetKey(a.Party, a.Info.Name), DatasetKey(b.Party, b.Info.Name))
	})
	return out
}

// Ledger returns the audit ledger; callers only read it.
func (s *State) Ledger() *ledger.Ledger { return s.ledger }

// JobCounts returns how many jobs are in each state.
func (s *State) JobCounts() map[mitaiv1.JobState]int {
	out := map[mitaiv1.JobState]int{}
	for _, j := range s.jobs {
		out[j.State]++
	}
	return out
}
