package state

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// creditCatalog has bank:features, bureau:features and telco:features,
// each allowing the multi-party kinds with the other two, auto-approved.
func creditCatalog(t *testing.T, l *log) *State {
	s := New()
	parties := []string{"bank", "bureau", "telco"}
	for _, p := range parties {
		var partners []string
		for _, q := range parties {
			if q != p {
				partners = append(partners, q)
			}
		}
		pub := &mitaiv1.PublishDatasetCommand{Info: &mitaiv1.DatasetInfo{
			Name: "features", KeyColumn: "id", Rows: 100, Digest: strings.Repeat("ab", 32),
			Policy: &mitaiv1.Policy{Partners: partners, Modes: []string{"mpsi", "keygen", "score"}, AutoApprove: partners},
		}}
		mustApply(t, s, l.cmd(p, pub))
		mustApply(t, s, l.cmd(p, &mitaiv1.RegisterNodeCommand{Node: "n1", Address: "127.0.0.1:1", Datasets: []string{"features"}}))
	}
	return s
}

var creditParticipants = []string{"bank:features", "bureau:features", "telco:features"}

func groupJob(id, kind string, receivers ...string) *mitaiv1.SubmitJobCommand {
	spec := &mitaiv1.JobSpec{Kind: kind, Participants: creditParticipants, Receivers: receivers}
	switch kind {
	case "mpsi":
		spec.Psi = &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}
	case "keygen":
		spec.Keygen = &mitaiv1.KeygenParams{}
	}
	return &mitaiv1.SubmitJobCommand{JobId: id, Spec: spec, Seed: make([]byte, 32)}
}

// succeed runs a job's single task to success with the given report, on
// the given nodes (default: n1 of every party).
func succeed(t *testing.T, s *State, l *log, job string, report *mitaiv1.TaskReport, nodes ...string) {
	t.Helper()
	if nodes == nil {
		nodes = []string{"bank/n1", "bureau/n1", "telco/n1"}
	}
	mustApply(t, s, l.cmd("", &mitaiv1.ScheduleTaskCommand{JobId: job, TaskId: TaskID(job), Attempt: 1, Term: 2, Nodes: nodes}))
	task := &mitaiv1.TaskRef{TaskId: TaskID(job), Attempt: 1, Term: 2}
	r := mustApply(t, s, l.cmd("bank", outcome(KindTaskOutcome, nodes[0], task, "", report)))
	if r.Job.State != mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job %s: %v", job, r.Job.State)
	}
}

// TestScoreNeedsAlignmentAndKeySet: a score job names a succeeded mpsi job
// over the same datasets and a key set a succeeded keygen job published;
// the scheduler's task spec carries the key set's id.
func TestScoreNeedsAlignmentAndKeySet(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := creditCatalog(t, l)
	all := []string{"bank", "bureau", "telco"}
	reject := func(what string, c *mitaiv1.SubmitJobCommand, want string) {
		t.Helper()
		_, err := s.Apply(l.cmd("bank", c))
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want a rejection saying %q", what, err, want)
		}
	}
	reject("mpsi to one receiver", groupJob("a0", "mpsi", "bank"), "every participant")
	noSeed := groupJob("k0", "keygen", all...)
	noSeed.Seed = nil
	reject("keygen without a seed", noSeed, "seed")
	mustApply(t, s, l.cmd("bank", groupJob("a1", "mpsi", all...)))
	mustApply(t, s, l.cmd("bank", groupJob("k1", "keygen", all...)))
	keySet := strings.Repeat("cd", 32)

	scoreJob := func(id, align, ks string) *mitaiv1.SubmitJobCommand {
		c := groupJob(id, "score", "bank")
		c.Spec.Score = &mitaiv1.ScoreParams{Alignment: align, KeySet: ks, Model: "credit"}
		return c
	}
	reject("score before the alignment ended", scoreJob("s0", "a1", keySet), "not succeeded")
	succeed(t, s, l, "a1", &mitaiv1.TaskReport{Rows: 60, ResultDigest: "ab"})
	reject("score before the key set exists", scoreJob("s0", "a1", keySet), "no succeeded keygen")
	succeed(t, s, l, "k1", &mitaiv1.TaskReport{KeySet: keySet, ResultDigest: keySet})
	if ks := s.KeySets(); len(ks) != 1 || ks[0].Id != keySet || ks[0].JobId != "k1" {
		t.Fatalf("published key sets: %v", ks)
	}
	// The index is derived: a state restored from the jobs and tasks alone
	// (this test's statements carry no real certificates, so its ledger
	// would not verify) finds the key set again.
	snap, err := proto.Marshal(&mitaiv1.CoordinatorSnapshot{Jobs: s.Jobs(), Tasks: s.sortedTasks()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	if ks := r.KeySets(); len(ks) != 1 || ks[0].Id != keySet {
		t.Fatalf("key sets after a snapshot restore: %v", ks)
	}
	bad := scoreJob("s0", "a1", keySet)
	bad.Spec.Receivers = []string{"bureau"}
	reject("score to a partner", bad, "only receiver")
	reject("score with a psi job as alignment", scoreJob("s0", "k1", keySet), "not an mpsi job")
	bad = scoreJob("s0", "a1", keySet)
	bad.Spec.Score.Model = "../etc/passwd"
	reject("score with a path as model", bad, "model")

	// By key set id or by keygen job id.
	for _, ref := range []string{keySet, "k1"} {
		id := "s-" + ref[:2]
		mustApply(t, s, l.cmd("bank", scoreJob(id, "a1", ref)))
		mustApply(t, s, l.cmd("", &mitaiv1.ScheduleTaskCommand{JobId: id, TaskId: TaskID(id), Attempt: 1, Term: 2, Nodes: []string{"bank/n1", "bureau/n1", "telco/n1"}}))
		task, _ := s.Task(TaskID(id))
		job, _ := s.Job(id)
		if job.Spec.Score.KeySet != ref || task == nil {
			t.Fatalf("job %s: %v %v", id, job, task)
		}
	}
	if ks, ok := s.KeySet("k1"); !ok || ks.Id != keySet || len(ks.Participants) != 3 {
		t.Fatalf("KeySet(k1) = %v, %v", ks, ok)
	}
	if pin, err := s.PinnedNodes(scoreJob("s9", "a1", keySet).Spec); err != nil || pin["bank"] != "bank/n1" || len(pin) != 3 {
		t.Fatalf("pinned nodes: %v, %v", pin, err)
	}

	// A key set made on another node of the bank than the alignment's
	// cannot be used with it: the share and the rows must meet.
	mustApply(t, s, l.cmd("bank", &mitaiv1.RegisterNodeCommand{Node: "n2", Address: "127.0.0.1:2", Datasets: []string{"features"}}))
	mustApply(t, s, l.cmd("bank", groupJob("k2", "keygen", all...)))
	other := strings.Repeat("ef", 32)
	succeed(t, s, l, "k2", &mitaiv1.TaskReport{KeySet: other, ResultDigest: other}, "bank/n2", "bureau/n1", "telco/n1")
	reject("score with the share and the rows on different nodes", scoreJob("s8", "a1", other), "same node")
}
