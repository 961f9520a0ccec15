package state

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
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
	keySets  map[string]string   // published key set id -> its keygen job
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
		keySets:  map[string]string{},
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
	if spec.GetKind() == "keygen" && len(c.Seed) != 32 {
		return Result{}, rejectf("a keygen job needs the 32-byte seed the leader draws")
	}
	owners, err := s.checkSpec(spec)
	if err != nil {
		return Result{}, err
	}
	job := &mitaiv1.Job{
		Id: c.JobId, Spec: spec, Submitter: cmd.Actor, Seed: c.Seed,
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

// MaxParticipants bounds the participants of a multi-party job.
const MaxParticipants = 16

// checkSpec validates a job spec against the catalog and the published
// policies, and returns the owner of each participant dataset.
func (s *State) checkSpec(spec *mitaiv1.JobSpec) ([]string, error) {
	var use string // the policy mode the job needs of every dataset
	switch spec.Kind {
	case "psi":
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
		use = mode.String()
	case "mpsi", "keygen", "score":
		if n := len(spec.Participants); n < 2 || n > MaxParticipants {
			return nil, rejectf("a %s job has 2 to %d participants, this one %d", spec.Kind, MaxParticipants, n)
		}
		use = spec.Kind
	default:
		return nil, rejectf("job kind %q: want psi, mpsi, keygen or score", spec.Kind)
	}
	if spec.Kind != "psi" && spec.Kind != "mpsi" && spec.Psi != nil {
		return nil, rejectf("psi parameters belong to psi and mpsi jobs only")
	}
	if spec.Kind == "mpsi" && spec.Psi != nil && spec.Psi.Mode != mitaiv1.PsiMode_PSI_MODE_INTERSECTION {
		return nil, rejectf("an mpsi job aligns keys: intersection mode only")
	}
	if (spec.Keygen != nil) != (spec.Kind == "keygen") || (spec.Score != nil) != (spec.Kind == "score") {
		return nil, rejectf("a %s job carries only its own parameters (keygen parameters for keygen, score parameters for score)", spec.Kind)
	}
	owners := make([]string, len(spec.Participants))
	for i, key := range spec.Participants {
		party, _, ok := strings.Cut(key, ":")
		if !ok {
			return nil, rejectf("participant %q: want party:dataset", key)
		}
		if _, ok := s.datasets[key]; !ok {
			return nil, rejectf("dataset %s is not in the catalog", key)
		}
		if slices.Contains(owners[:i], party) {
			return nil, rejectf("two participants belong to %s", party)
		}
		owners[i] = party
	}
	if err := checkReceivers(spec, owners); err != nil {
		return nil, err
	}
	for i, key := range spec.Participants {
		pol := s.datasets[key].Info.Policy
		for j, partner := range owners {
			if j != i && !slices.Contains(pol.GetPartners(), partner) {
				return nil, rejectf("the published policy of %s does not allow partner %s", key, partner)
			}
		}
		if !slices.Contains(pol.GetModes(), use) {
			return nil, rejectf("the published policy of %s does not allow %s", key, use)
		}
	}
	switch spec.Kind {
	case "keygen":
		if t := spec.Keygen.Threshold; t != 0 && (t < 2 || int(t) > len(owners)) {
			return nil, rejectf("threshold %d: want 0 (all parties) or 2 to %d", t, len(owners))
		}
	case "score":
		if err := s.checkScore(spec); err != nil {
			return nil, err
		}
	}
	return owners, nil
}

// checkReceivers checks a job's receivers: psi names one or both
// participants, mpsi and keygen all of them, score the first only.
func checkReceivers(spec *mitaiv1.JobSpec, owners []string) error {
	if len(spec.Receivers) == 0 {
		return rejectf("a job names at least one receiver")
	}
	for _, r := range spec.Receivers {
		if !slices.Contains(owners, r) {
			return rejectf("receiver %q is not a participant", r)
		}
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(spec.Receivers)))
	switch spec.Kind {
	case "mpsi", "keygen":
		if len(distinct) != len(owners) {
			return rejectf("every participant of a %s job receives its result; name all %d", spec.Kind, len(owners))
		}
	case "score":
		if len(distinct) != 1 || distinct[0] != owners[0] {
			return rejectf("a score job's only receiver is its first participant (%s)", owners[0])
		}
	}
	return nil
}

// checkScore checks that a score job's alignment and key set exist and fit
// its participants.
func (s *State) checkScore(spec *mitaiv1.JobSpec) error {
	p := spec.Score
	if p.Model == "" || !modelName.MatchString(p.Model) {
		return rejectf("score model %q: want a name of 1-64 of A-Z a-z 0-9 . _ - (each node reads models/<name>.json)", p.Model)
	}
	align, ok := s.jobs[p.Alignment]
	if !ok || align.Spec.Kind != "mpsi" {
		return rejectf("alignment %q is not an mpsi job", p.Alignment)
	}
	if align.State != mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		return rejectf("alignment job %s is %v, not succeeded", align.Id, align.State)
	}
	if !sameSet(align.Spec.Participants, spec.Participants) {
		return rejectf("alignment job %s aligned %v, the score job names %v", align.Id, align.Spec.Participants, spec.Participants)
	}
	ks, ok := s.KeySet(p.KeySet)
	if !ok {
		return rejectf("key set %q: no succeeded keygen job published it", p.KeySet)
	}
	for _, key := range spec.Participants {
		if !slices.Contains(ks.Participants, key) {
			return rejectf("key set %s has no share on %s's node (its keygen job %s named %v)", ks.Id[:16], key, ks.JobId, ks.Participants)
		}
	}
	if ks.Threshold == 0 && len(ks.Participants) != len(spec.Participants) {
		return rejectf("key set %s is %d-of-%d: all of %v must take part", ks.Id[:16], len(ks.Participants), len(ks.Participants), ks.Participants)
	}
	if int(ks.Threshold) > len(spec.Participants) {
		return rejectf("key set %s needs %d of its parties, the job has %d", ks.Id[:16], ks.Threshold, len(spec.Participants))
	}
	if _, err := s.PinnedNodes(spec); err != nil {
		return err
	}
	switch p.Probability {
	case "", "plain", "none", "encrypted":
	default:
		return rejectf("score probability %q: want plain, none or encrypted", p.Probability)
	}
	return nil
}

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// PinnedNodes returns, for a score job, the node of each party that holds
// its inputs: the node that ran the party's side of the alignment, which
// must be the node that holds its share of the key set (both stay on the
// node that ran the job). It is nil for other kinds. A party whose
// alignment and key share are on different nodes cannot score.
func (s *State) PinnedNodes(spec *mitaiv1.JobSpec) (map[string]string, error) {
	if spec.GetKind() != "score" {
		return nil, nil
	}
	pin := map[string]string{}
	var sources []string
	if ks, ok := s.KeySet(spec.Score.GetKeySet()); ok {
		sources = append(sources, ks.JobId)
	}
	sources = append(sources, spec.Score.GetAlignment())
	for _, job := range sources {
		t := s.tasks[TaskID(job)]
		if t == nil {
			continue
		}
		for _, n := range t.Nodes {
			party, _, _ := strings.Cut(n, "/")
			if have, ok := pin[party]; ok && have != n {
				return nil, rejectf("%s's key share is on node %s but its aligned rows are on node %s: run the alignment and the keygen on the same node", party, have, n)
			}
			pin[party] = n
		}
	}
	return pin, nil
}

// KeySets returns every published key set, oldest first.
func (s *State) KeySets() []*mitaiv1.KeySetInfo {
	out := make([]*mitaiv1.KeySetInfo, 0, len(s.keySets))
	for _, job := range s.keySets {
		if k, ok := s.KeySet(job); ok {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *mitaiv1.KeySetInfo) int {
		return cmp.Or(cmp.Compare(a.CreatedUnixMs, b.CreatedUnixMs), strings.Compare(a.Id, b.Id))
	})
	return out
}

// KeySet finds a published key set by its id (or by the id of the keygen
// job that made it).
func (s *State) KeySet(ref string) (*mitaiv1.KeySetInfo, bool) {
	jobID, ok := s.keySets[ref]
	if !ok {
		jobID = ref
	}
	j, t := s.jobs[jobID], s.tasks[TaskID(jobID)]
	id := t.GetReport().GetKeySet()
	if j == nil || id == "" || s.keySets[id] != jobID {
		return nil, false
	}
	return &mitaiv1.KeySetInfo{
		Id: id, JobId: j.Id, Participants: j.Spec.Participants, Preset: j.Spec.Keygen.GetPreset(),
		Threshold: j.Spec.Keygen.GetThreshold(), CreatedUnixMs: t.EndedUnixMs,
	}, true
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
