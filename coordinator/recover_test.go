package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/mitai-dev/mitai/coordinator/state"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// TestRecoverFromQuorumLoss follows the runbook: two of three replicas are
// lost with their disks; the survivor's configuration is rewritten to
// itself and two fresh replicas, which start empty and catch up from it.
func TestRecoverFromQuorumLoss(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	l := c.leader()
	for _, cmd := range []*mitaiv1.Command{publishCmd("bank", "customers", "telco"), publishCmd("telco", "subscribers", "bank")} {
		if _, err := l.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if _, err := l.Propose(ctx, submitCmd(fmt.Sprintf("j%02d", i), "")); err != nil {
			t.Fatal(err)
		}
	}
	c.converge()
	survivor := l.cfg.ID
	var lost []string
	for id := range c.replicas {
		c.stop(id)
		if id != survivor {
			lost = append(lost, id)
		}
	}
	for _, id := range lost {
		if err := os.RemoveAll(c.cfgs[id].DataDir); err != nil {
			t.Fatal(err)
		}
		cfg := c.cfgs[id]
		cfg.Bootstrap = false // a replacement joins; it never bootstraps
		c.cfgs[id] = cfg
	}
	// Without recovery the survivor alone cannot elect itself: that is the
	// quorum loss. Recover rewrites its voter set.
	if err := Recover(c.cfgs[survivor], slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	for id := range c.cfgs {
		c.start(id)
	}
	c.converge()
	for _, id := range lost {
		c.replicas[id].Read(func(s *state.State) {
			if _, ok := s.Job("j09"); !ok {
				t.Fatalf("replacement %s lacks the survivor's jobs", id)
			}
		})
	}
	if _, err := c.leader().Propose(ctx, submitCmd("after-recovery", "")); err != nil {
		t.Fatal(err)
	}
	// Recover refuses a data dir without a log (an operator error).
	empty := c.cfgs[lost[0]]
	empty.DataDir = t.TempDir()
	if err := Recover(empty, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("recovered an empty data dir")
	}
}
