package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the node's Prometheus metrics, on a registry of its own so
// that several nodes can live in one process (tests, the demo).
type metrics struct {
	reg      *prometheus.Registry
	tasks    *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	datasets prometheus.GaugeFunc
}

func newMetrics(datasets func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitai_node_tasks_total", Help: "Tasks ended, by role and outcome (ok, failed, refused, below_minimum).",
		}, []string{"role", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mitai_node_task_seconds", Help: "Wall time of tasks that ran, by role.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"role"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitai_node_peer_bytes_total", Help: "Protocol bytes exchanged with peers, by direction.",
		}, []string{"direction"}),
		datasets: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mitai_node_datasets", Help: "Registered datasets.",
		}, datasets),
	}
	m.reg.MustRegister(m.tasks, m.seconds, m.bytes, m.datasets,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) taskDone(role, outcome string) { m.tasks.WithLabelValues(role, outcome).Inc() }

func (m *metrics) observe(role string, d time.Duration, sent, received uint64) {
	m.seconds.WithLabelValues(role).Observe(d.Seconds())
	m.bytes.WithLabelValues("sent").Add(float64(sent))
	m.bytes.WithLabelValues("received").Add(float64(received))
}
