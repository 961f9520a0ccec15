package localnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"gopkg.in/yaml.v3"

	"github.com/mitai-dev/mitai/coordinator"
	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/coordclient"
	"github.com/mitai-dev/mitai/internal/freeport"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Dir receives pki/ and one folder per replica (config, Raft data, log).
	Dir string
	// Binary is the mitai binary; empty means this process's executable.
	Binary string
	// Replicas is the number of voting replicas; 0 means 3.
	Replicas int
	// LogLevel of the replicas; empty means warn.
	LogLevel string
	// Env is added to each replica's environment.
	Env []string
	// Tune, if set, adjusts each replica's configuration before it is
	// written (Raft timeouts, say); it must not change ids or addresses.
	Tune func(*coordinator.Config)
	// Pprof makes each replica serve net/http/pprof on a loopback port of
	// its own (Replica.Pprof), through PprofEnv.
	Pprof bool
}

// PprofEnv names the environment variable that makes a mitai process serve
// net/http/pprof on the loopback host:port it gives; a debugging aid for
// benchmarks, read by cmd/mitai.
const PprofEnv = "MITAI_PPROF_LISTEN"

// Cluster is a running coordinator cluster: replica processes sharing one
// Raft log over TLS on loopback, with a new cluster CA.
type Cluster struct {
	// CA is the cluster CA; PKIDir holds its certificate and every
	// certificate issued for the cluster.
	CA       *pki.CA
	PKIDir   string
	Replicas []*Replica
	opts     ClusterOptions

	mu    sync.Mutex
	creds map[string]tls.Certificate // by file stem
	conns map[string]*grpc.ClientConn
}

// Replica is one coordinator replica process; it keeps its addresses and
// data directory across Kill and Restart.
type Replica struct {
	ID      string
	API     string // gRPC API address
	Raft    string // Raft (TLS) address
	Config  string // path of its YAML config
	DataDir string
	LogPath string
	// Pprof is the host:port of its pprof server, if ClusterOptions.Pprof.
	Pprof string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	killed bool // by Kill: its exit is expected
}

// StartCluster issues certificates, writes one configuration per replica
// (all bootstrapping the same voters), starts the replicas and returns once
// one of them leads.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Binary = exe
	}
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	ca, err := pki.NewCA("mitai local cluster", 0)
	if err != nil {
		return nil, err
	}
	c := &Cluster{CA: ca, PKIDir: filepath.Join(o.Dir, "pki"), opts: o, creds: map[string]tls.Certificate{}, conns: map[string]*grpc.ClientConn{}}
	if err := ca.Save(c.PKIDir); err != nil {
		return nil, err
	}
	var peers []coordinator.Peer
	for i := 1; i <= o.Replicas; i++ {
		api, err := freeport.Addr()
		if err != nil {
			return nil, err
		}
		raftAddr, err := freeport.Addr()
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("c%d", i)
		dir := filepath.Join(o.Dir, id)
		r := &Replica{
			ID: id, API: api, Raft: raftAddr, Config: filepath.Join(dir, id+".yaml"),
			DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "replica.log"),
		}
		if o.Pprof {
			if r.Pprof, err = freeport.Addr(); err != nil {
				return nil, err
			}
		}
		c.Replicas = append(c.Replicas, r)
		peers = append(peers, coordinator.Peer{ID: id, Raft: raftAddr, API: api})
	}
	for _, r := range c.Replicas {
		if err := c.writeConfig(r, peers); err != nil {
			return nil, fmt.Errorf("localnet: replica %s: %w", r.ID, err)
		}
	}
	for _, r := range c.Replicas {
		if err := c.start(r); err != nil {
			c.Stop()
			return nil, fmt.Errorf("localnet: start replica %s: %w", r.ID, err)
		}
	}
	if _, err := c.WaitLeader(ctx, 60*time.Second, ""); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) writeConfig(r *Replica, peers []coordinator.Peer) error {
	if err := os.MkdirAll(filepath.Dir(r.Config), 0o700); err != nil {
		return err
	}
	creds, err := c.CA.Issue(pki.IssueRequest{Party: coordinator.CoordinatorParty, Node: r.ID, Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		return err
	}
	stem := coordinator.CoordinatorParty + "-" + r.ID
	if err := creds.Save(c.PKIDir, stem); err != nil {
		return err
	}
	cfg := coordinator.DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.Bootstrap, cfg.Peers, cfg.LogLevel = r.ID, r.DataDir, true, peers, c.opts.LogLevel
	cfg.TLS = coordinator.TLSFiles{CA: filepath.Join(c.PKIDir, "ca.crt"), Cert: filepath.Join(c.PKIDir, stem+".crt"), Key: filepath.Join(c.PKIDir, stem+".key")}
	if c.opts.Tune != nil {
		c.opts.Tune(&cfg)
	}
	if err := coordinator.ValidateConfig(cfg); err != nil {
		return err
	}
	b, err := yaml.Marshal(&cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(r.Config, b, 0o600)
}

// start starts a replica's process; its log is appended to.
func (c *Cluster) start(r *Replica) error {
	logFile, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Binary, "coordinator", "--config", r.Config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), c.opts.Env...)
	if r.Pprof != "" {
		cmd.Env = append(cmd.Env, PprofEnv+"="+r.Pprof)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.exited, r.killed = cmd, exited, false
	r.mu.Unlock()
	return nil
}

// crashed reports whether the replica's process exited without Kill or Stop.
func (r *Replica) crashed() bool {
	r.mu.Lock()
	killed := r.killed
	r.mu.Unlock()
	return !killed && r.exited != nil && !r.Running()
}

// Running reports whether the replica's process is running.
func (r *Replica) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exited == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Pid returns the process id of the replica's current process (0 if none).
func (r *Replica) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Kill kills the replica at once (SIGKILL), as a crash would, and waits
// for the process to be gone.
func (c *Cluster) Kill(id string) error {
	r := c.Replica(id)
	if r == nil {
		return fmt.Errorf("localnet: no replica %q", id)
	}
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.killed = true
	r.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("localnet: replica %s is not running", id)
	}
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	<-exited
	return nil
}

// Restart starts a stopped or killed replica again from its data directory.
func (c *Cluster) Restart(id string) error {
	r := c.Replica(id)
	if r == nil {
		return fmt.Errorf("localnet: no replica %q", id)
	}
	if r.Running() {
		return fmt.Errorf("localnet: replica %s is still running", id)
	}
	return c.start(r)
}

// Replica returns the replica with that id, or nil.
func (c *Cluster) Replica(id string) *Replica {
	for _, r := range c.Replicas {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// APIs returns every replica's API address, in id order.
func (c *Cluster) APIs() []string {
	var out []string
	for _, r := range c.Replicas {
		out = append(out, r.API)
	}
	return out
}

// Credentials issues (once) and returns a certificate of party, for node
// if node is not empty, saved in PKIDir as party[-node].crt and .key.
func (c *Cluster) Credentials(party, node string) (tls.Certificate, error) {
	stem := party
	if node != "" {
		stem += "-" + node
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert, ok := c.creds[stem]; ok {
		return cert, nil
	}
	creds, err := c.CA.Issue(pki.IssueRequest{Party: party, Node: node, Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := creds.Save(c.PKIDir, stem); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := pki.LoadCredentials(filepath.Join(c.PKIDir, stem+".crt"), filepath.Join(c.PKIDir, stem+".key"))
	if err != nil {
		return tls.Certificate{}, err
	}
	c.creds[stem] = cert
	return cert, nil
}

// Client returns a failover client of the cluster holding a certificate of
// party (see coordclient); the caller closes it.
func (c *Cluster) Client(party string, timeout time.Duration) (*coordclient.Client, error) {
	cert, err := c.Credentials(party, "")
	if err != nil {
		return nil, err
	}
	return coordclient.Dial(c.APIs(), cert, c.CA.CertPEM, timeout)
}

// Dial returns a new connection to one replica's API as party, which the
// caller closes. Each call makes its own connection.
func (c *Cluster) Dial(party, api string) (*grpc.ClientConn, error) {
	cert, err := c.Credentials(party, "")
	if err != nil {
		return nil, err
	}
	opts, err := mtls.DialOptions(cert, c.CA.CertPEM, api, coordinator.CoordinatorParty)
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(api, opts...)
}

// admin returns a shared connection to a replica for status calls.
func (c *Cluster) admin(api string) (mitaiv1.CoordinatorClient, error) {
	c.mu.Lock()
	cc, ok := c.conns[api]
	c.mu.Unlock()
	if !ok {
		var err error
		if cc, err = c.Dial("localnet", api); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if old, ok := c.conns[api]; ok {
			cc.Close()
			cc = old
		} else {
			c.conns[api] = cc
		}
		c.mu.Unlock()
	}
	return mitaiv1.NewCoordinatorClient(cc), nil
}

// Status asks every running replica for its own Raft state; a replica that
// does not answer within a second is left out.
func (c *Cluster) Status(ctx context.Context) []*mitaiv1.ReplicaStatus {
	var out []*mitaiv1.ReplicaStatus
	for _, r := range c.Replicas {
		if !r.Running() {
			continue
		}
		cl, err := c.admin(r.API)
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := cl.ClusterStatus(cctx, &mitaiv1.ClusterStatusRequest{LocalOnly: true})
		cancel()
		if err == nil && len(resp.Replicas) == 1 {
			out = append(out, resp.Replicas[0])
		}
	}
	return out
}

// Leader returns the status of the replica that says it leads, in the
// highest term any replica reports, or nil.
func (c *Cluster) Leader(ctx context.Context) *mitaiv1.ReplicaStatus {
	var leader *mitaiv1.ReplicaStatus
	var term uint64
	sts := c.Status(ctx)
	for _, s := range sts {
		term = max(term, s.Term)
	}
	for _, s := range sts {
		if s.State == "Leader" && s.Term == term {
			leader = s
		}
	}
	return leader
}

// WaitLeader waits until a replica other than notID leads and returns its
// status.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration, notID string) (*mitaiv1.ReplicaStatus, error) {
	deadline := time.Now().Add(timeout)
	for {
		if l := c.Leader(ctx); l != nil && l.Id != notID {
			return l, nil
		}
		for _, r := range c.Replicas {
			if r.crashed() {
				return nil, fmt.Errorf("localnet: replica %s exited (see %s)", r.ID, r.LogPath)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("localnet: no leader within %v (replica logs in %s)", timeout, c.opts.Dir)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitCaughtUp waits until every replica runs, follows or leads with a
// known leader, and has applied at least index.
func (c *Cluster) WaitCaughtUp(ctx context.Context, timeout time.Duration, index uint64) error {
	deadline := time.Now().Add(timeout)
	for {
		sts := c.Status(ctx)
		ok := len(sts) == len(c.Replicas)
		for _, s := range sts {
			ok = ok && s.LeaderId != "" && s.AppliedIndex >= index
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localnet: replicas not caught up to index %d within %v: %v", index, timeout, sts)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops every replica (SIGTERM, then SIGKILL after 10 s).
func (c *Cluster) Stop() {
	c.mu.Lock()
	for _, cc := range c.conns {
		cc.Close()
	}
	c.conns = map[string]*grpc.ClientConn{}
	c.mu.Unlock()
	var running []*Replica
	for _, r := range c.Replicas {
		if r.Running() {
			r.mu.Lock()
			r.killed = true
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			r.mu.Unlock()
			running = append(running, r)
		}
	}
	for _, r := range running {
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	}
}
