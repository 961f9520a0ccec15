package coordinator

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// fakeNode is a party node as the coordinator sees it: a certificate and
// an API client, driven by hand.
type fakeNode struct {
	t     *testing.T
	party string
	name  string
	cert  tls.Certificate
	api   mitaiv1.CoordinatorClient
}

func (c *testCluster) node(party, name, replica string) *fakeNode {
	c.t.Helper()
	cr, err := c.ca.Issue(pki.IssueRequest{Party: party, Node: name, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(cr.CertPEM, cr.KeyPEM)
	if err != nil {
		c.t.Fatal(err)
	}
	opts, err := mtls.DialOptions(cert, c.ca.CertPEM, c.cfgs[replica].self().API, CoordinatorParty)
	if err != nil {
		c.t.Fatal(err)
	}
	cc, err := grpc.NewClient(c.cfgs[replica].self().API, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cc.Close() })
	return &fakeNode{t: c.t, party: party, name: name, cert: cert, api: mitaiv1.NewCoordinatorClient(cc)}
}

func (n *fakeNode) beat(slots uint32, running ...*mitaiv1.TaskRef) *mitaiv1.HeartbeatResponse {
	n.t.Helper()
	datasets := map[string][]string{"bank": {"customers"}, "telco": {"subscribers"}}[n.party]
	resp, err := n.api.Heartbeat(context.Background(), &mitaiv1.HeartbeatRequest{
		Node: n.name, Address: "127.0.0.1:1", Datasets: datasets, Slots: slots, Running: running,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	return resp
}

// statement is a signed report of this node about an attempt.
func (n *fakeNode) statement(kind string, ref *mitaiv1.TaskRef, ok bool) *mitaiv1.SignedOutcome {
	n.t.Helper()
	b, err := proto.Marshal(&mitaiv1.TaskOutcome{Task: ref, Node: state.NodeKey(n.party, n.name), Ok: ok,
		Report: &mitaiv1.TaskReport{ResultDigest: "ab"}})
	if err != nil {
		n.t.Fatal(err)
	}
	e := &mitaiv1.AuditEntry{Kind: kind, Actor: n.party, Subject: ref.TaskId, Detail: b}
	if err := ledger.Sign(e, n.cert.Certificate[0], n.cert.PrivateKey.(crypto.Signer)); err != nil {
		n.t.Fatal(err)
	}
	return &mitaiv1.SignedOutcome{Kind: kind, Outcome: b, SignerCert: e.SignerCert, Signature: e.Signature}
}

func (n *fakeNode) report(s *mitaiv1.SignedOutcome) error {
	_, err := n.api.ReportTask(context.Background(), &mitaiv1.ReportTaskRequest{Signed: s})
	return err
}

// TestSchedulerLifecycle drives jobs through the scheduler with fake
// nodes: slot limits, RUNNING on the initiator's confirmation, signed
// outcomes and deliveries, a lease expiry, the next attempt, and a stale
// attempt's late report.
func TestSchedulerLifecycle(t *testing.T) {
	t.Parallel()
	// Long enough that a loaded CI machine does not expire the first attempt
	// while the test checks that the second job waits for its slot.
	const ttl = 2 * time.Second
	c := newCluster(t, 1, true, func(cfg *Config) { cfg.NodeTTL = ttl })
	ctx := context.Background()
	id := c.leader().cfg.ID
	bank, telco := c.node("bank", "n1", id), c.node("telco", "n1", id)
	auto := func(partner string) *mitaiv1.Policy {
		return &mitaiv1.Policy{Partners: []string{partner}, Modes: []string{"intersection"}, AutoApprove: []string{partner}}
	}
	for _, p := range []struct {
		n    *fakeNode
		name string
		pol  *mitaiv1.Policy
	}{{bank, "customers", auto("telco")}, {telco, "subscribers", auto("bank")}} {
		if _, err := p.n.api.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: &mitaiv1.DatasetInfo{Name: p.name, Policy: p.pol}}); err != nil {
			t.Fatal(err)
		}
	}
	bank.beat(1)
	telco.beat(4)
	var jobs []string
	for _, key := range []string{"a", "b"} {
		r, err := bank.api.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: &mitaiv1.JobSpec{
			Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
			Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}, IdempotencyKey: key,
		}})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, r.Job.Id)
	}
	job := func(id string) *mitaiv1.Job {
		t.Helper()
		r, err := bank.api.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: id, Read: &mitaiv1.ReadOptions{Consistent: true}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Job
	}
	waitState := func(id string, want mitaiv1.JobState) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for job(id).State != want {
			if time.Now().After(deadline) {
				t.Fatalf("job %s: %v, want %v", id, job(id).State, want)
			}
			bank.beat(1)
			telco.beat(4)
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitState(jobs[0], mitaiv1.JobState_JOB_STATE_SCHEDULED)
	// bank/n1 has one slot: the second job waits.
	time.Sleep(200 * time.Millisecond)
	if s := job(jobs[1]).State; s != mitaiv1.JobState_JOB_STATE_SUBMITTED {
		t.Fatalf("second job %v while the only bank slot is taken", s)
	}
	start := bank.beat(1).Start
	if len(start) != 1 || start[0].JobId != jobs[0] || start[0].Term == 0 {
		t.Fatalf("start %v", start)
	}
	ref := &mitaiv1.TaskRef{TaskId: state.TaskID(jobs[0]), Attempt: start[0].Attempt, Term: start[0].Term}
	bank.beat(1, ref)
	if s := job(jobs[0]).State; s != mitaiv1.JobState_JOB_STATE_RUNNING {
		t.Fatalf("after the initiator confirmed: %v", s)
	}

	// Reports must be signed by the reporting connection's certificate.
	if err := telco.report(bank.statement(state.KindTaskOutcome, ref, true)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("telco relayed bank's statement: %v", err)
	}
	forged := bank.statement(state.KindTaskOutcome, ref, true)
	forged.Outcome = append([]byte(nil), forged.Outcome...)
	forged.Outcome[len(forged.Outcome)-1] ^= 1
	if err := bank.report(forged); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a statement changed after signing: %v", err)
	}
	if err := bank.report(&mitaiv1.SignedOutcome{Kind: state.KindTaskOutcome}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an empty statement: %v", err)
	}
	if err := bank.report(bank.statement(state.KindTaskOutcome, ref, true)); err != nil {
		t.Fatal(err)
	}
	if err := bank.report(bank.statement(state.KindResultDelivered, ref, true)); err != nil {
		t.Fatal(err)
	}
	if s := job(jobs[0]).State; s != mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("after the outcome: %v", s)
	}

	// The slot is free: the second job runs; telco goes silent, its lease
	// expires, the attempt is aborted and attempt 2 waits for telco.
	waitState(jobs[1], mitaiv1.JobState_JOB_STATE_SCHEDULED)
	start = bank.beat(1).Start
	if len(start) != 1 || start[0].JobId != jobs[1] {
		t.Fatalf("start %v", start)
	}
	stale := &mitaiv1.TaskRef{TaskId: state.TaskID(jobs[1]), Attempt: 1, Term: start[0].Term}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := bank.beat(1, stale)
		if len(resp.Abort) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attempt of a silent node was not aborted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitState(jobs[1], mitaiv1.JobState_JOB_STATE_SCHEDULED) // telco beats again: attempt 2
	r, err := bank.api.AuditRange(ctx, &mitaiv1.AuditRangeRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bank.report(bank.statement(state.KindTaskOutcome, stale, true)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a late report of the aborted attempt: %v", err)
	}

	// The ledger verifies with the CA: the signed entries are the nodes'.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.ca.CertPEM)
	if err := ledger.VerifyRange(r.Entries, 1, roots); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range r.Entries {
		kinds[e.Kind]++
		if (e.Kind == state.KindTaskOutcome || e.Kind == state.KindResultDelivered) && len(e.Signature) == 0 {
			t.Fatalf("unsigned %s entry", e.Kind)
		}
	}
	if kinds["task.started"] != 2 || kinds[state.KindTaskOutcome] != 1 || kinds[state.KindResultDelivered] != 1 ||
		kinds["task.aborted"] != 1 || kinds["task.scheduled"] != 3 {
		t.Fatalf("ledger kinds %v", kinds)
	}
}
