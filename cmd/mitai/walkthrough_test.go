package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/internal/freeport"
)

// TestWalkthrough runs README.md's manual two-node walk-through with the
// built binary, as real processes: ca init, ca issue, two nodes, dataset
// add on each, a join from the command line; then a refused job.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mitai")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mitai %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("demo", "psi", "--rows", "2000", "--overlap", "0.3", "--out", "demo", "--seed", "7")
	run("ca", "init", "--dir", "pki")
	for _, p := range []string{"bank", "telco"} {
		run("ca", "issue", "--ca-dir", "pki", "--party", p, "--node", "n1", "--host", "127.0.0.1", "--host", "localhost")
	}
	ports := map[string]string{"bank": freeAddr(t), "telco": freeAddr(t)}
	for p, addr := range ports {
		cfg := fmt.Sprintf("party: %s\nlisten: %s\nmetrics_listen: %s\ndata_dir: %s-data\ntls: {ca: pki/ca.crt, cert: pki/%s-n1.crt, key: pki/%s-n1.key}\n",
			p, addr, freeAddr(t), p, p, p)
		if err := os.WriteFile(filepath.Join(dir, p+".yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "node", "--config", p+".yaml")
		cmd.Dir = dir
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
			if t.Failed() {
				t.Logf("%s node log:\n%s", p, log.String())
			}
		})
	}
	waitListening(t, ports["bank"])
	waitListening(t, ports["telco"])

	out := run("dataset", "add", "--config", "bank.yaml", "--name", "customers", "--file", "demo/left.csv",
		"--key-column", "id", "--partner", "telco", "--modes", "intersection,join")
	if !strings.Contains(out, "2000 rows") {
		t.Fatalf("dataset add: %s", out)
	}
	run("dataset", "add", "--config", "telco.yaml", "--name", "subscribers", "--file", "demo/right.csv",
		"--key-column", "id", "--partner", "bank", "--modes", "join", "--reveal", "bank=segment,tenure_months")
	if out := run("dataset", "list", "--config", "telco.yaml"); !strings.Contains(out, "subscribers") {
		t.Fatalf("dataset list: %s", out)
	}
	out = run("job", "run", "--config", "bank.yaml", "--dataset", "customers", "--peer", "telco",
		"--peer-address", ports["telco"], "--peer-dataset", "subscribers", "--mode", "join", "--columns", "segment,tenure_months")
	if !strings.Contains(out, "intersection: 600") || !strings.Contains(out, "result: ") {
		t.Fatalf("job run: %s", out)
	}

	// A column telco's policy does not reveal: refused, with the reason.
	cmd := exec.Command(bin, "job", "run", "--config", "bank.yaml", "--dataset", "customers", "--peer", "telco",
		"--peer-address", ports["telco"], "--peer-dataset", "subscribers", "--mode", "join", "--columns", "monthly_spend")
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), `column "monthly_spend" may not be revealed`) {
		t.Fatalf("refused job: err %v, output %s", err, b)
	}
}

func freeAddr(t *testing.T) string {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func waitListening(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
