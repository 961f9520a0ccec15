package coordinator

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndReadiness: /readyz follows the leader's presence, and
// /metrics reports the Raft state, commits and jobs by state.
func TestMetricsAndReadiness(t *testing.T) {
	t.Parallel()
	addrs := map[string]string{}
	c := newCluster(t, 3, true, func(cfg *Config) {
		cfg.MetricsListen = freeAddr(t)
		cfg.LeaderHold = time.Second
		addrs[cfg.ID] = cfg.MetricsListen
	})
	l := c.leader()
	id := l.cfg.ID
	bank := c.client("bank", id)
	if _, err := bank.PublishDataset(context.Background(), &mitaiv1.PublishDatasetRequest{Info: &mitaiv1.DatasetInfo{Name: "customers", Policy: &mitaiv1.Policy{}}}); err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet(t, "http://"+addrs[id]+"/readyz"); code != http.StatusOK {
		t.Fatalf("leader not ready: %d %s", code, body)
	}
	code, body := httpGet(t, "http://"+addrs[id]+"/metrics")
	for _, want := range []string{
		`mitai_coordinator_raft_state{state="Leader"} 1`,
		`mitai_coordinator_commit_seconds_count{command="PublishDataset"} 1`,
		`mitai_coordinator_jobs{state="succeeded"} 0`,
		`mitai_coordinator_audit_entries 1`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
	// Alone, a follower knows no leader: not ready, but alive.
	f := c.followerID()
	for rid := range c.replicas {
		if rid != f {
			c.stop(rid)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, "http://"+addrs[f]+"/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "no known leader") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a replica without quorum stays ready: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := httpGet(t, "http://"+addrs[f]+"/livez"); code != http.StatusOK {
		t.Fatalf("livez %d", code)
	}
}

// TestOversizedCommand: a command that would make a large log entry is
// refused before it reaches the log.
func TestOversizedCommand(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, true, nil)
	bank := c.client("bank", c.leader().cfg.ID)
	cols := make([]string, 0, 40000)
	for range 40000 {
		cols = append(cols, "column-with-a-long-name")
	}
	_, err := bank.PublishDataset(context.Background(), &mitaiv1.PublishDatasetRequest{Info: &mitaiv1.DatasetInfo{Name: "wide", Columns: cols, Policy: &mitaiv1.Policy{}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "KiB") {
		t.Fatalf("oversized command: %v", err)
	}
}
