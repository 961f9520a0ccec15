package state

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// scheduled returns a state with an approved job j1 and both nodes registered.
func scheduled(t *testing.T, l *log) *State {
	s := catalog(t, l, "bank")
	mustApply(t, s, l.cmd("bank", &mitaiv1.RegisterNodeCommand{Node: "n1", Address: "127.0.0.1:1", Datasets: []string{"customers"}}))
	mustApply(t, s, l.cmd("telco", &mitaiv1.RegisterNodeCommand{Node: "n1", Address: "127.0.0.1:2", Datasets: []string{"subscribers"}}))
	mustApply(t, s, l.cmd("bank", submit("j1", "")))
	return s
}

func schedule(attempt uint32) *mitaiv1.ScheduleTaskCommand {
	return &mitaiv1.ScheduleTaskCommand{JobId: "j1", TaskId: TaskID("j1"), Attempt: attempt, Term: 2, Nodes: []string{"bank/n1", "telco/n1"}}
}

func ref(attempt uint32) *mitaiv1.TaskRef {
	return &mitaiv1.TaskRef{TaskId: TaskID("j1"), Attempt: attempt, Term: 2}
}

// outcome is a node's statement about an attempt of j1 (the leader has
// checked its signature before it reaches the state).
func outcome(kind, node string, task *mitaiv1.TaskRef, errText string, report *mitaiv1.TaskReport) *mitaiv1.TaskOutcomeCommand {
	b, _ := proto.Marshal(&mitaiv1.TaskOutcome{Task: task, Node: node, Ok: errText == "", Error: errText, Report: report})
	return &mitaiv1.TaskOutcomeCommand{Signed: &mitaiv1.SignedOutcome{Kind: kind, Outcome: b, SignerCert: []byte("cert"), Signature: []byte("sig")}}
}

func done(attempt uint32, errText string) *mitaiv1.TaskOutcomeCommand {
	return outcome(KindTaskOutcome, "bank/n1", ref(attempt), errText, &mitaiv1.TaskReport{IntersectionSize: 7, ResultDigest: "ab"})
}

func TestTaskAttempts(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := scheduled(t, l)
	r := mustApply(t, s, l.cmd("", schedule(1)))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_SCHEDULED || r.Task.State != mitaiv1.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("after scheduling: %v %v", r.Job, r.Task)
	}
	// A lease expiry aborts attempt 1; attempt 2 starts; attempt 1's late
	// result is rejected.
	mustApply(t, s, l.cmd("", &mitaiv1.AbortAttemptCommand{Task: ref(1), Reason: "lease expired"}))
	mustApply(t, s, l.cmd("", schedule(2)))
	if _, err := s.Apply(l.cmd("bank", done(1, ""))); !errors.Is(err, ErrRejected) {
		t.Fatalf("stale attempt's result accepted: %v", err)
	}
	// Only the initiating party reports.
	if _, err := s.Apply(l.cmd("telco", outcome(KindTaskOutcome, "telco/n1", ref(2), "", nil))); !errors.Is(err, ErrRejected) {
		t.Fatalf("the responder reported: %v", err)
	}
	r = mustApply(t, s, l.cmd("bank", done(2, "")))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_SUCCEEDED || r.Task.Report.IntersectionSize != 7 {
		t.Fatalf("after success: %v %v", r.Job, r.Task)
	}
	if _, err := s.Apply(l.cmd("", schedule(3))); !errors.Is(err, ErrRejected) {
		t.Fatalf("a succeeded job was scheduled again: %v", err)
	}
}

func TestTaskFailsAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := scheduled(t, l)
	var r Result
	for a := uint32(1); a <= MaxAttempts; a++ {
		mustApply(t, s, l.cmd("", schedule(a)))
		r = mustApply(t, s, l.cmd("bank", done(a, "peer refused")))
	}
	if r.Job.State != mitaiv1.JobState_JOB_STATE_FAILED || r.Job.Reason != "peer refused" {
		t.Fatalf("after %d failures: %v", MaxAttempts, r.Job)
	}
	if _, err := s.Apply(l.cmd("", schedule(MaxAttempts+1))); !errors.Is(err, ErrRejected) {
		t.Fatal("a failed job got another attempt")
	}
}

func TestScheduleChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		actor string
		cmd   *mitaiv1.ScheduleTaskCommand
	}{
		{"by a party", "bank", schedule(1)},
		{"wrong attempt", "", schedule(2)},
		{"unknown node", "", &mitaiv1.ScheduleTaskCommand{JobId: "j1", TaskId: TaskID("j1"), Attempt: 1, Nodes: []string{"bank/n9", "telco/n1"}}},
		{"node of another party", "", &mitaiv1.ScheduleTaskCommand{JobId: "j1", TaskId: TaskID("j1"), Attempt: 1, Nodes: []string{"telco/n1", "telco/n1"}}},
		{"wrong task id", "", &mitaiv1.ScheduleTaskCommand{JobId: "j1", TaskId: "x", Attempt: 1, Nodes: []string{"bank/n1", "telco/n1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &log{t: t}
			s := scheduled(t, l)
			if _, err := s.Apply(l.cmd(tc.actor, tc.cmd)); !errors.Is(err, ErrRejected) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestCancelAbortsRunningAttempt(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := scheduled(t, l)
	mustApply(t, s, l.cmd("", schedule(1)))
	mustApply(t, s, l.cmd("telco", &mitaiv1.CancelJobCommand{JobId: "j1"}))
	if task, _ := s.Task(TaskID("j1")); task.State != mitaiv1.TaskState_TASK_STATE_ABORTED {
		t.Fatalf("task %v", task)
	}
	if _, err := s.Apply(l.cmd("bank", done(1, ""))); !errors.Is(err, ErrRejected) {
		t.Fatal("a cancelled job's result was accepted")
	}
}

// TestIndexesMatchScan checks the derived indexes against a scan of every
// job and task, as commands apply and after a snapshot restore.
func TestIndexesMatchScan(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := scheduled(t, l)
	mustApply(t, s, l.cmd("bank", submit("j2", "")))
	mustApply(t, s, l.cmd("bank", submit("j3", "")))
	check := func(s *State, when string) {
		t.Helper()
		var wantPending, wantRunning []string
		for _, j := range s.Jobs() {
			task, _ := s.Task(TaskID(j.Id))
			if _, ok := nextAttempt(j, task); ok {
				wantPending = append(wantPending, j.Id)
			}
		}
		for _, task := range s.Tasks() {
			if task.State == mitaiv1.TaskState_TASK_STATE_RUNNING {
				wantRunning = append(wantRunning, task.Id)
			}
		}
		var gotPending, gotRunning []string
		for _, p := range s.Schedulable(func(*mitaiv1.Job) bool { return true }, len(s.jobs)) {
			gotPending = append(gotPending, p.Job.Id)
		}
		for _, task := range s.RunningTasks() {
			gotRunning = append(gotRunning, task.Id)
		}
		if fmt.Sprint(gotPending) != fmt.Sprint(wantPending) || fmt.Sprint(gotRunning) != fmt.Sprint(wantRunning) {
			t.Fatalf("%s: pending %v want %v; running %v want %v", when, gotPending, wantPending, gotRunning, wantRunning)
		}
	}
	check(s, "submitted")
	mustApply(t, s, l.cmd("", schedule(1)))
	mustApply(t, s, l.cmd("", &mitaiv1.ScheduleTaskCommand{JobId: "j2", TaskId: TaskID("j2"), Attempt: 1, Nodes: []string{"bank/n1", "telco/n1"}}))
	check(s, "scheduled")
	mustApply(t, s, l.cmd("", &mitaiv1.AbortAttemptCommand{Task: ref(1), Reason: "lease"}))
	mustApply(t, s, l.cmd("telco", &mitaiv1.CancelJobCommand{JobId: "j2"}))
	check(s, "aborted and cancelled")
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	check(r, "restored")
}

// TestFencingAndRunning checks the term in fencing, the RUNNING transition,
// and signed result deliveries.
func TestFencingAndRunning(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := scheduled(t, l)
	mustApply(t, s, l.cmd("", schedule(1)))
	wrongTerm := &mitaiv1.TaskRef{TaskId: TaskID("j1"), Attempt: 1, Term: 1}
	if _, err := s.Apply(l.cmd("", &mitaiv1.TaskStartedCommand{Task: wrongTerm})); !errors.Is(err, ErrRejected) {
		t.Fatalf("start confirmation of another term accepted: %v", err)
	}
	if _, err := s.Apply(l.cmd("bank", outcome(KindTaskOutcome, "bank/n1", wrongTerm, "", nil))); !errors.Is(err, ErrRejected) {
		t.Fatalf("outcome of another term accepted: %v", err)
	}
	if _, err := s.Apply(l.cmd("bank", &mitaiv1.TaskStartedCommand{Task: ref(1)})); !errors.Is(err, ErrRejected) {
		t.Fatalf("a party recorded a start: %v", err)
	}
	r := mustApply(t, s, l.cmd("", &mitaiv1.TaskStartedCommand{Task: ref(1)}))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_RUNNING || r.Task.RunningUnixMs == 0 {
		t.Fatalf("after start: %v %v", r.Job, r.Task)
	}
	if _, err := s.Apply(l.cmd("", &mitaiv1.TaskStartedCommand{Task: ref(1)})); !errors.Is(err, ErrRejected) {
		t.Fatalf("started twice: %v", err)
	}
	delivered := outcome(KindResultDelivered, "bank/n1", ref(1), "", &mitaiv1.TaskReport{ResultDigest: "ab"})
	for _, bad := range []struct {
		name  string
		actor string
		cmd   *mitaiv1.TaskOutcomeCommand
	}{
		{"telco is no receiver", "telco", outcome(KindResultDelivered, "telco/n1", ref(1), "", &mitaiv1.TaskReport{ResultDigest: "ab"})},
		{"node of another party", "bank", outcome(KindResultDelivered, "telco/n1", ref(1), "", &mitaiv1.TaskReport{ResultDigest: "ab"})},
		{"no digest", "bank", outcome(KindResultDelivered, "bank/n1", ref(1), "", nil)},
		{"unknown kind", "bank", outcome("task.whatever", "bank/n1", ref(1), "", nil)},
		{"undecodable", "bank", &mitaiv1.TaskOutcomeCommand{Signed: &mitaiv1.SignedOutcome{Kind: KindTaskOutcome, Outcome: []byte{0xff}}}},
		{"empty", "bank", &mitaiv1.TaskOutcomeCommand{}},
	} {
		if _, err := s.Apply(l.cmd(bad.actor, bad.cmd)); !errors.Is(err, ErrRejected) {
			t.Fatalf("%s: accepted (%v)", bad.name, err)
		}
	}
	mustApply(t, s, l.cmd("bank", done(1, "")))
	r = mustApply(t, s, l.cmd("bank", delivered))
	if len(r.Task.Delivered) != 1 || r.Task.Delivered[0] != "bank" {
		t.Fatalf("delivered: %v", r.Task.Delivered)
	}
	e, _ := s.Ledger().Entry(r.AuditIndex)
	if e.Kind != KindResultDelivered || e.Actor != "bank" || string(e.Signature) != "sig" || string(e.SignerCert) != "cert" ||
		!bytes.Equal(e.Detail, delivered.Signed.Outcome) {
		t.Fatalf("ledger entry: %v", e)
	}
	if _, err := s.Apply(l.cmd("bank", delivered)); !errors.Is(err, ErrRejected) {
		t.Fatalf("delivered twice: %v", err)
	}
}
