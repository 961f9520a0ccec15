package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/grpc"

	"github.com/mitai-dev/mitai/bench/localnet"
	"github.com/mitai-dev/mitai/coordinator"
	"github.com/mitai-dev/mitai/internal/coordclient"
	"github.com/mitai-dev/mitai/internal/tuning"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// ClusterOptions configure RunCluster.
type ClusterOptions struct {
	// Dir is the working folder (replica data and logs, the profile); empty
	// means a temporary one, removed after.
	Dir string
	// Binary is the mitai binary for the replicas; empty means this executable.
	Binary string
	// Concurrency is the number of concurrent submitters; default 128.
	Concurrency int
	// Connections is the number of gRPC connections the concurrent
	// submitters share, round robin; default 8.
	Connections int
	// Duration of each throughput phase; default 5 s.
	Duration time.Duration
	// ViaFollower also measures submits sent to a follower, which forwards
	// them to the leader.
	ViaFollower bool
	// FailoverTrials is the number of leader kills; default 5.
	FailoverTrials int
	// LatencyJobs is the number of jobs whose scheduling latency is
	// measured, one at a time; default 100.
	LatencyJobs int
	// FakeNodes is the number of heartbeating fake nodes per party; default 2.
	FakeNodes int
	// Slots each fake node reports; default 1000.
	Slots uint32
	// HeartbeatInterval of the fake nodes; default 1 s (the node default).
	HeartbeatInterval time.Duration
	// Profile takes a CPU profile of every replica during each submit
	// phase and writes it to Dir/ROLE-ID-cpu-PHASE.pprof (ROLE leader or
	// follower).
	Profile bool
	// Tune, if set, adjusts each replica's configuration (Raft timeouts).
	Tune func(*coordinator.Config)
	// ReplicaEnv is added to each replica's environment (GOMAXPROCS=1, say).
	ReplicaEnv []string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

func (o *ClusterOptions) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 128
	}
	if o.Connections <= 0 {
		o.Connections = 8
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.FailoverTrials <= 0 {
		o.FailoverTrials = 5
	}
	if o.LatencyJobs <= 0 {
		o.LatencyJobs = 100
	}
	if o.FakeNodes <= 0 {
		o.FakeNodes = 2
	}
	if o.Slots == 0 {
		o.Slots = 1000
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// ClusterReport is the outcome of RunCluster. Every figure is measured in
// this run.
type ClusterReport struct {
	// SubmitsPerSecond are acknowledged SubmitJob calls per second, by
	// phase: "concurrent_N" and "serial" go to the leader,
	// "..._via_follower" to a follower that forwards them; their jobs wait
	// for approval. "concurrent_N_auto_approved" submits jobs that are
	// approved at once and stay pending for the scheduler (no live node).
	SubmitsPerSecond map[string]float64 `json:"submits_per_second"`
	Submits          []SubmitPhase      `json:"submit_phases"`
	// FailoverSecondsMedian is the median time from SIGKILL of the leader
	// to a write acknowledged by the new leader.
	FailoverSecondsMedian float64         `json:"failover_seconds_median"`
	FailoverSeconds       []float64       `json:"failover_seconds"`
	Failovers             []FailoverTrial `json:"failover_trials"`
	// ScheduleLatencyMsMedian is the median, over LatencyJobs jobs, of the
	// leader-stamped time between a job's job.submitted and its
	// task.scheduled ledger entries.
	ScheduleLatencyMsMedian float64 `json:"schedule_latency_ms_median"`
	ScheduleLatencyMsP90    float64 `json:"schedule_latency_ms_p90"`
	ScheduleLatencyMsMax    float64 `json:"schedule_latency_ms_max"`
	// ScheduleObservedMsMedian is the client's view: from the submit's
	// acknowledgement until a read on the leader shows the job scheduled
	// (polled every 2 ms).
	ScheduleObservedMsMedian float64   `json:"schedule_observed_ms_median"`
	ScheduleLatencyMs        []float64 `json:"schedule_latency_ms"`
	// DiskCommitMsMedian is the median time of appending one entry to a
	// raft-boltdb log (a bolt transaction with its fsyncs) in the working
	// folder, measured in this run. A serial submit waits for two of them
	// one after the other (the leader's, then a follower's), which bounds
	// serial throughput at SerialFloorPerSecond.
	DiskCommitMsMedian   float64         `json:"disk_commit_ms_median"`
	SerialFloorPerSecond float64         `json:"serial_floor_per_second"`
	Goals                map[string]Goal `json:"goals"`
	Host                 Host            `json:"host"`
	Settings             map[string]any  `json:"settings"`
	// Profiles are the CPU profiles taken with ClusterOptions.Profile.
	Profiles   []string           `json:"profiles,omitempty"`
	FinalState map[string]float64 `json:"final_state"`
}

// SubmitPhase is one throughput phase.
type SubmitPhase struct {
	Name       string `json:"name"`
	Target     string `json:"target"` // "leader" or "follower"
	Replica    string `json:"replica"`
	Submitters int    `json:"submitters"`
	// Submitter is the submitting party: "bureau" (the jobs wait for
	// approval) or "bank" (auto-approved, pending for the scheduler).
	Submitter   string  `json:"submitter"`
	Connections int     `json:"connections"`
	Acked       int64   `json:"acked"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50Ms       float64 `json:"latency_p50_ms"`
	P99Ms       float64 `json:"latency_p99_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	// CPUMicrosPerSubmit is the CPU time (user + system, from
	// /proc/PID/stat) each process spent per acknowledged submit during
	// the phase: "leader", "followers" (both together), "client" (this
	// process, which runs the submitters) and "total".
	CPUMicrosPerSubmit map[string]float64 `json:"cpu_us_per_submit,omitempty"`
}

// FailoverTrial is one leader kill.
type FailoverTrial struct {
	Killed    string  `json:"killed"`
	NewLeader string  `json:"new_leader"`
	Term      uint64  `json:"term"`
	Seconds   float64 `json:"seconds"`
	// CatchUpSeconds is how long the restarted replica took to rejoin and
	// apply everything committed so far.
	CatchUpSeconds float64 `json:"catch_up_seconds"`
}

// Goal is a target and whether the measurement meets it.
type Goal struct {
	Measured float64 `json:"measured"`
	Goal     float64 `json:"goal"`
	// Better is "higher" or "lower".
	Better string `json:"better"`
	// Ratio is measured/goal.
	Ratio float64 `json:"ratio"`
	Met   bool    `json:"met"`
}

// Host describes the machine.
type Host struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// The job of the benchmark: a PSI intersection over the two published
// datasets, each of whose policies auto-approves the other owner's jobs.
var benchSpecTemplate = &mitaiv1.JobSpec{
	Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
	Psi: &mitaiv1.PsiParams{Mode: psi.Intersection.Proto()},
}

func benchSpec(key string) *mitaiv1.JobSpec {
	return &mitaiv1.JobSpec{
		Kind: benchSpecTemplate.Kind, Participants: benchSpecTemplate.Participants, Receivers: benchSpecTemplate.Receivers,
		Psi: benchSpecTemplate.Psi, IdempotencyKey: key,
	}
}

// schedulerPeriod is the coordinator scheduler's tick (coordinator/scheduler.go).
const schedulerPeriod = 100 * time.Millisecond

type clusterBench struct {
	o     ClusterOptions
	c     *localnet.Cluster
	rep   *ClusterReport
	nonce string
	// nodeTTL is the replicas' node_ttl.
	nodeTTL time.Duration
}

// RunCluster starts a coordinator cluster of 3 replica processes, publishes
// two datasets, and measures, in this order: scheduling latency with fake
// nodes heartbeating; submit throughput, serial and concurrent, to the
// leader and through a follower; concurrent submits of auto-approved jobs
// that pile up for the scheduler (no node is live any more); and failover
// after SIGKILL of the leader.
func RunCluster(ctx context.Context, o ClusterOptions) (*ClusterReport, error) {
	o.defaults()
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "mitai-bench-cluster-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	rep := &ClusterReport{
		SubmitsPerSecond: map[string]float64{},
		Goals:            map[string]Goal{},
		Host:             Host{CPU: tuning.CPUModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH},
		FinalState:       map[string]float64{},
	}
	// The replicas' settings as they run, for the report.
	var cfg coordinator.Config
	tune := func(c *coordinator.Config) {
		if o.Tune != nil {
			o.Tune(c)
		}
		cfg = *c
	}
	copts := localnet.ClusterOptions{Dir: filepath.Join(o.Dir, "cluster"), Binary: o.Binary, LogLevel: "warn", Tune: tune, Pprof: o.Profile, Env: o.ReplicaEnv}
	start := time.Now()
	c, err := localnet.StartCluster(ctx, copts)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	leader := c.Leader(ctx)
	if leader == nil {
		return nil, errors.New("bench: the cluster lost its leader")
	}
	fmt.Fprintf(o.Progress, "started 3 coordinator replicas in %.1f s; %s leads in term %d (logs in %s)\n", time.Since(start).Seconds(), leader.Id, leader.Term, copts.Dir)
	rep.Settings = map[string]any{
		"replicas": len(c.Replicas), "raft_heartbeat_timeout": cfg.HeartbeatTimeout.String(), "raft_election_timeout": cfg.ElectionTimeout.String(),
		"leader_hold": cfg.LeaderHold.String(), "node_ttl": cfg.NodeTTL.String(), "snapshot_threshold": cfg.SnapshotThreshold,
		"storage": "raft-boltdb (fsync on every append) on the local disk", "transport": "TLS 1.3 on loopback",
		"concurrency": o.Concurrency, "connections": o.Connections, "phase_seconds": o.Duration.Seconds(),
		"failover_trials": o.FailoverTrials, "latency_jobs": o.LatencyJobs, "fake_nodes_per_party": o.FakeNodes,
		"fake_node_slots": o.Slots, "fake_node_heartbeat": o.HeartbeatInterval.String(),
		"client": "this process, on the same cores as the replicas", "replica_env": o.ReplicaEnv,
	}
	b := &clusterBench{o: o, c: c, rep: rep, nonce: fmt.Sprintf("%x", rand.Uint64()), nodeTTL: cfg.NodeTTL}
	if rep.DiskCommitMsMedian, err = diskCommit(filepath.Join(o.Dir, "disk-probe"), 200); err != nil {
		return nil, err
	}
	rep.SerialFloorPerSecond = 1000 / (2 * rep.DiskCommitMsMedian)
	fmt.Fprintf(o.Progress, "one raft-boltdb append with fsync on this disk: median %.2f ms (a serial submit waits for two: at most %.0f/s)\n", rep.DiskCommitMsMedian, rep.SerialFloorPerSecond)
	if err := b.publish(ctx); err != nil {
		return nil, err
	}
	if err := b.scheduleLatency(ctx); err != nil {
		return nil, err
	}
	if err := b.throughput(ctx); err != nil {
		return nil, err
	}
	if err := b.autoApproved(ctx); err != nil {
		return nil, err
	}
	if err := b.failover(ctx); err != nil {
		return nil, err
	}
	if l := c.Leader(ctx); l != nil {
		rep.FinalState["raft_last_index"] = float64(l.LastIndex)
	}
	b.goals()
	return rep, nil
}

func (b *clusterBench) goals() {
	r := b.rep
	add := func(name string, measured, goal float64, higher bool) {
		g := Goal{Measured: measured, Goal: goal, Better: "lower"}
		if higher {
			g.Better = "higher"
			g.Met = measured >= goal
		} else {
			g.Met = measured < goal
		}
		if goal != 0 {
			g.Ratio = measured / goal
		}
		r.Goals[name] = g
	}
	add(fmt.Sprintf("submits_per_second.concurrent_%d", b.o.Concurrency), r.SubmitsPerSecond[fmt.Sprintf("concurrent_%d", b.o.Concurrency)], 5000, true)
	add("submits_per_second.serial", r.SubmitsPerSecond["serial"], 400, true)
	add("failover_seconds_median", r.FailoverSecondsMedian, 3, false)
	add("schedule_latency_ms_median", r.ScheduleLatencyMsMedian, 100, false)
}

// publish publishes the two datasets, each owner with its own certificate.
func (b *clusterBench) publish(ctx context.Context) error {
	for _, d := range []struct{ party, name, partner string }{{"bank", "customers", "telco"}, {"telco", "subscribers", "bank"}} {
		cl, err := b.c.Client(d.party, 30*time.Second)
		if err != nil {
			return err
		}
		info := &mitaiv1.DatasetInfo{
			Name: d.name, KeyColumn: "id", Columns: []string{"id"}, Rows: 1 << 20, Digest: fmt.Sprintf("%064x", 0),
			Policy: &mitaiv1.Policy{Partners: []string{d.partner}, Modes: []string{"intersection"}, AutoApprove: []string{d.partner}},
		}
		err = cl.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) error {
			_, err := c.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: info})
			return err
		})
		cl.Close()
		if err != nil {
			return fmt.Errorf("bench: publish %s:%s: %w", d.party, d.name, err)
		}
	}
	fmt.Fprintf(b.o.Progress, "published bank:customers and telco:subscribers, each auto-approving the other party\n")
	return nil
}

// fakeNodes heartbeat like real nodes holding the datasets, with many
// slots, and never run the attempts they are given.
type fakeNodes struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	beats  atomic.Int64
	fails  atomic.Int64
	ready  sync.WaitGroup
}

func (b *clusterBench) startFakeNodes(ctx context.Context) (*fakeNodes, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &fakeNodes{cancel: cancel}
	for _, p := range []struct{ party, dataset string }{{"bank", "customers"}, {"telco", "subscribers"}} {
		for i := 1; i <= b.o.FakeNodes; i++ {
			name := fmt.Sprintf("fake%d", i)
			cert, err := b.c.Credentials(p.party, name)
			if err != nil {
				f.stop()
				return nil, err
			}
			cl, err := coordclient.Dial(b.c.APIs(), cert, b.c.CA.CertPEM, 10*time.Second)
			if err != nil {
				f.stop()
				return nil, err
			}
			req := &mitaiv1.HeartbeatRequest{Node: name, Address: "127.0.0.1:1", Datasets: []string{p.dataset}, Slots: b.o.Slots}
			f.wg.Add(1)
			f.ready.Add(1)
			go func() {
				defer f.wg.Done()
				defer cl.Close()
				first := true
				t := time.NewTicker(b.o.HeartbeatInterval)
				defer t.Stop()
				for {
					err := cl.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) error {
						_, err := c.Heartbeat(ctx, req)
						return err
					})
					if err == nil {
						f.beats.Add(1)
						if first {
							first = false
							f.ready.Done()
						}
					} else if ctx.Err() == nil {
						f.fails.Add(1)
					}
					select {
					case <-ctx.Done():
						if first {
							f.ready.Done()
						}
						return
					case <-t.C:
					}
				}
			}()
		}
	}
	return f, nil
}

func (f *fakeNodes) stop() {
	f.cancel()
	f.wg.Wait()
}

// leaderConn returns a new connection, as party, to the current leader and
// the leader's id.
func (b *clusterBench) leaderConn(ctx context.Context, party string) (*grpc.ClientConn, string, error) {
	l := b.c.Leader(ctx)
	if l == nil {
		return nil, "", errors.New("bench: no leader")
	}
	cc, err := b.c.Dial(party, b.c.Replica(l.Id).API)
	return cc, l.Id, err
}

// scheduleLatency submits LatencyJobs jobs one at a time to the leader
// while fake nodes heartbeat, and measures how long each waits to be
// scheduled: from the ledger's leader-stamped job.submitted and
// task.scheduled entries, and as the client sees it.
func (b *clusterBench) scheduleLatency(ctx context.Context) error {
	nodes, err := b.startFakeNodes(ctx)
	if err != nil {
		return err
	}
	defer nodes.stop()
	nodes.ready.Wait()
	fmt.Fprintf(b.o.Progress, "%d fake nodes per party heartbeat every %v with %d slots\n", b.o.FakeNodes, b.o.HeartbeatInterval, b.o.Slots)
	cc, leaderID, err := b.leaderConn(ctx, autoSubmitter)
	if err != nil {
		return err
	}
	defer cc.Close()
	cl := mitaiv1.NewCoordinatorClient(cc)
	var observed []float64
	var ids []string
	var firstIndex uint64
	for i := range b.o.LatencyJobs {
		resp, err := cl.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: benchSpec(fmt.Sprintf("%s-latency-%d", b.nonce, i))})
		if err != nil {
			return fmt.Errorf("bench: latency submit %d: %w", i, err)
		}
		acked := time.Now()
		if firstIndex == 0 {
			firstIndex = resp.Job.AuditIndex
		}
		ids = append(ids, resp.Job.Id)
		deadline := acked.Add(30 * time.Second)
		for {
			g, err := cl.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: resp.Job.Id})
			if err != nil {
				return fmt.Errorf("bench: read job %s: %w", resp.Job.Id, err)
			}
			if g.Job.State == mitaiv1.JobState_JOB_STATE_SCHEDULED {
				observed = append(observed, float64(time.Since(acked).Microseconds())/1e3)
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bench: job %s not scheduled within 30 s (%v)", resp.Job.Id, g.Job.State)
			}
			time.Sleep(2 * time.Millisecond)
		}
		// The next submit follows this job's scheduling closely; a pause
		// drawn uniformly from one scheduler period (100 ms today) makes
		// submits arrive at a uniformly random phase of the scheduler's
		// cycle, as independent clients' would.
		time.Sleep(time.Duration(rand.Int64N(int64(schedulerPeriod))))
	}
	// The ledger, read consistently through the leader.
	ar, err := cl.AuditRange(ctx, &mitaiv1.AuditRangeRequest{From: firstIndex, Read: &mitaiv1.ReadOptions{Consistent: true}})
	if err != nil {
		return fmt.Errorf("bench: audit range: %w", err)
	}
	submitted, scheduled := map[string]int64{}, map[string]int64{}
	for _, e := range ar.Entries {
		switch e.Kind {
		case "job.submitted":
			submitted[e.Subject] = e.TimeUnixMs
		case "task.scheduled":
			if _, ok := scheduled[e.Subject]; !ok {
				scheduled[e.Subject] = e.TimeUnixMs
			}
		}
	}
	var ledgerMs []float64
	for _, id := range ids {
		s, ok1 := submitted[id]
		t, ok2 := scheduled[id+".t0"]
		if !ok1 || !ok2 {
			return fmt.Errorf("bench: job %s: ledger entries missing (submitted %v, scheduled %v)", id, ok1, ok2)
		}
		ledgerMs = append(ledgerMs, float64(t-s))
	}
	r := b.rep
	r.ScheduleLatencyMs = ledgerMs
	r.ScheduleLatencyMsMedian = quantile(ledgerMs, 0.5)
	r.ScheduleLatencyMsP90 = quantile(ledgerMs, 0.9)
	r.ScheduleLatencyMsMax = quantile(ledgerMs, 1)
	r.ScheduleObservedMsMedian = quantile(observed, 0.5)
	r.Settings["latency_leader"] = leaderID
	fmt.Fprintf(b.o.Progress, "schedule latency over %d jobs: median %.0f ms, p90 %.0f ms, max %.0f ms (ledger); client-observed median %.1f ms; %d heartbeats, %d failed\n",
		len(ledgerMs), r.ScheduleLatencyMsMedian, r.ScheduleLatencyMsP90, r.ScheduleLatencyMsMax, r.ScheduleObservedMsMedian, nodes.beats.Load(), nodes.fails.Load())
	// Stop the fake nodes and wait until the leader has aborted their
	// attempts (after the node TTL), so that the throughput phases run
	// without live nodes: their jobs stay pending, none is scheduled.
	nodes.stop()
	waitStart := time.Now()
	for {
		ar, err := cl.AuditRange(ctx, &mitaiv1.AuditRangeRequest{From: firstIndex})
		if err != nil {
			return fmt.Errorf("bench: audit range: %w", err)
		}
		aborted := 0
		for _, e := range ar.Entries {
			if e.Kind == "task.aborted" {
				aborted++
			}
		}
		if aborted >= len(ids) {
			break
		}
		if time.Since(waitStart) > b.nodeTTL+time.Minute {
			return fmt.Errorf("bench: after the fake nodes stopped, %d of %d attempts were aborted within %v", aborted, len(ids), time.Since(waitStart))
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(b.o.Progress, "stopped the fake nodes; the leader aborted their %d attempts %.1f s later (node TTL %v)\n", len(ids), time.Since(waitStart).Seconds(), b.nodeTTL)

	return nil
}

// The throughput phases. Jobs submitted by bank are auto-approved and
// become runnable at once; jobs submitted by bureau, which neither policy
// auto-approves, wait for both owners' approval. The write path is the same
// for both (validation against the catalog and the published policies, a
// Raft commit on two of three disks, a ledger entry); only the auto-approved
// ones join the scheduler's pending set, which with no live node grows with
// every submit.
const (
	autoSubmitter    = "bank"
	pendingSubmitter = "bureau"
)

type submitPhaseSpec struct {
	name     string
	workers  int
	conns    int
	toLeader bool
	party    string
}

// throughput runs the write-path phases.
func (b *clusterBench) throughput(ctx context.Context) error {
	phases := []submitPhaseSpec{{"serial", 1, 1, true, pendingSubmitter}, {fmt.Sprintf("concurrent_%d", b.o.Concurrency), b.o.Concurrency, b.o.Connections, true, pendingSubmitter}}
	if b.o.ViaFollower {
		phases = append(phases, submitPhaseSpec{"serial_via_follower", 1, 1, false, pendingSubmitter},
			submitPhaseSpec{fmt.Sprintf("concurrent_%d_via_follower", b.o.Concurrency), b.o.Concurrency, b.o.Connections, false, pendingSubmitter})
	}
	return b.runPhases(ctx, phases)
}

// autoApproved measures concurrent submits of auto-approved jobs with no
// live node, so that every job stays in the scheduler's pending set.
func (b *clusterBench) autoApproved(ctx context.Context) error {
	return b.runPhases(ctx, []submitPhaseSpec{{fmt.Sprintf("concurrent_%d_auto_approved", b.o.Concurrency), b.o.Concurrency, b.o.Connections, true, autoSubmitter}})
}

func (b *clusterBench) runPhases(ctx context.Context, phases []submitPhaseSpec) error {
	for _, p := range phases {
		profile := b.o.Profile
		res, err := b.submitPhase(ctx, p, profile)
		if err != nil {
			return err
		}
		b.rep.Submits = append(b.rep.Submits, *res)
		b.rep.SubmitsPerSecond[p.name] = res.PerSecond
		fmt.Fprintf(b.o.Progress, "%-34s %6.0f submits/s  (%d acked in %.1f s by %d submitters (%s) on %d connections to %s %s; latency p50 %.1f ms, p99 %.1f ms; %d errors; CPU µs per submit: leader %.0f, followers %.0f, client %.0f)\n",
			p.name, res.PerSecond, res.Acked, res.Seconds, res.Submitters, res.Submitter, res.Connections, res.Target, res.Replica, res.P50Ms, res.P99Ms, res.Errors,
			res.CPUMicrosPerSubmit["leader"], res.CPUMicrosPerSubmit["followers"], res.CPUMicrosPerSubmit["client"])
	}
	return nil
}

func (b *clusterBench) submitPhase(ctx context.Context, p submitPhaseSpec, profile bool) (*SubmitPhase, error) {
	name, workers, conns, toLeader := p.name, p.workers, p.conns, p.toLeader
	l := b.c.Leader(ctx)
	if l == nil {
		return nil, errors.New("bench: no leader")
	}
	target := l.Id
	if !toLeader {
		for _, r := range b.c.Replicas {
			if r.ID != l.Id {
				target = r.ID
				break
			}
		}
	}
	api := b.c.Replica(target).API
	var clients []mitaiv1.CoordinatorClient
	for range conns {
		cc, err := b.c.Dial(p.party, api)
		if err != nil {
			return nil, err
		}
		defer cc.Close()
		cl := mitaiv1.NewCoordinatorClient(cc)
		// Connect and warm up each connection.
		if _, err := cl.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: benchSpec(fmt.Sprintf("%s-%s-warm-%d", b.nonce, name, len(clients)))}); err != nil {
			return nil, fmt.Errorf("bench: %s: warm-up submit to %s: %w", name, target, err)
		}
		clients = append(clients, cl)
	}
	// CPU profiles of every replica.
	var profErrs []error
	var profPaths []string
	var profMu sync.Mutex
	var profWG sync.WaitGroup
	if profile {
		for _, r := range b.c.Replicas {
			role := "follower-" + r.ID
			if r.ID == l.Id {
				role = "leader-" + r.ID
			}
			path := filepath.Join(b.o.Dir, role+"-cpu-"+name+".pprof")
			addr := r.Pprof
			profWG.Add(1)
			go func() {
				defer profWG.Done()
				err := fetchProfile(ctx, addr, max(1, int(b.o.Duration.Seconds())-1), path)
				profMu.Lock()
				defer profMu.Unlock()
				if err != nil {
					profErrs = append(profErrs, fmt.Errorf("%s profile: %w", role, err))
				} else {
					profPaths = append(profPaths, path)
				}
			}()
		}
	}
	cpuBefore := b.cpuByRole(l.Id)
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	lat := make([][]float64, workers)
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(b.o.Duration)
	for w := range workers {
		cl := clients[w%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				_, err := cl.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: benchSpec(fmt.Sprintf("%s-%s-%d-%d", b.nonce, name, w, i))})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				acked.Add(1)
				lat[w] = append(lat[w], float64(time.Since(t0).Microseconds())/1e3)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpuAfter := b.cpuByRole(l.Id)
	profWG.Wait()
	for _, err := range profErrs {
		fmt.Fprintf(b.o.Progress, "%v\n", err)
	}
	slices.Sort(profPaths)
	b.rep.Profiles = append(b.rep.Profiles, profPaths...)
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	res := &SubmitPhase{
		Name: name, Target: "leader", Replica: target, Submitters: workers, Submitter: p.party, Connections: conns,
		Acked: acked.Load(), Errors: failed.Load(), Seconds: elapsed.Seconds(),
		PerSecond: float64(acked.Load()) / elapsed.Seconds(), P50Ms: quantile(all, 0.5), P99Ms: quantile(all, 0.99),
	}
	if !toLeader {
		res.Target = "follower"
	}
	if cpuBefore != nil && cpuAfter != nil && res.Acked > 0 {
		res.CPUMicrosPerSubmit = map[string]float64{}
		for role, t := range cpuAfter {
			res.CPUMicrosPerSubmit[role] = float64((t - cpuBefore[role]).Microseconds()) / float64(res.Acked)
		}
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, nil
}

// fetchProfile saves a CPU profile of seconds from a pprof server.
func fetchProfile(ctx context.Context, addr string, seconds int, path string) error {
	if addr == "" {
		return errors.New("the replica serves no pprof")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// failover kills the leader FailoverTrials times; each time it measures
// until a submit (sent to the survivors, retried with the same
// idempotency key) is acknowledged, then restarts the killed replica and
// waits until it has caught up.
func (b *clusterBench) failover(ctx context.Context) error {
	var clients = map[string]mitaiv1.CoordinatorClient{}
	for _, r := range b.c.Replicas {
		cc, err := b.c.Dial(pendingSubmitter, r.API)
		if err != nil {
			return err
		}
		defer cc.Close()
		clients[r.ID] = mitaiv1.NewCoordinatorClient(cc)
	}
	for trial := range b.o.FailoverTrials {
		l := b.c.Leader(ctx)
		if l == nil {
			return errors.New("bench: no leader before a failover trial")
		}
		var survivors []string
		for _, r := range b.c.Replicas {
			if r.ID != l.Id {
				survivors = append(survivors, r.ID)
				// Make sure the client is connected, as a client of a running
				// cluster would be.
				if _, err := clients[r.ID].ClusterStatus(ctx, &mitaiv1.ClusterStatusRequest{LocalOnly: true}); err != nil {
					return fmt.Errorf("bench: replica %s before trial %d: %w", r.ID, trial, err)
				}
			}
		}
		key := fmt.Sprintf("%s-failover-%d", b.nonce, trial)
		killed := time.Now()
		if err := b.c.Kill(l.Id); err != nil {
			return err
		}
		var acked time.Time
		for attempt := 0; ; attempt++ {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := clients[survivors[attempt%len(survivors)]].SubmitJob(cctx, &mitaiv1.SubmitJobRequest{Spec: benchSpec(key)})
			cancel()
			if err == nil {
				acked = time.Now()
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Since(killed) > time.Minute {
				return fmt.Errorf("bench: no write acknowledged within a minute of killing %s: %w", l.Id, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		secs := acked.Sub(killed).Seconds()
		nl, err := b.c.WaitLeader(ctx, 30*time.Second, l.Id)
		if err != nil {
			return err
		}
		restarted := time.Now()
		if err := b.c.Restart(l.Id); err != nil {
			return err
		}
		if err := b.c.WaitCaughtUp(ctx, 2*time.Minute, nl.LastIndex); err != nil {
			return err
		}
		t := FailoverTrial{Killed: l.Id, NewLeader: nl.Id, Term: nl.Term, Seconds: secs, CatchUpSeconds: time.Since(restarted).Seconds()}
		b.rep.Failovers = append(b.rep.Failovers, t)
		b.rep.FailoverSeconds = append(b.rep.FailoverSeconds, secs)
		fmt.Fprintf(b.o.Progress, "failover %d: killed leader %s; %s acknowledged a write %.2f s later (term %d); %s restarted and caught up in %.1f s\n",
			trial+1, t.Killed, t.NewLeader, t.Seconds, t.Term, t.Killed, t.CatchUpSeconds)
		// Let the restarted replica settle before the next kill.
		time.Sleep(500 * time.Millisecond)
	}
	b.rep.FailoverSecondsMedian = quantile(b.rep.FailoverSeconds, 0.5)
	return nil
}

// quantile returns the q-quantile of xs (nearest rank, the median of two
// middle values for q = 0.5); 0 for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if q == 0.5 {
		n := len(s)
		if n%2 == 1 {
			return s[n/2]
		}
		return (s[n/2-1] + s[n/2]) / 2
	}
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// diskCommit appends n single entries to a new raft-boltdb log in dir and
// returns the median time of one append, in ms.
func diskCommit(dir string, n int) (float64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "probe.db")})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	data := make([]byte, 200)
	var ms []float64
	for i := 1; i <= n; i++ {
		t0 := time.Now()
		if err := store.StoreLogs([]*raft.Log{{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
			return 0, err
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1e3)
	}
	return quantile(ms, 0.5), nil
}

// cpuByRole returns the CPU time so far of the leader, the followers
// together, this process, and all of them; nil where /proc cannot say.
func (b *clusterBench) cpuByRole(leader string) map[string]time.Duration {
	out := map[string]time.Duration{}
	self, err := procCPU(os.Getpid())
	if err != nil {
		return nil
	}
	out["client"] = self
	out["total"] = self
	for _, r := range b.c.Replicas {
		t, err := procCPU(r.Pid())
		if err != nil {
			return nil
		}
		role := "followers"
		if r.ID == leader {
			role = "leader"
		}
		out[role] += t
		out["total"] += t
	}
	return out
}

// procCPU returns a process's user plus system CPU time from
// /proc/PID/stat (Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// Fields 14 and 15 (utime, stime), counted from 1 with the pid and
	// name as 1 and 2, are f[11] and f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
