package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/coordclient"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// harness runs the built binary in a folder, as a user would.
type harness struct {
	t     *testing.T
	dir   string
	bin   string
	procs map[string]*exec.Cmd
	logs  map[string]*syncBuffer
}

// The binary is built once per test process, into binDir, which TestMain
// removes.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildBinary() (string, error) {
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "mitai-test-bin-"); buildErr != nil {
			return
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "mitai"), ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	return filepath.Join(binDir, "mitai"), buildErr
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: t.TempDir(), bin: bin, procs: map[string]*exec.Cmd{}, logs: map[string]*syncBuffer{}}
	t.Cleanup(func() {
		for name := range h.procs {
			h.signal(name, syscall.SIGCONT) // a stopped process cannot act on SIGTERM
			h.signal(name, syscall.SIGTERM)
		}
		if t.Failed() {
			for name, log := range h.logs {
				t.Logf("--- %s log:\n%s", name, log.String())
			}
		}
	})
	return h
}

// syncBuffer is a log a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run runs the binary and returns its output; it fails the test on error.
func (h *harness) run(env []string, args ...string) string {
	h.t.Helper()
	out, err := h.try(env, args...)
	if err != nil {
		h.t.Fatalf("mitai %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (h *harness) try(env []string, args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Dir = h.dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start starts a long-running process named name.
func (h *harness) start(name string, args ...string) {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Dir = h.dir
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.procs[name], h.logs[name] = cmd, log
}

// signal sends sig to a process and, for a terminating signal, waits for it.
func (h *harness) signal(name string, sig syscall.Signal) {
	cmd := h.procs[name]
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	if sig == syscall.SIGSTOP || sig == syscall.SIGCONT {
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	delete(h.procs, name)
}

// killAll SIGKILLs the named processes at once, then reaps them.
func (h *harness) killAll(names ...string) {
	for _, name := range names {
		if cmd := h.procs[name]; cmd != nil {
			_ = cmd.Process.Kill()
		}
	}
	for _, name := range names {
		h.signal(name, syscall.SIGKILL)
	}
}

func (h *harness) write(name, text string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(text), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// electionTimeout is a test cluster's Raft election timeout, unless its
// settings name another; the fault tests count their bounds in it.
const electionTimeout = 600 * time.Millisecond

// clusterSettings are the replica settings a test chooses. Zero values
// take the replicas' defaults, except the Raft timeouts (300 ms heartbeat,
// 600 ms election, to keep fault tests short) and the log level (warn).
type clusterSettings struct {
	logLevel                        string
	heartbeat, election             time.Duration
	nodeTTL                         time.Duration
	snapshotThreshold, trailingLogs uint64
	snapshotInterval                time.Duration
}

// testCluster is three coordinator replicas, c1 to c3, run by a harness,
// with a cluster CA in pki/ and certificates for the parties bank and telco.
type testCluster struct {
	h     *harness
	ids   []string
	api   map[string]string // replica id -> API address
	apis  []string          // in id order
	caPEM []byte

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // "party@replica"
}

// startCluster issues certificates, writes c1.yaml to c3.yaml and starts
// the replicas, then waits until one of them leads.
func startCluster(h *harness, s clusterSettings) *testCluster {
	t := h.t
	t.Helper()
	if s.logLevel == "" {
		s.logLevel = "warn"
	}
	if s.heartbeat == 0 {
		s.heartbeat, s.election = electionTimeout/2, electionTimeout
	}
	h.run(nil, "ca", "init", "--dir", "pki")
	c := &testCluster{h: h, ids: []string{"c1", "c2", "c3"}, api: map[string]string{}, conns: map[string]*grpc.ClientConn{}}
	var peers []string
	for _, id := range c.ids {
		c.api[id] = freeAddr(t)
		c.apis = append(c.apis, c.api[id])
		peers = append(peers, fmt.Sprintf("  - {id: %s, raft: %q, api: %q}", id, freeAddr(t), c.api[id]))
		h.run(nil, "ca", "issue", "--ca-dir", "pki", "--party", "coordinator", "--node", id, "--host", "127.0.0.1")
	}
	for _, p := range []string{"bank", "telco"} {
		h.run(nil, "ca", "issue", "--ca-dir", "pki", "--party", p, "--node", "n1", "--host", "127.0.0.1")
	}
	var extra strings.Builder
	opt := func(name string, v any, set bool) {
		if set {
			fmt.Fprintf(&extra, "%s: %v\n", name, v)
		}
	}
	opt("node_ttl", s.nodeTTL, s.nodeTTL > 0)
	opt("snapshot_threshold", s.snapshotThreshold, s.snapshotThreshold > 0)
	opt("trailing_logs", s.trailingLogs, s.trailingLogs > 0)
	opt("snapshot_interval", s.snapshotInterval, s.snapshotInterval > 0)
	for _, id := range c.ids {
		h.write(id+".yaml", fmt.Sprintf("id: %s\ndata_dir: %s-data\nbootstrap: true\nlog_level: %s\nheartbeat_timeout: %v\nelection_timeout: %v\n%stls: {ca: pki/ca.crt, cert: pki/coordinator-%s.crt, key: pki/coordinator-%s.key}\npeers:\n%s\n",
			id, id, s.logLevel, s.heartbeat, s.election, extra.String(), id, id, strings.Join(peers, "\n")))
		c.startReplica(id)
	}
	var err error
	if c.caPEM, err = os.ReadFile(filepath.Join(h.dir, "pki", "ca.crt")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, cc := range c.conns {
			cc.Close()
		}
	})
	for _, id := range c.ids {
		c.client("bank", id) // status, from any goroutine, uses these
	}
	c.waitLeader(30*time.Second, "")
	return c
}

// startReplica starts (or restarts, on the same disk) replica id.
func (c *testCluster) startReplica(id string) {
	c.h.start(id, "coordinator", "--config", id+".yaml")
}

// env is the environment for the CLI as party (pki/PARTY-n1.crt).
func (c *testCluster) env(party string) []string {
	return []string{"MITAI_COORDINATOR=" + strings.Join(c.apis, ","), "MITAI_CA=pki/ca.crt",
		"MITAI_CERT=pki/" + party + "-n1.crt", "MITAI_KEY=pki/" + party + "-n1.key"}
}

func (c *testCluster) cert(party string) tls.Certificate {
	c.h.t.Helper()
	cert, err := pki.LoadCredentials(filepath.Join(c.h.dir, "pki", party+"-n1.crt"), filepath.Join(c.h.dir, "pki", party+"-n1.key"))
	if err != nil {
		c.h.t.Fatal(err)
	}
	return cert
}

// client is a client of replica id alone (no failover), with party's
// certificate; the connection is shared and closed with the test.
func (c *testCluster) client(party, id string) mitaiv1.CoordinatorClient {
	c.h.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[party+"@"+id]; ok {
		return mitaiv1.NewCoordinatorClient(cc)
	}
	opts, err := mtls.DialOptions(c.cert(party), c.caPEM, c.api[id], "coordinator")
	if err != nil {
		c.h.t.Fatal(err)
	}
	cc, err := grpc.NewClient(c.api[id], opts...)
	if err != nil {
		c.h.t.Fatal(err)
	}
	c.conns[party+"@"+id] = cc
	return mitaiv1.NewCoordinatorClient(cc)
}

// failover is a client that moves between replicas, as nodes and the CLI do.
func (c *testCluster) failover(party string) *coordclient.Client {
	c.h.t.Helper()
	cl, err := coordclient.Dial(c.apis, c.cert(party), c.caPEM, 30*time.Second)
	if err != nil {
		c.h.t.Fatal(err)
	}
	c.h.t.Cleanup(cl.Close)
	return cl
}

// status is replica id's own view of its Raft state.
func (c *testCluster) status(id string, timeout time.Duration) (*mitaiv1.ReplicaStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := c.client("bank", id).ClusterStatus(ctx, &mitaiv1.ClusterStatusRequest{LocalOnly: true})
	if err != nil {
		return nil, err
	}
	return resp.Replicas[0], nil
}

// leader asks every replica but skip and returns the one that leads in
// the highest term any of them reports, or "".
func (c *testCluster) leader(skip string) (string, *mitaiv1.ReplicaStatus) {
	var id string
	var best *mitaiv1.ReplicaStatus
	for _, r := range c.ids {
		if r == skip {
			continue
		}
		st, err := c.status(r, 300*time.Millisecond)
		if err == nil && st.State == "Leader" && (best == nil || st.Term > best.Term) {
			id, best = r, st
		}
	}
	return id, best
}

// waitLeader waits for a leader other than skip.
func (c *testCluster) waitLeader(timeout time.Duration, skip string) (string, *mitaiv1.ReplicaStatus) {
	c.h.t.Helper()
	var id string
	var st *mitaiv1.ReplicaStatus
	eventually(c.h.t, timeout, func() error {
		if id, st = c.leader(skip); id == "" {
			return fmt.Errorf("no leader (other than %q)", skip)
		}
		return nil
	})
	return id, st
}

// startNode writes PARTY.yaml (listen address, data dir PARTY-data, the
// cluster's replicas, 200 ms heartbeats, then extra YAML) and starts the
// node; it returns the node's address.
func (c *testCluster) startNode(party, extra string) string {
	addr := freeAddr(c.h.t)
	c.h.write(party+".yaml", fmt.Sprintf("party: %s\nlisten: %s\ndata_dir: %s-data\nlog_level: info\nheartbeat_interval: 200ms\ncoordinator: [%s]\ntls: {ca: pki/ca.crt, cert: pki/%s-n1.crt, key: pki/%s-n1.key}\n%s",
		party, addr, party, strings.Join(c.apis, ", "), party, party, extra))
	c.h.start(party, "node", "--config", party+".yaml")
	waitListening(c.h.t, addr)
	return addr
}

var leaderRow = regexp.MustCompile(`(?m)^(c\d)\s+\S+\s+Leader\s`)

// TestCoordinatorCluster runs three coordinator replicas and two nodes as
// processes: the nodes publish their datasets, a job is submitted, approved,
// survives a SIGKILL of the leader, and a retried submit is deduplicated.
func TestCoordinatorCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	h := newHarness(t)
	h.run(nil, "demo", "psi", "--rows", "500", "--overlap", "0.3", "--out", "demo", "--seed", "3")
	c := startCluster(h, clusterSettings{})
	env := c.env
	leader := func() string {
		out := h.run(env("bank"), "cluster", "status")
		if m := leaderRow.FindStringSubmatch(out); m != nil {
			return m[1]
		}
		return ""
	}
	for _, p := range []string{"bank", "telco"} {
		c.startNode(p, "")
	}
	h.run(nil, "dataset", "add", "--config", "bank.yaml", "--name", "customers", "--file", "demo/left.csv", "--partner", "telco", "--modes", "intersection,join")
	h.run(nil, "dataset", "add", "--config", "telco.yaml", "--name", "subscribers", "--file", "demo/right.csv", "--partner", "bank", "--modes", "join", "--reveal", "bank=segment")

	submit := []string{"job", "submit", "--participant", "bank:customers", "--participant", "telco:subscribers",
		"--receivers", "bank", "--mode", "join", "--columns", "segment", "--idempotency-key", "demo-1"}
	out := h.run(env("bank"), submit...)
	m := regexp.MustCompile(`job (job-[0-9a-f]+): awaiting_approval`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "waiting for approval by: telco") {
		t.Fatalf("submit: %s", out)
	}
	jobID := m[1]
	if out, err := h.try(env("bank"), "job", "approve", jobID); err == nil {
		t.Fatalf("bank approved for telco: %s", out)
	}
	if out := h.run(env("telco"), "job", "approve", jobID); !strings.Contains(out, "submitted") {
		t.Fatalf("approve: %s", out)
	}
	// The coordinator schedules the job on the two nodes, which run it.
	watch := h.run(env("bank"), "job", "watch", jobID, "--timeout", "60s")
	if !strings.Contains(watch, "succeeded") {
		t.Fatalf("watch: %s", watch)
	}
	if out := h.run(env("bank"), "cluster", "status"); !regexp.MustCompile(`bank/n1\s+\S+\s+alive`).MatchString(out) {
		t.Fatalf("cluster status without bank's node alive:\n%s", out)
	}
	results, _ := filepath.Glob(filepath.Join(h.dir, "bank-data", "results", jobID+"*.csv"))
	if len(results) != 1 {
		t.Fatalf("bank's result for %s: %v", jobID, results)
	}

	// SIGKILL the leader: another replica leads, the job is still there, and
	// a retried submit with the same key returns the same job.
	old := leader()
	killed := time.Now()
	h.signal(old, syscall.SIGKILL)
	eventually(t, 30*time.Second, func() error {
		if l := leader(); l == "" || l == old {
			return fmt.Errorf("no new leader (old %s)", old)
		}
		return nil
	})
	t.Logf("new leader %s, %v after SIGKILL of %s", leader(), time.Since(killed).Round(time.Millisecond), old)
	if out := h.run(env("telco"), "job", "status", jobID); !strings.Contains(out, "succeeded") || !strings.Contains(out, "consistent") {
		t.Fatalf("status after failover: %s", out)
	}
	if out := h.run(env("bank"), submit...); !strings.Contains(out, jobID) || !strings.Contains(out, "already submitted") {
		t.Fatalf("retried submit: %s", out)
	}
	// A party that is not involved does not see the job.
	h.run(nil, "ca", "issue", "--ca-dir", "pki", "--party", "bureau")
	bureau := []string{"MITAI_COORDINATOR=" + strings.Join(c.apis, ","), "MITAI_CA=pki/ca.crt", "MITAI_CERT=pki/bureau.crt", "MITAI_KEY=pki/bureau.key"}
	if out, err := h.try(bureau, "job", "status", jobID); err == nil {
		t.Fatalf("bureau saw the job: %s", out)
	}
	// The ledger exports, verifies, and a corrupted byte is caught and named.
	if out := h.run(env("bank"), "audit", "export", "--out", "ledger.jsonl"); !strings.Contains(out, "exported") {
		t.Fatalf("export: %s", out)
	}
	if out := h.run(nil, "audit", "verify", "--file", "ledger.jsonl", "--ca", "pki/ca.crt"); !strings.Contains(out, "ok") {
		t.Fatalf("verify: %s", out)
	}
	if out := h.run(env("telco"), "audit", "verify", "--live"); !strings.Contains(out, "ok: ") {
		t.Fatalf("verify --live: %s", out)
	}
	b, err := os.ReadFile(filepath.Join(h.dir, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// The nodes' statements are in the ledger, signed (verified with --ca above).
	for _, kind := range []string{"task.scheduled", "task.outcome", "result.delivered"} {
		if !strings.Contains(string(b), `"kind":"`+kind+`"`) {
			t.Fatalf("no %s entry in the ledger:\n%s", kind, b)
		}
	}
	lines := strings.SplitAfter(string(b), "\n")
	i := strings.Index(lines[2], `"kind":"`) + len(`"kind":"`)
	lines[2] = lines[2][:i] + "X" + lines[2][i+1:]
	h.write("ledger.jsonl", strings.Join(lines, ""))
	if out, err := h.try(nil, "audit", "verify", "--file", "ledger.jsonl"); err == nil || !strings.Contains(out, "entry 3") {
		t.Fatalf("verify of a corrupted ledger: err %v\n%s", err, out)
	}

	// The killed replica restarts from its disk and rejoins.
	c.startReplica(old)
	eventually(t, 30*time.Second, func() error {
		out := h.run(env("bank"), "cluster", "status")
		if strings.Contains(out, "unreachable") || strings.Count(out, "Follower") != 2 {
			return fmt.Errorf("cluster not whole again:\n%s", out)
		}
		return nil
	})
}
