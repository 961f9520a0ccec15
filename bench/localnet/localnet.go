// Package localnet starts real mitai processes on loopback for the demo,
// the benchmarks and end-to-end tests: coordinator replicas (StartCluster)
// sharing one Raft log on disk, and nodes (Start), each with a freshly
// issued certificate of a new cluster CA. They talk gRPC and Raft over
// mutual TLS like processes on separate hosts; nothing is shared in memory.
package localnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"gopkg.in/yaml.v3"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/freeport"
	"github.com/mitai-dev/mitai/internal/mtls"
	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Party is one party of the local network and the datasets its node serves.
type Party struct {
	Name     string
	Datasets []node.DatasetConfig
}

// Options configure Start.
type Options struct {
	// Dir receives pki/, one folder per party (config, data dir, log).
	Dir string
	// Binary is the mitai binary; empty means this process's executable.
	Binary string
	// Parties to start, one node each.
	Parties []Party
	// Env is added to each node's environment (GOMAXPROCS=..., say).
	Env []string
	// LogLevel of the nodes; empty means info.
	LogLevel string
	// Cluster, if set, is the coordinator the nodes join: they get
	// certificates of its CA, publish their datasets to it at start and
	// heartbeat to its leader. Without it the nodes get a CA of their own
	// and run tasks only through their admin API.
	Cluster *Cluster
	// HeartbeatInterval of the nodes (with a Cluster); 0 means the node default.
	HeartbeatInterval time.Duration
	// Tuning is the host profile every node loads (node config tuning:);
	// empty means none.
	Tuning string
}

// Net is a running local network.
type Net struct {
	Nodes map[string]*Proc
	caPEM []byte
}

// Proc is one running node process.
type Proc struct {
	Party   string
	Node    string // the node's name within its party
	Addr    string // gRPC address
	Config  string // path of its YAML config
	DataDir string
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	admin   *grpc.ClientConn
	// PeakRSS is the node's peak resident set in bytes, known after Stop.
	PeakRSS int64
}

// Start issues certificates, writes configs and starts one node process per
// party, returning once every node reports SERVING on its health service.
func Start(ctx context.Context, o Options) (*Net, error) {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Binary = exe
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	var ca *pki.CA
	var pkiDir string
	if o.Cluster != nil {
		ca, pkiDir = o.Cluster.CA, o.Cluster.PKIDir
	} else {
		var err error
		pkiDir = filepath.Join(o.Dir, "pki")
		if ca, err = pki.NewCA("mitai local cluster", 0); err != nil {
			return nil, err
		}
		if err := ca.Save(pkiDir); err != nil {
			return nil, err
		}
	}
	n := &Net{Nodes: map[string]*Proc{}, caPEM: ca.CertPEM}
	for _, p := range o.Parties {
		proc, err := n.start(ctx, o, ca, pkiDir, p)
		if err != nil {
			n.Stop()
			return nil, fmt.Errorf("localnet: start %s: %w", p.Name, err)
		}
		n.Nodes[p.Name] = proc
	}
	for _, proc := range n.Nodes {
		if err := proc.waitReady(ctx, 60*time.Second); err != nil {
			n.Stop()
			return nil, fmt.Errorf("localnet: %s: %w (see %s)", proc.Party, err, proc.LogPath)
		}
	}
	return n, nil
}

func (n *Net) start(ctx context.Context, o Options, ca *pki.CA, pkiDir string, p Party) (*Proc, error) {
	dir := filepath.Join(o.Dir, p.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	const nodeName = "n1"
	stem := p.Name + "-" + nodeName
	creds, err := ca.Issue(pki.IssueRequest{Party: p.Name, Node: nodeName, Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		return nil, err
	}
	if err := creds.Save(pkiDir, stem); err != nil {
		return nil, err
	}
	addr, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig()
	cfg.Party = p.Name
	cfg.Listen = addr
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.TLS = node.TLSFiles{CA: filepath.Join(pkiDir, "ca.crt"), Cert: filepath.Join(pkiDir, stem+".crt"), Key: filepath.Join(pkiDir, stem+".key")}
	cfg.Datasets = p.Datasets
	cfg.LogLevel = o.LogLevel
	cfg.NodeName = nodeName
	cfg.Tuning = o.Tuning
	if o.Cluster != nil {
		cfg.Coordinator = o.Cluster.APIs()
		if o.HeartbeatInterval > 0 {
			cfg.HeartbeatInterval = o.HeartbeatInterval
		}
	}
	cfgPath := filepath.Join(dir, p.Name+".yaml")
	b, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "node.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Binary, "node", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), o.Env...)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	proc := &Proc{Party: p.Name, Node: nodeName, Addr: addr, Config: cfgPath, DataDir: cfg.DataDir, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(proc.exited)
	}()
	cert, err := pki.LoadCredentials(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return proc, err
	}
	opts, err := mtls.DialOptions(cert, ca.CertPEM, addr, p.Name)
	if err != nil {
		return proc, err
	}
	proc.admin, err = grpc.NewClient(addr, opts...)
	return proc, err
}

// Admin returns a NodeAdmin client holding the party's own certificate.
func (p *Proc) Admin() mitaiv1.NodeAdminClient { return mitaiv1.NewNodeAdminClient(p.admin) }

func (p *Proc) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := healthpb.NewHealthClient(p.admin)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-p.exited:
			return errors.New("node exited during start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %v: %v", timeout, err)
		}
	}
}

// Kill kills the node process at once (SIGKILL), as a crash would.
func (p *Proc) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	<-p.exited
	return nil
}

// Stop stops every node (SIGTERM, then SIGKILL after 10 s) and records each
// one's peak RSS.
func (n *Net) Stop() {
	for _, p := range n.Nodes {
		if p.admin != nil {
			p.admin.Close()
		}
		if p.cmd.Process == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range n.Nodes {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.PeakRSS = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
}
