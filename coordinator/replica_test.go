package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/freeport"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// testCluster is n replicas in this process, each with its own data dir,
// talking Raft over TLS on loopback.
type testCluster struct {
	t        *testing.T
	dir      string
	ca       *pki.CA
	cfgs     map[string]Config
	replicas map[string]*Replica
	// servers is set when the cluster serves the API too.
	servers map[string]*Server
}

func freeAddr(t *testing.T) string {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func newTestCluster(t *testing.T, n int, edit func(*Config)) *testCluster {
	return newCluster(t, n, false, edit)
}

func newCluster(t *testing.T, n int, withAPI bool, edit func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir(), cfgs: map[string]Config{}, replicas: map[string]*Replica{}}
	if withAPI {
		c.servers = map[string]*Server{}
	}
	var err error
	if c.ca, err = pki.NewCA("test", time.Hour); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(c.dir, "ca.crt")
	if err := os.WriteFile(caFile, c.ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var peers []Peer
	for i := range n {
		peers = append(peers, Peer{ID: fmt.Sprintf("c%d", i+1), Raft: freeAddr(t), API: freeAddr(t)})
	}
	for _, p := range peers {
		cr, err := c.ca.Issue(pki.IssueRequest{Party: CoordinatorParty, Node: p.ID, Hosts: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cr.Save(c.dir, p.ID); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.ID, cfg.Peers, cfg.Bootstrap = p.ID, peers, true
		cfg.DataDir = filepath.Join(c.dir, p.ID)
		cfg.TLS = TLSFiles{CA: caFile, Cert: filepath.Join(c.dir, p.ID+".crt"), Key: filepath.Join(c.dir, p.ID+".key")}
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = 200*time.Millisecond, 400*time.Millisecond
		cfg.LogLevel = "error"
		if edit != nil {
			edit(&cfg)
		}
		c.cfgs[p.ID] = cfg
		c.start(p.ID)
	}
	t.Cleanup(func() {
		for id := range c.replicas {
			c.stop(id)
		}
	})
	return c
}

func (c *testCluster) start(id string) *Replica {
	c.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.servers != nil {
		s, err := NewServer(c.cfgs[id], log)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			c.t.Fatal(err)
		}
		c.servers[id] = s
		c.replicas[id] = s.Replica()
		return s.Replica()
	}
	r, err := NewReplica(c.cfgs[id], log)
	if err != nil {
		c.t.Fatal(err)
	}
	c.replicas[id] = r
	return r
}

func (c *testCluster) stop(id string) {
	c.t.Helper()
	var err error
	if s, ok := c.servers[id]; ok {
		err = s.Stop()
		delete(c.servers, id)
	} else {
		err = c.replicas[id].Shutdown()
	}
	if err != nil {
		c.t.Error(err)
	}
	delete(c.replicas, id)
}

// leader waits for a leader among the running replicas.
func (c *testCluster) leader() *Replica {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range c.replicas {
			if r.IsLeader() {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader within 10 s")
	return nil
}

// converge waits until every running replica has applied as far as the leader.
func (c *testCluster) converge() {
	c.t.Helper()
	l := c.leader()
	if err := l.Consistent(); err != nil {
		c.t.Fatal(err)
	}
	want := l.Status().AppliedIndex
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range c.replicas {
		for r.Status().AppliedIndex < want {
			if time.Now().After(deadline) {
				c.t.Fatalf("%s applied %d, leader %d", r.cfg.ID, r.Status().AppliedIndex, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (c *testCluster) heads() map[string][32]byte {
	out := map[string][32]byte{}
	for id, r := range c.replicas {
		r.Read(func(s *state.State) { out[id] = s.Ledger().Head() })
	}
	return out
}

func publishCmd(party, name string, partners ...string) *mitaiv1.Command {
	return &mitaiv1.Command{Actor: party, Body: &mitaiv1.Command_PublishDataset{PublishDataset: &mitaiv1.PublishDatasetCommand{
		Info: &mitaiv1.DatasetInfo{Name: name, KeyColumn: "id", Policy: &mitaiv1.Policy{Partners: partners, Modes: []string{"intersection"}, AutoApprove: partners}},
	}}}
}

func submitCmd(id, key string) *mitaiv1.Command {
	return &mitaiv1.Command{Actor: "bank", Body: &mitaiv1.Command_SubmitJob{SubmitJob: &mitaiv1.SubmitJobCommand{JobId: id, Spec: &mitaiv1.JobSpec{
		Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
		Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}, IdempotencyKey: key,
	}}}}
}

func TestReplicasAgreeAndSurviveLeaderLoss(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	l := c.leader()
	for _, cmd := range []*mitaiv1.Command{publishCmd("bank", "customers", "telco"), publishCmd("telco", "subscribers", "bank")} {
		if _, err := l.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		r, err := l.Propose(ctx, submitCmd(fmt.Sprintf("j%02d", i), fmt.Sprintf("k%d", i)))
		if err != nil || r.Job.State != mitaiv1.JobState_JOB_STATE_SUBMITTED {
			t.Fatalf("submit %d: %v %v", i, err, r.Job)
		}
	}
	// A follower refuses to propose.
	for _, r := range c.replicas {
		if !r.IsLeader() {
			if _, err := r.Propose(ctx, submitCmd("x", "")); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("follower proposed: %v", err)
			}
			break
		}
	}
	c.converge()
	heads := c.heads()
	for id, h := range heads {
		if h != heads[l.cfg.ID] {
			t.Fatalf("replica %s's ledger differs from the leader's", id)
		}
	}

	// Lose the leader: another takes over, writes go on, and the old leader
	// comes back from its disk and catches up.
	old := l.cfg.ID
	start := time.Now()
	c.stop(old)
	l = c.leader()
	if _, err := l.Propose(ctx, submitCmd("after-failover", "")); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover to %s: next write acknowledged %v after the leader stopped", l.cfg.ID, time.Since(start).Round(time.Millisecond))
	// The retried submit of an earlier key is deduplicated by the new leader.
	r, err := l.Propose(ctx, submitCmd("j99", "k3"))
	if err != nil || !r.Duplicate || r.Job.Id != "j03" {
		t.Fatalf("retry after failover: %v %+v", err, r)
	}
	c.start(old)
	c.converge()
	heads = c.heads()
	for id, h := range heads {
		if h != heads[l.cfg.ID] {
			t.Fatalf("replica %s differs after rejoining", id)
		}
	}
	c.replicas[old].Read(func(s *state.State) {
		if _, ok := s.Job("after-failover"); !ok {
			t.Fatal("the rejoined replica misses a write made while it was down")
		}
	})
}

// TestSnapshotCatchUp: a follower that was down while the log was compacted
// catches up by installing a snapshot.
func TestSnapshotCatchUp(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold, cfg.TrailingLogs = 64, 16 })
	ctx := context.Background()
	l := c.leader()
	for _, cmd := range []*mitaiv1.Command{publishCmd("bank", "customers", "telco"), publishCmd("telco", "subscribers", "bank")} {
		if _, err := l.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	var follower string
	for id := range c.replicas {
		if id != l.cfg.ID {
			follower = id
			break
		}
	}
	c.stop(follower)
	for i := range 300 {
		if _, err := l.Propose(ctx, submitCmd(fmt.Sprintf("j%03d", i), "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Snapshot(); err != nil {
		t.Fatal(err)
	}
	r := c.start(follower)
	c.converge()
	if got := r.raft.Stats()["last_snapshot_index"]; got == "0" || got == "" {
		t.Fatalf("the follower caught up without a snapshot (last_snapshot_index %q)", got)
	}
	if c.heads()[follower] != c.heads()[l.cfg.ID] {
		t.Fatal("the follower's ledger differs after the snapshot install")
	}
	r.Read(func(s *state.State) {
		if len(s.Jobs()) != 300 {
			t.Fatalf("follower has %d jobs, want 300", len(s.Jobs()))
		}
	})
}

// TestRaftPortRefusesOtherParties: only coordinator certificates may speak Raft.
func TestRaftPortRefusesOtherParties(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, nil)
	cr, err := c.ca.Issue(pki.IssueRequest{Party: "bank", Node: "n1", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(cr.CertPEM, cr.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(cert, c.ca.CertPEM, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", c.cfgs["c1"].Peers[0].Raft, cfg)
	if err == nil {
		// TLS 1.3 reports the server's refusal on the first read.
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a bank certificate reached the Raft port")
	}
	t.Logf("refused: %v", err)
}
