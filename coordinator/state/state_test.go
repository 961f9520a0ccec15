package state

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// log builds command bytes as a leader would.
type log struct {
	t    testing.TB
	time int64
}

func (l *log) cmd(actor string, body any) []byte {
	l.t.Helper()
	l.time += 1000
	c := &mitaiv1.Command{TimeUnixMs: l.time, Actor: actor}
	switch b := body.(type) {
	case *mitaiv1.PublishDatasetCommand:
		c.Body = &mitaiv1.Command_PublishDataset{PublishDataset: b}
	case *mitaiv1.SubmitJobCommand:
		c.Body = &mitaiv1.Command_SubmitJob{SubmitJob: b}
	case *mitaiv1.ApproveJobCommand:
		c.Body = &mitaiv1.Command_ApproveJob{ApproveJob: b}
	case *mitaiv1.CancelJobCommand:
		c.Body = &mitaiv1.Command_CancelJob{CancelJob: b}
	case *mitaiv1.RegisterNodeCommand:
		c.Body = &mitaiv1.Command_RegisterNode{RegisterNode: b}
	case *mitaiv1.ScheduleTaskCommand:
		c.Body = &mitaiv1.Command_ScheduleTask{ScheduleTask: b}
	case *mitaiv1.TaskOutcomeCommand:
		c.Body = &mitaiv1.Command_TaskOutcome{TaskOutcome: b}
	case *mitaiv1.AbortAttemptCommand:
		c.Body = &mitaiv1.Command_AbortAttempt{AbortAttempt: b}
	case *mitaiv1.TaskStartedCommand:
		c.Body = &mitaiv1.Command_TaskStarted{TaskStarted: b}
	case nil:
	default:
		l.t.Fatalf("unknown body %T", body)
	}
	data, err := proto.Marshal(c)
	if err != nil {
		l.t.Fatal(err)
	}
	return data
}

func publish(name string, partners []string, autoApprove ...string) *mitaiv1.PublishDatasetCommand {
	return &mitaiv1.PublishDatasetCommand{Info: &mitaiv1.DatasetInfo{
		Name: name, KeyColumn: "id", Rows: 100, Digest: strings.Repeat("ab", 32),
		Policy: &mitaiv1.Policy{Partners: partners, Modes: []string{"intersection", "join"}, AutoApprove: autoApprove},
	}}
}

func submit(id, key string) *mitaiv1.SubmitJobCommand {
	return &mitaiv1.SubmitJobCommand{JobId: id, Spec: &mitaiv1.JobSpec{
		Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
		Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}, IdempotencyKey: key,
	}}
}

// catalog returns a state with bank:customers and telco:subscribers.
func catalog(t *testing.T, l *log, telcoAutoApprove ...string) *State {
	s := New()
	mustApply(t, s, l.cmd("bank", publish("customers", []string{"telco"})))
	mustApply(t, s, l.cmd("telco", publish("subscribers", []string{"bank"}, telcoAutoApprove...)))
	return s
}

func mustApply(t testing.TB, s *State, data []byte) Result {
	t.Helper()
	r, err := s.Apply(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestApprovalFlow(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := catalog(t, l)
	r := mustApply(t, s, l.cmd("bank", submit("j1", "k1")))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_AWAITING_APPROVAL || fmt.Sprint(r.Job.PendingApprovals) != "[telco]" {
		t.Fatalf("job %v", r.Job)
	}
	if _, err := s.Apply(l.cmd("bank", &mitaiv1.ApproveJobCommand{JobId: "j1"})); !errors.Is(err, ErrRejected) {
		t.Fatalf("the submitter approved for telco: %v", err)
	}
	r = mustApply(t, s, l.cmd("telco", &mitaiv1.ApproveJobCommand{JobId: "j1"}))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_SUBMITTED || len(r.Job.PendingApprovals) != 0 {
		t.Fatalf("after approval: %v", r.Job)
	}
	if _, err := s.Apply(l.cmd("telco", &mitaiv1.ApproveJobCommand{JobId: "j1"})); !errors.Is(err, ErrRejected) {
		t.Fatalf("approved twice: %v", err)
	}

	// A policy that auto-approves the submitter needs no approval.
	s2 := catalog(t, &log{t: t}, "bank")
	r = mustApply(t, s2, (&log{t: t, time: 1e6}).cmd("bank", submit("j2", "")))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_SUBMITTED {
		t.Fatalf("auto-approved job is %v", r.Job.State)
	}
}

func TestIdempotentSubmit(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := catalog(t, l)
	first := mustApply(t, s, l.cmd("bank", submit("j1", "retry-me")))
	again := mustApply(t, s, l.cmd("bank", submit("j2", "retry-me")))
	if !again.Duplicate || again.Job.Id != "j1" || len(s.Jobs()) != 1 {
		t.Fatalf("retried submit made %v (duplicate %v), jobs %d", again.Job.Id, again.Duplicate, len(s.Jobs()))
	}
	if again.AuditIndex != 0 || s.Ledger().Len() != int(first.AuditIndex) {
		t.Fatal("a deduplicated submit was audited twice")
	}
	// The same key from another party is another job.
	other := submit("j3", "retry-me")
	other.Spec.Participants = []string{"telco:subscribers", "bank:customers"}
	other.Spec.Receivers = []string{"telco"}
	if r := mustApply(t, s, l.cmd("telco", other)); r.Duplicate || r.Job.Id != "j3" {
		t.Fatalf("key of another party: %v", r.Job)
	}
	// The same key with a different spec is refused.
	changed := submit("j4", "retry-me")
	changed.Spec.Receivers = []string{"bank", "telco"}
	if _, err := s.Apply(l.cmd("bank", changed)); !errors.Is(err, ErrRejected) {
		t.Fatalf("key reused with another spec: %v", err)
	}
}

func TestRejectionsChangeNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		actor string
		body  any
	}{
		{"unknown dataset", "bank", func() any { c := submit("x", ""); c.Spec.Participants[1] = "telco:nope"; return c }()},
		{"same party twice", "bank", func() any { c := submit("x", ""); c.Spec.Participants[1] = "bank:customers"; return c }()},
		{"receiver not a participant", "bank", func() any { c := submit("x", ""); c.Spec.Receivers = []string{"bureau"}; return c }()},
		{"mode not in published policy", "bank", func() any {
			c := submit("x", "")
			c.Spec.Psi.Mode = mitaiv1.PsiMode_PSI_MODE_CARDINALITY
			return c
		}()},
		{"kind", "bank", func() any { c := submit("x", ""); c.Spec.Kind = "vlr"; return c }()},
		{"no job id", "bank", submit("", "")},
		{"taken job id", "bank", submit("j1", "")},
		{"no submitter", "", submit("x", "")},
		{"approve unknown job", "telco", &mitaiv1.ApproveJobCommand{JobId: "nope"}},
		{"cancel by an outsider", "bureau", &mitaiv1.CancelJobCommand{JobId: "j1"}},
		{"publish without a name", "bank", &mitaiv1.PublishDatasetCommand{Info: &mitaiv1.DatasetInfo{}}},
		{"partner not in policy", "bank", func() any {
			c := submit("x", "")
			c.Spec.Participants = []string{"bank:customers", "bureau:records"}
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &log{t: t}
			s := catalog(t, l)
			mustApply(t, s, l.cmd("bureau", publish("records", []string{"bank"})))
			mustApply(t, s, l.cmd("bank", submit("j1", "")))
			before, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Apply(l.cmd(tc.actor, tc.body)); !errors.Is(err, ErrRejected) {
				t.Fatalf("got %v, want a rejection", err)
			}
			after, _ := s.Snapshot()
			if !bytes.Equal(before, after) {
				t.Fatal("a rejected command changed the state")
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := catalog(t, l)
	mustApply(t, s, l.cmd("bank", submit("j1", "")))
	r := mustApply(t, s, l.cmd("telco", &mitaiv1.CancelJobCommand{JobId: "j1", Reason: "not today"}))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_CANCELLED || r.Job.Reason != "not today" {
		t.Fatalf("%v", r.Job)
	}
	if _, err := s.Apply(l.cmd("bank", &mitaiv1.CancelJobCommand{JobId: "j1"})); !errors.Is(err, ErrRejected) {
		t.Fatalf("cancelled twice: %v", err)
	}
}

func TestUnknownCommandIsHardError(t *testing.T) {
	t.Parallel()
	s := New()
	l := &log{t: t}
	if _, err := s.Apply(l.cmd("bank", nil)); err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("got %v", err)
	}
	if _, err := s.Apply([]byte{0xff, 0x01}); err == nil || errors.Is(err, ErrRejected) {
		t.Fatalf("garbage: %v", err)
	}
}

// history is a mixed log for the determinism and snapshot tests.
func history(t testing.TB) [][]byte {
	l := &log{t: t}
	var out [][]byte
	out = append(out, l.cmd("bank", publish("customers", []string{"telco"})), l.cmd("telco", publish("subscribers", []string{"bank"})))
	for i := range 40 {
		out = append(out, l.cmd("bank", submit(fmt.Sprintf("j%03d", i), fmt.Sprintf("k%d", i%30))))
		if i%3 == 0 {
			out = append(out, l.cmd("telco", &mitaiv1.ApproveJobCommand{JobId: fmt.Sprintf("j%03d", i)}))
		}
		if i%7 == 0 {
			out = append(out, l.cmd("bank", &mitaiv1.CancelJobCommand{JobId: fmt.Sprintf("j%03d", i)}))
		}
	}
	// Tasks: j003 runs and succeeds with a delivery; j006's first attempt
	// is aborted and its second fails.
	out = append(out,
		l.cmd("bank", &mitaiv1.RegisterNodeCommand{Node: "n1", Address: "127.0.0.1:1", Datasets: []string{"customers"}}),
		l.cmd("telco", &mitaiv1.RegisterNodeCommand{Node: "n1", Address: "127.0.0.1:2", Datasets: []string{"subscribers"}}))
	attempt := func(job string, n uint32) *mitaiv1.TaskRef {
		return &mitaiv1.TaskRef{TaskId: TaskID(job), Attempt: n, Term: 2}
	}
	stmt := func(kind string, ref *mitaiv1.TaskRef, errText string) *mitaiv1.TaskOutcomeCommand {
		b, _ := proto.Marshal(&mitaiv1.TaskOutcome{Task: ref, Node: "bank/n1", Ok: errText == "", Error: errText,
			Report: &mitaiv1.TaskReport{ResultDigest: "ab", IntersectionSize: 3}})
		return &mitaiv1.TaskOutcomeCommand{Signed: &mitaiv1.SignedOutcome{Kind: kind, Outcome: b, SignerCert: []byte{1}, Signature: []byte{2}}}
	}
	sched := func(job string, n uint32) *mitaiv1.ScheduleTaskCommand {
		return &mitaiv1.ScheduleTaskCommand{JobId: job, TaskId: TaskID(job), Attempt: n, Term: 2, Nodes: []string{"bank/n1", "telco/n1"}}
	}
	out = append(out,
		l.cmd("", sched("j003", 1)),
		l.cmd("", &mitaiv1.TaskStartedCommand{Task: attempt("j003", 1)}),
		l.cmd("bank", stmt(KindTaskOutcome, attempt("j003", 1), "")),
		l.cmd("bank", stmt(KindResultDelivered, attempt("j003", 1), "")),
		l.cmd("", sched("j006", 1)),
		l.cmd("", &mitaiv1.AbortAttemptCommand{Task: attempt("j006", 1), Reason: "lease expired"}),
		l.cmd("", sched("j006", 2)),
		l.cmd("bank", stmt(KindTaskOutcome, attempt("j006", 2), "peer refused")))
	return out
}

func TestDeterministicReplicas(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	h := history(t)
	for i, data := range h {
		ra, ea := a.Apply(data)
		rb, eb := b.Apply(data)
		if (ea == nil) != (eb == nil) || !proto.Equal(ra.Job, rb.Job) || ra.AuditIndex != rb.AuditIndex {
			t.Fatalf("replicas diverge: %v/%v", ea, eb)
		}
		if i >= len(h)-10 && ea != nil { // the node and task commands are all valid
			t.Fatalf("command %d: %v", i, ea)
		}
	}
	if j, _ := a.Job("j003"); j.State != mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("j003 %v", j.State)
	}
	sa, _ := a.Snapshot()
	sb, _ := b.Snapshot()
	if !bytes.Equal(sa, sb) || a.Ledger().Head() != b.Ledger().Head() {
		t.Fatal("replicas that applied the same log differ")
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	h := history(t)
	s := New()
	for _, data := range h[:50] {
		_, _ = s.Apply(data)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range h[50:] {
		r1, e1 := s.Apply(data)
		r2, e2 := r.Apply(data)
		if (e1 == nil) != (e2 == nil) || !proto.Equal(r1.Job, r2.Job) || r1.Duplicate != r2.Duplicate {
			t.Fatalf("restored state answers differently: %v / %v", e1, e2)
		}
	}
	s1, _ := s.Snapshot()
	s2, _ := r.Snapshot()
	if !bytes.Equal(s1, s2) {
		t.Fatal("restored state diverged")
	}

	// A snapshot whose ledger was tampered with is refused.
	var tampered mitaiv1.CoordinatorSnapshot
	if err := proto.Unmarshal(snap, &tampered); err != nil {
		t.Fatal(err)
	}
	tampered.Ledger[3].Actor = "mallory"
	b, _ := proto.Marshal(&tampered)
	if _, err := Restore(b); err == nil {
		t.Fatal("tampered snapshot restored")
	}
	if _, err := Restore([]byte("not a snapshot")); err == nil {
		t.Fatal("garbage restored")
	}
}

// FuzzApply applies arbitrary bytes after a valid history: never a panic,
// and a failed Apply changes nothing.
func FuzzApply(f *testing.F) {
	h := history(f)
	for _, data := range h[:6] {
		f.Add(data)
	}
	for _, data := range h[len(h)-8:] { // the task commands
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New()
		for _, c := range h[:len(h)-5] {
			_, _ = s.Apply(c)
		}
		before, _ := s.Snapshot()
		if _, err := s.Apply(data); err != nil {
			if after, _ := s.Snapshot(); !bytes.Equal(before, after) {
				t.Fatal("a failed Apply changed the state")
			}
		}
	})
}

func BenchmarkSubmit(b *testing.B) {
	l := &log{t: b}
	s := New()
	mustApply(b, s, l.cmd("bank", publish("customers", []string{"telco"})))
	mustApply(b, s, l.cmd("telco", publish("subscribers", []string{"bank"}, "bank")))
	cmds := make([][]byte, 0, 1<<16)
	for i := range 1 << 16 {
		cmds = append(cmds, l.cmd("bank", submit(fmt.Sprintf("job-%08d", i), fmt.Sprintf("key-%d", i))))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(cmds) == 0 && i > 0 {
			b.StopTimer()
			s = New()
			mustApply(b, s, l.cmd("bank", publish("customers", []string{"telco"})))
			mustApply(b, s, l.cmd("telco", publish("subscribers", []string{"bank"}, "bank")))
			b.StartTimer()
		}
		if _, err := s.Apply(cmds[i%len(cmds)]); err != nil {
			b.Fatal(err)
		}
	}
}
