package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/internal/tuning"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// TestNodeLoadsTuning: a profile in the data folder sets the kernels and the
// worker counts; a profile that names a variant no CPU has stops the node
// with an error naming the profile.
func TestNodeLoadsTuning(t *testing.T) {
	if os.Getenv(kernel.EnvVar) != "" {
		t.Skip(kernel.EnvVar + " is set: the node ignores the profile's kernels")
	}
	prev, prevLimbs := kernel.Active(), he.LimbParallelism()
	defer func() { kernel.SetActive(prev); he.SetLimbParallelism(prevLimbs) }()
	c := newCluster(t)
	dir := filepath.Join(c.dir, "bank")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := &tuning.Profile{Version: tuning.Version, Host: tuning.ThisHost(),
		Kernels: map[string]string{"NTT": kernel.Generic}, ScoreWorkers: 3, PSIWorkers: 1, LimbParallelism: 2, PSIBatchSize: 1024}
	if err := p.Save(filepath.Join(dir, tuning.FileName)); err != nil {
		t.Fatal(err)
	}
	n := c.start("bank", nil)
	if got := kernel.Active().Name(); got != "tuned" {
		t.Fatalf("active kernel %s, want the profile's composition", got)
	}
	if n.exec.scoreWorkers != 3 || n.exec.psiWorkers != 1 || he.LimbParallelism() != 2 || n.exec.psiBatchSize != 1024 {
		t.Fatalf("workers score=%d psi=%d limbs=%d, psi batch %d, want 3, 1, 2 and 1024", n.exec.scoreWorkers, n.exec.psiWorkers, he.LimbParallelism(), n.exec.psiBatchSize)
	}

	bad := filepath.Join(c.dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version":1,"kernels":{"NTT":"avx1024"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := c.creds(c.ca, "telco", "telco-bad")
	cfg := DefaultConfig()
	cfg.Party, cfg.Listen, cfg.DataDir, cfg.Tuning = "telco", "127.0.0.1:0", filepath.Join(c.dir, "telco"), bad
	cfg.TLS = TLSFiles{CA: c.caFile(), Cert: certFile, Key: keyFile}
	_, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "avx1024") || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("New with a bad profile: %v", err)
	}
}

// TestPSIBatchSizesDiffer: two nodes whose profiles give different PSI batch
// sizes run a join over gRPC and mTLS; they agree on the smaller, and the
// result is the one equal sizes give.
func TestPSIBatchSizesDiffer(t *testing.T) {
	t.Parallel()
	_, bank, telco := standardCluster(t, policy([]string{"bank"}, []string{"join"}, map[string][]string{"bank": {"segment", "spend"}}, 0))
	bank.exec.psiBatchSize, telco.exec.psiBatchSize = 1, 3
	rep, err := bank.Executor().Run(context.Background(), spec(psi.Join, telco.Addr(), []string{"bank"}, []string{"segment", "spend"}))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"id", "name", "income", "telco.segment", "telco.spend"},
		{"1", "张三", "100", `business, "gold"`, "10"},
		{"3", "Wang", "300", "postpaid", "33.5"},
	}
	if got := readResult(t, rep.ResultPath); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("result %q, want %q", got, want)
	}
}
