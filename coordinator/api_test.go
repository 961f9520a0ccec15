package coordinator

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// client returns a Coordinator client of party at replica id.
func (c *testCluster) client(party, id string) mitaiv1.CoordinatorClient {
	c.t.Helper()
	cr, err := c.ca.Issue(pki.IssueRequest{Party: party, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(cr.CertPEM, cr.KeyPEM)
	if err != nil {
		c.t.Fatal(err)
	}
	var addr string
	for _, p := range c.cfgs[id].Peers {
		if p.ID == id {
			addr = p.API
		}
	}
	opts, err := mtls.DialOptions(cert, c.ca.CertPEM, addr, CoordinatorParty)
	if err != nil {
		c.t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cc.Close() })
	return mitaiv1.NewCoordinatorClient(cc)
}

func (c *testCluster) followerID() string {
	l := c.leader()
	for id := range c.replicas {
		if id != l.cfg.ID {
			return id
		}
	}
	return ""
}

func TestAPI(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.leader()
	f := c.followerID()
	bank, telco, bureau := c.client("bank", f), c.client("telco", f), c.client("bureau", f)

	// Writes to a follower are forwarded to the leader.
	pol := func(partner string) *mitaiv1.Policy {
		return &mitaiv1.Policy{Partners: []string{partner}, Modes: []string{"intersection", "join"}}
	}
	if _, err := bank.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: &mitaiv1.DatasetInfo{Name: "customers", Policy: pol("telco")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := telco.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: &mitaiv1.DatasetInfo{Name: "subscribers", Policy: pol("bank")}}); err != nil {
		t.Fatal(err)
	}
	spec := &mitaiv1.JobSpec{Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
		Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}, IdempotencyKey: "once"}
	first, err := bank.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if first.Job.State != mitaiv1.JobState_JOB_STATE_AWAITING_APPROVAL {
		t.Fatalf("job %v", first.Job)
	}
	again, err := bank.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: spec})
	if err != nil || !again.Duplicate || again.Job.Id != first.Job.Id {
		t.Fatalf("retried submit: %v %v", err, again)
	}
	// Rules are enforced with a clear error.
	bad := &mitaiv1.JobSpec{Kind: "psi", Participants: []string{"bank:customers", "telco:nope"}, Receivers: []string{"bank"},
		Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}}
	if _, err := bank.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: bad}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("bad spec: %v", err)
	}
	if _, err := bank.ApproveJob(ctx, &mitaiv1.ApproveJobRequest{JobId: first.Job.Id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("bank approved for telco: %v", err)
	}
	approved, err := telco.ApproveJob(ctx, &mitaiv1.ApproveJobRequest{JobId: first.Job.Id})
	if err != nil || approved.State != mitaiv1.JobState_JOB_STATE_SUBMITTED {
		t.Fatalf("approve: %v %v", err, approved)
	}

	// A consistent read sees the write; only involved parties see the job.
	got, err := bank.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: first.Job.Id, Read: &mitaiv1.ReadOptions{Consistent: true}})
	if err != nil || got.Job.State != mitaiv1.JobState_JOB_STATE_SUBMITTED || got.Read.Stale {
		t.Fatalf("consistent read: %v %v", err, got)
	}
	if _, err := bureau.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: first.Job.Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("bureau saw bank's job: %v", err)
	}
	stale, err := bank.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: first.Job.Id})
	if err == nil && !stale.Read.Stale {
		t.Fatal("a follower's local read is not marked stale")
	}
	list, err := telco.ListJobs(ctx, &mitaiv1.ListJobsRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
	if err != nil || len(list.Jobs) != 1 {
		t.Fatalf("list: %v %v", err, list)
	}

	// The ledger holds every step and verifies; any party can read it.
	audit, err := bureau.AuditRange(ctx, &mitaiv1.AuditRangeRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range audit.Entries {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 4 || kinds[2] != "job.submitted" || kinds[3] != "job.approved" {
		t.Fatalf("ledger kinds %v", kinds)
	}
	if err := ledger.Verify(audit.Entries, nil); err != nil {
		t.Fatal(err)
	}

	// Only replicas may propose directly.
	if _, err := bank.Propose(ctx, &mitaiv1.ProposeRequest{Command: &mitaiv1.Command{}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a client proposed: %v", err)
	}
	st, err := bank.ClusterStatus(ctx, &mitaiv1.ClusterStatusRequest{})
	if err != nil || len(st.Replicas) != 3 {
		t.Fatalf("cluster status: %v %v", err, st)
	}
	leaders := 0
	for _, r := range st.Replicas {
		if r.State == "Leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("cluster status shows %d leaders: %v", leaders, st)
	}
}

// TestNoQuorum: with two of three replicas gone, a write waits the hold
// time and fails with a retryable UNAVAILABLE, and acknowledged data stays.
func TestNoQuorum(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, true, func(cfg *Config) { cfg.LeaderHold = time.Second })
	ctx := context.Background()
	c.leader()
	survivor := c.followerID()
	for id := range c.replicas {
		if id != survivor {
			c.stop(id)
		}
	}
	bank := c.client("bank", survivor)
	start := time.Now()
	_, err := bank.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: &mitaiv1.DatasetInfo{Name: "x", Policy: &mitaiv1.Policy{}}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("write without quorum: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the write hung for %v", d)
	}
}

// TestAuditRangePages: a large ledger comes back in pages that chain.
func TestAuditRangePages(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, true, nil)
	ctx := context.Background()
	bank := c.client("bank", c.leader().cfg.ID)
	cols := make([]string, 4000) // ~100 KiB per entry
	for i := range cols {
		cols[i] = fmt.Sprintf("column-%020d", i)
	}
	const n = 30
	for i := range n {
		info := &mitaiv1.DatasetInfo{Name: fmt.Sprintf("d%d", i), Columns: cols, Policy: &mitaiv1.Policy{}}
		if _, err := bank.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: info}); err != nil {
			t.Fatal(err)
		}
	}
	var all []*mitaiv1.AuditEntry
	pages := 0
	for from := uint64(1); ; pages++ {
		r, err := bank.AuditRange(ctx, &mitaiv1.AuditRangeRequest{From: from, Read: &mitaiv1.ReadOptions{Consistent: true}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r.Entries...)
		if r.Next == 0 {
			break
		}
		if r.Next != from+uint64(len(r.Entries)) {
			t.Fatalf("next %d after %d entries from %d", r.Next, len(r.Entries), from)
		}
		from = r.Next
	}
	if len(all) != n || pages < 1 {
		t.Fatalf("%d entries in %d pages", len(all), pages+1)
	}
	if err := ledger.VerifyRange(all, 1, nil); err != nil {
		t.Fatal(err)
	}
}
