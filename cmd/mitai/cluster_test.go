package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// harness runs the built binary in a folder, as a user would.
type harness struct {
	t     *testing.T
	dir   string
	bin   string
	procs map[string]*exec.Cmd
	logs  map[string]*bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, bin: filepath.Join(dir, "mitai"), procs: map[string]*exec.Cmd{}, logs: map[string]*bytes.Buffer{}}
	if out, err := exec.Command("go", "build", "-o", h.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for name := range h.procs {
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
	log := &bytes.Buffer{}
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
	h.run(nil, "ca", "init", "--dir", "pki")
	type replica struct{ id, raft, api string }
	var reps []replica
	for i := 1; i <= 3; i++ {
		reps = append(reps, replica{fmt.Sprintf("c%d", i), freeAddr(t), freeAddr(t)})
		h.run(nil, "ca", "issue", "--ca-dir", "pki", "--party", "coordinator", "--node", reps[i-1].id, "--host", "127.0.0.1")
	}
	var peers, apis []string
	for _, r := range reps {
		peers = append(peers, fmt.Sprintf("  - {id: %s, raft: %q, api: %q}", r.id, r.raft, r.api))
		apis = append(apis, r.api)
	}
	for _, r := range reps {
		h.write(r.id+".yaml", fmt.Sprintf("id: %s\ndata_dir: %s-data\nbootstrap: true\nlog_level: warn\nheartbeat_timeout: 300ms\nelection_timeout: 600ms\ntls: {ca: pki/ca.crt, cert: pki/coordinator-%s.crt, key: pki/coordinator-%s.key}\npeers:\n%s\n",
			r.id, r.id, r.id, r.id, strings.Join(peers, "\n")))
		h.start(r.id, "coordinator", "--config", r.id+".yaml")
	}
	for _, p := range []string{"bank", "telco"} {
		h.run(nil, "ca", "issue", "--ca-dir", "pki", "--party", p, "--node", "n1", "--host", "127.0.0.1")
	}
	env := func(party string) []string {
		return []string{"MITAI_COORDINATOR=" + strings.Join(apis, ","), "MITAI_CA=pki/ca.crt",
			"MITAI_CERT=pki/" + party + "-n1.crt", "MITAI_KEY=pki/" + party + "-n1.key"}
	}
	leader := func() string {
		out := h.run(env("bank"), "cluster", "status")
		if m := leaderRow.FindStringSubmatch(out); m != nil {
			return m[1]
		}
		return ""
	}
	eventually(t, 30*time.Second, func() error {
		if leader() == "" {
			return fmt.Errorf("no leader yet")
		}
		return nil
	})

	nodeAddr := map[string]string{"bank": freeAddr(t), "telco": freeAddr(t)}
	for p, addr := range nodeAddr {
		h.write(p+".yaml", fmt.Sprintf("party: %s\nlisten: %s\ndata_dir: %s-data\nlog_level: info\nheartbeat_interval: 200ms\ncoordinator: [%s]\ntls: {ca: pki/ca.crt, cert: pki/%s-n1.crt, key: pki/%s-n1.key}\n",
			p, addr, p, strings.Join(apis, ", "), p, p))
		h.start(p, "node", "--config", p+".yaml")
		waitListening(t, addr)
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
	watch := h.run(env("bank"), "job", "watch", jobID, "--interval", "100ms", "--timeout", "60s")
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
	bureau := []string{"MITAI_COORDINATOR=" + strings.Join(apis, ","), "MITAI_CA=pki/ca.crt", "MITAI_CERT=pki/bureau.crt", "MITAI_KEY=pki/bureau.key"}
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
	h.start(old, "coordinator", "--config", old+".yaml")
	eventually(t, 30*time.Second, func() error {
		out := h.run(env("bank"), "cluster", "status")
		if strings.Contains(out, "unreachable") || strings.Count(out, "Follower") != 2 {
			return fmt.Errorf("cluster not whole again:\n%s", out)
		}
		return nil
	})
}
