package bench

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/coordinator"
)

// TestRunClusterTiny runs the cluster benchmark at tiny sizes, so that it
// keeps working: every phase runs against real replica processes.
func TestRunClusterTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts replica processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mitai")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/mitai").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunCluster(ctx, ClusterOptions{
		Dir: filepath.Join(dir, "work"), Binary: bin, Concurrency: 4, Connections: 2, Duration: 300 * time.Millisecond,
		ViaFollower: true, FailoverTrials: 1, LatencyJobs: 3, FakeNodes: 1, HeartbeatInterval: 100 * time.Millisecond,
		Tune:     func(c *coordinator.Config) { c.NodeTTL = time.Second },
		Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"serial", "concurrent_4", "serial_via_follower", "concurrent_4_via_follower", "concurrent_4_auto_approved"} {
		if rep.SubmitsPerSecond[k] <= 0 {
			t.Errorf("submits_per_second[%s] = %v", k, rep.SubmitsPerSecond[k])
		}
	}
	if len(rep.FailoverSeconds) != 1 || rep.FailoverSeconds[0] <= 0 || rep.FailoverSecondsMedian != rep.FailoverSeconds[0] {
		t.Errorf("failover seconds %v, median %v", rep.FailoverSeconds, rep.FailoverSecondsMedian)
	}
	if len(rep.ScheduleLatencyMs) != 3 || rep.ScheduleLatencyMsMedian < 0 {
		t.Errorf("schedule latencies %v", rep.ScheduleLatencyMs)
	}
	if rep.DiskCommitMsMedian <= 0 || rep.Host.Cores == 0 || rep.Settings["replicas"] != 3 {
		t.Errorf("disk %v, host %+v, settings %v", rep.DiskCommitMsMedian, rep.Host, rep.Settings)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"submits_per_second", "failover_seconds_median", "failover_seconds", "schedule_latency_ms_median", "host", "settings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
