package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/bench"
)

func benchClusterCmd() *cobra.Command {
	var o bench.ClusterOptions
	var asJSON bool
	var out string
	cmd := &cobra.Command{
		Use:   "cluster [--json] [--out DIR]",
		Short: "Start a 3-replica coordinator cluster and measure submit throughput, failover time and scheduling latency",
		Long: `Starts three coordinator replicas as processes of this binary (Raft over TLS
on loopback, raft-boltdb logs on disk in DIR or a temporary folder), publishes
two datasets whose policies auto-approve each other's party, and measures:

  - scheduling latency: jobs submitted one at a time to the leader while fake
    nodes (goroutines with node certificates of each party) heartbeat; from
    the ledger's job.submitted to task.scheduled entries (leader-stamped ms),
    and from the client's acknowledgement to a read showing the job scheduled;
  - submits per second: acknowledged SubmitJob calls (each with a new
    idempotency key), one submitter and --concurrency submitters, sent to the
    leader and, with --via-follower, to a follower that forwards them;
  - failover: SIGKILL of the leader until a write is acknowledged by the new
    leader, --trials times, restarting the killed replica in between.

With --out DIR the replicas' data and logs, report.json and (with --profile)
the CPU profiles stay in DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				o.Progress = os.Stderr
			} else {
				o.Progress = cmd.OutOrStdout()
			}
			if out != "" {
				abs, err := filepath.Abs(out)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(abs, 0o755); err != nil {
					return err
				}
				if err := os.RemoveAll(filepath.Join(abs, "cluster")); err != nil {
					return err
				}
				o.Dir = abs
			} else if o.Profile {
				return fmt.Errorf("--profile needs --out DIR to keep the profile in")
			}
			rep, err := bench.RunCluster(cmd.Context(), o)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(filepath.Join(o.Dir, "report.json"), append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			if asJSON {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			printClusterReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Concurrency, "concurrency", 128, "concurrent submitters")
	f.IntVar(&o.Connections, "connections", 8, "gRPC connections the concurrent submitters share")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each throughput phase")
	f.BoolVar(&o.ViaFollower, "via-follower", true, "also measure submits sent to a follower (forwarded to the leader)")
	f.IntVar(&o.FailoverTrials, "trials", 5, "leader kills")
	f.IntVar(&o.LatencyJobs, "latency-jobs", 100, "jobs whose scheduling latency is measured, one at a time")
	f.IntVar(&o.FakeNodes, "fake-nodes", 2, "heartbeating fake nodes per party")
	f.BoolVar(&o.Profile, "profile", false, "CPU-profile every replica during each submit phase to DIR/ROLE-ID-cpu-PHASE.pprof")
	f.StringArrayVar(&o.ReplicaEnv, "replica-env", nil, "KEY=VALUE added to the replicas' environment (repeatable), e.g. GOMAXPROCS=1")
	f.StringVar(&o.Binary, "binary", "", "mitai binary the replicas run (default: this one), to compare builds")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (progress goes to stderr)")
	f.StringVar(&out, "out", "", "keep the working folder (replica data and logs, report.json) in DIR")
	return cmd
}

func printClusterReport(w io.Writer, r *bench.ClusterReport) {
	fmt.Fprintf(w, "\ncoordinator cluster: 3 replicas, Raft heartbeat %v / election %v, TLS on loopback, bolt on disk (%s, %d cores, %s)\n",
		r.Settings["raft_heartbeat_timeout"], r.Settings["raft_election_timeout"], r.Host.CPU, r.Host.Cores, r.Host.GoVersion)
	fmt.Fprintf(w, "%-52s %12s %10s %7s\n", "figure", "measured", "goal", "ratio")
	goal := func(name string) string {
		g, ok := r.Goals[name]
		if !ok {
			return fmt.Sprintf("%10s %7s", "", "")
		}
		cmp := ">="
		if g.Better == "lower" {
			cmp = "<"
		}
		met := ""
		if !g.Met {
			met = " (missed)"
		}
		return fmt.Sprintf("%10s %7.2f%s", fmt.Sprintf("%s %g", cmp, g.Goal), g.Ratio, met)
	}
	for _, p := range r.Submits {
		name := "submits/s, " + strings.ReplaceAll(p.Name, "_", " ")
		if p.Target == "leader" {
			name += ", to leader"
		}
		fmt.Fprintf(w, "%-52s %12.0f %s\n", name, p.PerSecond, goal("submits_per_second."+p.Name))
	}
	fmt.Fprintf(w, "%-52s %12.2f %s\n", fmt.Sprintf("failover s, median of %d", len(r.FailoverSeconds)), r.FailoverSecondsMedian, goal("failover_seconds_median"))
	fmt.Fprintf(w, "%-52s %12.0f %s\n", "schedule latency ms, median (ledger)", r.ScheduleLatencyMsMedian, goal("schedule_latency_ms_median"))
	fmt.Fprintf(w, "%-52s %12.1f\n", "schedule latency ms, median (client)", r.ScheduleObservedMsMedian)
	fmt.Fprintf(w, "%-52s %12.2f   (serial floor %.0f/s)\n", "one log append with fsync, ms (median)", r.DiskCommitMsMedian, r.SerialFloorPerSecond)
	fs := slices.Clone(r.FailoverSeconds)
	fmt.Fprintf(w, "\nfailover trials (s): %v\n", fmtFloats(fs, 2))
	fmt.Fprintf(w, "submit latency: ")
	for i, p := range r.Submits {
		if i > 0 {
			fmt.Fprintf(w, "; ")
		}
		fmt.Fprintf(w, "%s p50 %.1f ms p99 %.1f ms", p.Name, p.P50Ms, p.P99Ms)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "CPU µs per submit (leader / both followers / client): ")
	for i, p := range r.Submits {
		if i > 0 {
			fmt.Fprintf(w, "; ")
		}
		c := p.CPUMicrosPerSubmit
		fmt.Fprintf(w, "%s %.0f / %.0f / %.0f", p.Name, c["leader"], c["followers"], c["client"])
	}
	fmt.Fprintln(w)
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "CPU profile: go tool pprof -top %s\n", p)
	}
}

func fmtFloats(xs []float64, prec int) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.*f", prec, x))
	}
	return strings.Join(parts, ", ")
}
