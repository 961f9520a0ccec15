package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/coordclient"
	"github.com/mitai-dev/mitai/internal/mtls"
	"github.com/mitai-dev/mitai/node/dataset"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// Node is a running mitai node.
type Node struct {
	cfg       Config
	log       *slog.Logger
	reg       *Registry
	exec      *Executor
	metrics   *metrics
	grpc      *grpc.Server
	health    *health.Server
	lis       net.Listener
	httpSrv   *http.Server
	httpLis   net.Listener
	serveErr  chan error
	coord     *coordclient.Client // nil without a coordinator
	agent     *agent
	stopAgent context.CancelFunc
	agentDone chan struct{}
}

// New prepares a node from its configuration: it loads the certificates
// (whose CN must be cfg.Party), opens the dataset registry and registers the
// datasets the configuration lists. Start makes it listen.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	if err := ValidateConfig(cfg); err != nil {
		return nil, err
	}
	cert, err := pki.LoadCredentials(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if cert.Leaf == nil || cert.Leaf.Subject.CommonName != cfg.Party {
		return nil, fmt.Errorf("node: certificate %s is not for party %q", cfg.TLS.Cert, cfg.Party)
	}
	caPEM, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("node: cluster CA: %w", err)
	}
	serverOpts, err := mtls.ServerOptions(cert, caPEM)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	prof, err := loadTuning(cfg, log)
	if err != nil {
		return nil, err
	}
	reg, err := OpenRegistry(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, reg: reg, serveErr: make(chan error, 2)}
	if len(cfg.Coordinator) > 0 {
		if n.coord, err = coordclient.Dial(cfg.Coordinator, cert, caPEM, 30*time.Second); err != nil {
			return nil, fmt.Errorf("node: coordinator: %w", err)
		}
	}
	for _, d := range cfg.Datasets {
		pol, err := d.Policy.toPolicy()
		if err != nil {
			return nil, err
		}
		info, err := reg.Add(&mitaiv1.AddDatasetRequest{Name: d.Name, Path: d.Path, KeyColumn: d.Key, Policy: pol}, time.Now())
		if err != nil {
			return nil, fmt.Errorf("node: dataset %q from the config: %w", d.Name, err)
		}
		log.Info("dataset registered", "name", info.Name, "rows", info.Rows, "sha256", info.Digest, "duplicate_keys", info.DuplicateKeys)
		if err := n.publish(context.Background(), info); err != nil {
			log.Warn("dataset not published; the coordinator cannot schedule jobs over it until it is added again", "name", info.Name, "err", err)
		}
	}
	n.metrics = newMetrics(func() float64 { return float64(len(reg.List())) })
	n.exec = &Executor{
		party: cfg.Party, reg: reg, dataDir: cfg.DataDir, resultsDir: filepath.Join(cfg.DataDir, "results"), keys: newKeyStore(cfg.DataDir),
		dialer: &dialer{cert: cert, caPEM: caPEM}, group: cfg.Group,
		taskTimeout: cfg.TaskTimeout, idleTimeout: cfg.PeerIdleTimeout,
		slots: make(chan struct{}, cfg.MaxTasks), metrics: n.metrics, log: log, now: time.Now,
		scoreWorkers: prof.ScoreWorkers, psiWorkers: prof.PSIWorkers, psiBatchSize: prof.PSIBatchSize,
	}
	if n.coord != nil {
		n.agent = &agent{
			coord: n.coord, exec: n.exec, reg: reg, party: cfg.Party, name: cfg.NodeName, slots: cfg.MaxTasks,
			interval: cfg.HeartbeatInterval, cert: cert, log: log,
			running: map[string]attempt{}, done: map[string]uint32{},
		}
		n.exec.fence, n.exec.track = n.agent.fence, n.agent.serve
	}
	n.grpc = grpc.NewServer(serverOpts...)
	mitaiv1.RegisterPeerServer(n.grpc, &peerService{n: n})
	mitaiv1.RegisterNodeAdminServer(n.grpc, &adminService{n: n})
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.grpc, n.health)
	return n, nil
}

// publish sends a dataset's metadata to the coordinator, if there is one:
// name, schema, row count, digest and policy, not the file's path.
func (n *Node) publish(ctx context.Context, info *mitaiv1.DatasetInfo) error {
	if n.coord == nil {
		return nil
	}
	meta := proto.Clone(info).(*mitaiv1.DatasetInfo)
	meta.Path = ""
	err := n.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) error {
		_, err := c.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: meta})
		return err
	})
	if err == nil {
		n.log.Info("dataset published to the coordinator", "name", info.Name)
	}
	return err
}

// Start listens on the configured addresses and serves in the background.
func (n *Node) Start() error {
	lis, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("node: listen: %w", err)
	}
	n.lis = lis
	go func() { n.serveErr <- n.grpc.Serve(lis) }()
	for _, svc := range []string{"", mitaiv1.Peer_ServiceDesc.ServiceName, mitaiv1.NodeAdmin_ServiceDesc.ServiceName} {
		n.health.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	if n.cfg.MetricsListen != "" {
		hl, err := net.Listen("tcp", n.cfg.MetricsListen)
		if err != nil {
			n.grpc.Stop()
			return fmt.Errorf("node: metrics listen: %w", err)
		}
		n.httpLis = hl
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
		ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
		mux.HandleFunc("/livez", ok)
		mux.HandleFunc("/readyz", ok)
		n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := n.httpSrv.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
				n.serveErr <- err
			}
		}()
	}
	n.log.Info("node listening", "party", n.cfg.Party, "addr", lis.Addr().String(), "metrics", n.MetricsAddr())
	if n.agent != nil {
		n.agent.address = n.cfg.Advertise
		if n.agent.address == "" {
			n.agent.address = lis.Addr().String()
		}
		ctx, cancel := context.WithCancel(context.Background())
		n.stopAgent, n.agentDone = cancel, make(chan struct{})
		go func() { defer close(n.agentDone); n.agent.run(ctx) }()
	}
	return nil
}

// Addr is the address the gRPC server listens on.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// MetricsAddr is the address of the metrics server, or "".
func (n *Node) MetricsAddr() string {
	if n.httpLis == nil {
		return ""
	}
	return n.httpLis.Addr().String()
}

// Executor returns the node's task executor.
func (n *Node) Executor() *Executor { return n.exec }

// Registry returns the node's dataset registry.
func (n *Node) Registry() *Registry { return n.reg }

// Wait blocks until ctx ends or a server fails, then stops the node: new
// tasks are refused, running ones get up to grace to finish.
func (n *Node) Wait(ctx context.Context, grace time.Duration) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-n.serveErr:
	}
	n.Stop(grace)
	return err
}

// Stop stops the node, giving running tasks up to grace to finish.
func (n *Node) Stop(grace time.Duration) {
	n.health.Shutdown()
	if n.stopAgent != nil {
		n.stopAgent()
		<-n.agentDone
	}
	done := make(chan struct{})
	go func() { n.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		n.grpc.Stop()
	}
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = n.httpSrv.Shutdown(ctx)
	}
	if n.coord != nil {
		n.coord.Close()
	}
}

type peerService struct {
	mitaiv1.UnimplementedPeerServer
	n *Node
}

// Task serves a task stream opened by another party's node.
func (s *peerService) Task(stream grpc.BidiStreamingServer[mitaiv1.PeerFrame, mitaiv1.PeerFrame]) error {
	caller, err := mtls.CallerParty(stream.Context())
	if err != nil {
		return err
	}
	if err := s.n.exec.Serve(stream.Context(), caller, stream); err != nil {
		return status.Error(codes.Aborted, peerSafeError(s.n.cfg.Party, err))
	}
	return nil
}

// peerSafeError is what a peer may be told about a failure on this node.
// Errors about the local dataset can quote its rows (a duplicated key, say):
// those stay in the local log and the peer learns only that the dataset
// failed. Protocol and policy errors carry no row data and pass through.
func peerSafeError(party string, err error) string {
	var inputErr *dataset.InputError
	if errors.As(err, &inputErr) {
		return fmt.Sprintf("the task failed on %s's node: its dataset could not be used (details in that node's log)", party)
	}
	return err.Error()
}

type adminService struct {
	mitaiv1.UnimplementedNodeAdminServer
	n *Node
}

// authorize lets only the node's own party administer it.
func (s *adminService) authorize(ctx context.Context) error {
	party, err := mtls.CallerParty(ctx)
	if err != nil {
		return err
	}
	if party != s.n.cfg.Party {
		s.n.log.Warn("admin call refused", "caller", party)
		return status.Errorf(codes.PermissionDenied, "party %q may not administer %q's node", party, s.n.cfg.Party)
	}
	return nil
}

func (s *adminService) AddDataset(ctx context.Context, req *mitaiv1.AddDatasetRequest) (*mitaiv1.DatasetInfo, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	info, err := s.n.reg.Add(req, time.Now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.n.log.Info("dataset registered", "name", info.Name, "rows", info.Rows, "sha256", info.Digest, "duplicate_keys", info.DuplicateKeys)
	if err := s.n.publish(ctx, info); err != nil {
		return nil, status.Errorf(codes.Unavailable, "dataset %q is registered on the node but could not be published to the coordinator (add it again to retry): %v", info.Name, err)
	}
	return info, nil
}

func (s *adminService) ListDatasets(ctx context.Context, _ *mitaiv1.ListDatasetsRequest) (*mitaiv1.ListDatasetsResponse, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	return &mitaiv1.ListDatasetsResponse{Datasets: s.n.reg.List()}, nil
}

func (s *adminService) RemoveDataset(ctx context.Context, req *mitaiv1.RemoveDatasetRequest) (*mitaiv1.RemoveDatasetResponse, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if err := s.n.reg.Remove(req.Name); err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	return &mitaiv1.RemoveDatasetResponse{}, nil
}

func (s *adminService) RunTask(ctx context.Context, req *mitaiv1.RunTaskRequest) (*mitaiv1.TaskReport, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if req.Task == nil {
		return nil, status.Error(codes.InvalidArgument, "no task")
	}
	report, err := s.n.exec.Run(ctx, req.Task)
	switch {
	case err == nil:
		return report, nil
	case errors.Is(err, ErrPolicy):
		return nil, status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, psi.ErrBelowMinimum):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrUnknownDataset):
		return nil, status.Error(codes.NotFound, err.Error())
	}
	return nil, status.Error(codes.Aborted, err.Error())
}
