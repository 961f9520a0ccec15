package coordinator

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mitai-dev/mitai/coordinator/state"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// metrics are a replica's Prometheus metrics, on a registry of its own so
// that several replicas can live in one process (tests).
type metrics struct {
	reg          *prometheus.Registry
	commit       *prometheus.HistogramVec
	taskSeconds  *prometheus.HistogramVec
	leaseExpired prometheus.Counter
	scheduled    prometheus.Counter
}

func newMetrics(r *Replica) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mitai_coordinator_commit_seconds",
			Help:    "Time from proposing a command on the leader to its being committed and applied, by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"command"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mitai_coordinator_task_seconds",
			Help:    "Duration of task attempts from scheduling to their end, by how they ended (succeeded, failed, aborted); observed by the leader.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}, []string{"outcome"}),
		leaseExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mitai_coordinator_lease_expiries_total",
			Help: "Attempts this replica, as leader, aborted because a node's lease expired.",
		}),
		scheduled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mitai_coordinator_attempts_scheduled_total",
			Help: "Task attempts this replica, as leader, scheduled.",
		}),
	}
	m.reg.MustRegister(m.commit, m.taskSeconds, m.leaseExpired, m.scheduled, &raftCollector{r: r},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// commandName is a command's label: its body's field name.
func commandName(cmd *mitaiv1.Command) string {
	if cmd.Body == nil {
		return "none"
	}
	name := fmt.Sprintf("%T", cmd.Body) // *mitaiv1.Command_SubmitJob
	return strings.TrimPrefix(name[strings.LastIndexByte(name, '.')+1:], "Command_")
}

// observeTask records an ended attempt's duration.
func (m *metrics) observeTask(t *mitaiv1.Task) {
	if t == nil || t.EndedUnixMs == 0 {
		return
	}
	outcome := strings.ToLower(strings.TrimPrefix(t.State.String(), "TASK_STATE_"))
	m.taskSeconds.WithLabelValues(outcome).Observe(float64(t.EndedUnixMs-t.StartedUnixMs) / 1000)
}

// raftCollector reports the replica's Raft state and its jobs by state at
// scrape time.
type raftCollector struct{ r *Replica }

var (
	descRaftState = prometheus.NewDesc("mitai_coordinator_raft_state", "1 for this replica's Raft state (Leader, Follower, Candidate, Shutdown), 0 for the others.", []string{"state"}, nil)
	descTerm      = prometheus.NewDesc("mitai_coordinator_raft_term", "Current Raft term.", nil, nil)
	descApplied   = prometheus.NewDesc("mitai_coordinator_raft_applied_index", "Last log index applied to the state.", nil, nil)
	descCommit    = prometheus.NewDesc("mitai_coordinator_raft_commit_index", "Last log index known committed.", nil, nil)
	descLast      = prometheus.NewDesc("mitai_coordinator_raft_last_index", "Last log index stored.", nil, nil)
	descJobs      = prometheus.NewDesc("mitai_coordinator_jobs", "Jobs in this replica's state, by job state.", []string{"state"}, nil)
	descLedger    = prometheus.NewDesc("mitai_coordinator_audit_entries", "Entries of the audit ledger.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descTerm, descApplied, descCommit, descLast, descJobs, descLedger} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.raft.State()
	for _, s := range []raft.RaftState{raft.Leader, raft.Follower, raft.Candidate, raft.Shutdown} {
		v := 0.0
		if s == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRaftState, prometheus.GaugeValue, v, s.String())
	}
	ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, float64(c.r.raft.CurrentTerm()))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(c.r.raft.AppliedIndex()))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(c.r.commitIndex()))
	ch <- prometheus.MustNewConstMetric(descLast, prometheus.GaugeValue, float64(c.r.raft.LastIndex()))
	var counts map[mitaiv1.JobState]int
	var entries int
	c.r.Read(func(s *state.State) { counts, entries = s.JobCounts(), s.Ledger().Len() })
	for v, name := range mitaiv1.JobState_name {
		if v == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(counts[mitaiv1.JobState(v)]),
			strings.ToLower(strings.TrimPrefix(name, "JOB_STATE_")))
	}
	ch <- prometheus.MustNewConstMetric(descLedger, prometheus.GaugeValue, float64(entries))
}

// commitIndex is the last index this replica knows to be committed.
func (r *Replica) commitIndex() uint64 {
	n, _ := strconv.ParseUint(r.raft.Stats()["commit_index"], 10, 64)
	return n
}

// Ready says whether the replica can serve: a leader is known and this
// replica has applied everything it knows to be committed. It returns why
// not otherwise.
func (r *Replica) Ready() error {
	if _, id := r.raft.LeaderWithID(); id == "" {
		return errors.New("no known leader")
	}
	if applied, commit := r.raft.AppliedIndex(), r.commitIndex(); applied < commit {
		return fmt.Errorf("applied index %d is behind commit index %d", applied, commit)
	}
	return nil
}

// serveHTTP starts the /metrics, /livez and /readyz server on addr.
func (s *Server) serveHTTP(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("coordinator: metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.rep.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.http.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	s.log.Info("metrics serving", "addr", lis.Addr().String())
	return nil
}
