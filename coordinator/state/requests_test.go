package state

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// withRequest sets a command's request id, as the replica that received
// the client's call does.
func withRequest(t *testing.T, data []byte, id string) []byte {
	var c mitaiv1.Command
	if err := proto.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	c.RequestId = id
	b, err := proto.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRetriedRequestReturnsFirstResult: a command re-sent with the same
// request id (its first send committed, the answer was lost) changes
// nothing and answers like the first, also after a snapshot restore.
func TestRetriedRequestReturnsFirstResult(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := catalog(t, l)
	sub := withRequest(t, l.cmd("bank", submit("j1", "k1")), "r1")
	first := mustApply(t, s, sub)
	retry := withRequest(t, l.cmd("bank", submit("j1-retry", "k1")), "r1") // a later time, the same request
	before, _ := s.Snapshot()
	again := mustApply(t, s, retry)
	if again.Duplicate || again.Job.Id != first.Job.Id || again.AuditIndex != first.AuditIndex {
		t.Fatalf("retry answered %+v, first %+v", again, first)
	}
	if after, _ := s.Snapshot(); !bytes.Equal(before, after) {
		t.Fatal("a retried request changed the state")
	}
	// Another call with the same idempotency key is a duplicate, as before.
	if r := mustApply(t, s, withRequest(t, l.cmd("bank", submit("j2", "k1")), "r2")); !r.Duplicate || r.Job.Id != "j1" {
		t.Fatalf("second call with the key: %+v", r)
	}
	// An approval retried after it committed answers like the first.
	approve := withRequest(t, l.cmd("telco", &mitaiv1.ApproveJobCommand{JobId: "j1"}), "r3")
	a1 := mustApply(t, s, approve)
	a2 := mustApply(t, s, approve)
	if a1.Job.State != mitaiv1.JobState_JOB_STATE_SUBMITTED || a2.AuditIndex != a1.AuditIndex {
		t.Fatalf("approve %+v then %+v", a1, a2)
	}
	// The memory survives a snapshot: a restored replica answers alike.
	snap, _ := s.Snapshot()
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	if res := mustApply(t, r, retry); res.Job.Id != "j1" || res.Duplicate {
		t.Fatalf("restored replica answered %+v", res)
	}
}

// TestRequestsExpire: requests are forgotten after RequestTTL of leader
// time, in apply order.
func TestRequestsExpire(t *testing.T) {
	t.Parallel()
	l := &log{t: t}
	s := catalog(t, l)
	mustApply(t, s, withRequest(t, l.cmd("bank", submit("j1", "")), "old"))
	l.time += RequestTTL
	mustApply(t, s, withRequest(t, l.cmd("bank", submit("j2", "")), "new"))
	if _, ok := s.requests["old"]; ok {
		t.Fatal("an expired request is remembered")
	}
	if _, ok := s.requests["new"]; !ok || len(s.requestLog) != 1 {
		t.Fatalf("requests %v", s.requestLog)
	}
	// Past the TTL, a resend is applied anew (and refused here: the id is taken).
	if _, err := s.Apply(withRequest(t, l.cmd("bank", submit("j1", "")), "old")); err == nil {
		t.Fatal("a forgotten request was answered from memory")
	}
}
