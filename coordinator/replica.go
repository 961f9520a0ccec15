package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/crypto/pki"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// ErrNoLeader reports that no leader was known within the hold time; the
// caller may retry.
var ErrNoLeader = errors.New("coordinator: no leader (election in progress or quorum lost); retry")

// ErrNotLeader reports a write sent to a replica that is not the leader.
var ErrNotLeader = errors.New("coordinator: this replica is not the leader")

const (
	// maxAppendEntries bounds the commands in one disk write of the leader
	// and in one AppendEntries RPC (raft allows up to 1024).
	maxAppendEntries = 512
	// logCacheEntries recent log entries are kept in memory for replication.
	logCacheEntries = 2 * maxAppendEntries
)

// Replica is one running coordinator replica.
type Replica struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	// Fatal receives an error when the replica had to stop applying its log.
	Fatal <-chan error
}

// NewReplica opens the replica's on-disk Raft state, starts its TLS
// transport and joins (or, with Bootstrap and an empty log, starts) the
// cluster.
func NewReplica(cfg Config, log *slog.Logger) (*Replica, error) {
	if err := ValidateConfig(cfg); err != nil {
		return nil, err
	}
	cert, err := pki.LoadCredentials(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	if cert.Leaf == nil || cert.Leaf.Subject.CommonName != CoordinatorParty {
		return nil, fmt.Errorf("coordinator: certificate %s must name party %q", cfg.TLS.Cert, CoordinatorParty)
	}
	caPEM, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("coordinator: cluster CA: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("coordinator: data dir: %w", err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: os.Stderr, JSONFormat: true, Level: hclog.LevelFromString(cfg.LogLevel)})

	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{
			// A second replica process on the same data dir fails to start
			// instead of waiting forever for bolt's file lock.
			Timeout: 5 * time.Second,
			// Every commit still fsyncs the log entries and the meta page;
			// only bolt's list of free pages is not written (it grows with
			// every log truncation after a snapshot and was rewritten on
			// every append). Bolt rebuilds it by scanning the file when it
			// opens, so nothing durable depends on it.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("coordinator: open raft log: %w", err)
	}
	// Replication reads the entries it sends from the log store; the
	// cache serves the recent ones from memory instead of from bolt.
	logs, err := raft.NewLogCache(logCacheEntries, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 3, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("coordinator: snapshot store: %w", err)
	}
	layer, err := newTLSStreamLayer(cfg.self().Raft, cert, caPEM)
	if err != nil {
		store.Close()
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hlog
	// Group commit: the leader writes every command waiting in its apply
	// queue with one disk transaction (one set of fsyncs) and ships up to
	// this many in one AppendEntries; the followers store each batch with
	// one transaction too. The default, 64, capped a batch well below
	// what 128 concurrent submitters keep queued.
	rc.MaxAppendEntries = maxAppendEntries
	rc.BatchApplyCh = true

	f := newFSM(log)
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, store, snaps)
		if err != nil {
			trans.Close()
			store.Close()
			return nil, err
		}
		if !has {
			var servers []raft.Server
			for _, p := range cfg.Peers {
				servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Raft), Suffrage: raft.Voter})
			}
			if err := raft.BootstrapCluster(rc, logs, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
				trans.Close()
				store.Close()
				return nil, fmt.Errorf("coordinator: bootstrap: %w", err)
			}
			log.Info("bootstrapped the cluster", "voters", len(servers))
		}
	}
	r, err := raft.NewRaft(rc, f, logs, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return nil, fmt.Errorf("coordinator: start raft: %w", err)
	}
	return &Replica{cfg: cfg, log: log, raft: r, fsm: f, trans: trans, store: store, Fatal: f.fatal}, nil
}

// Shutdown stops the replica and closes its log.
func (r *Replica) Shutdown() error {
	err := r.raft.Shutdown().Error()
	if cerr := r.trans.Close(); err == nil {
		err = cerr
	}
	if cerr := r.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsLeader reports whether this replica is the leader now.
func (r *Replica) IsLeader() bool { return r.raft.State() == raft.Leader }

// Leader returns the leader's peer entry, waiting up to the leader hold
// time for one to be known.
func (r *Replica) Leader(ctx context.Context) (Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LeaderHold)
	defer cancel()
	for {
		if _, id := r.raft.LeaderWithID(); id != "" {
			for _, p := range r.cfg.Peers {
				if p.ID == string(id) {
					return p, nil
				}
			}
			return Peer{}, fmt.Errorf("coordinator: leader %q is not in this replica's peer list", id)
		}
		select {
		case <-ctx.Done():
			return Peer{}, ErrNoLeader
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Propose stamps a command with the leader's clock, appends it to the log
// and returns what applying it produced. Only the leader proposes.
func (r *Replica) Propose(ctx context.Context, cmd *mitaiv1.Command) (state.Result, error) {
	if !r.IsLeader() {
		return state.Result{}, ErrNotLeader
	}
	cmd.TimeUnixMs = time.Now().UnixMilli()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return state.Result{}, err
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	fut := r.raft.Apply(data, timeout)
	if err := fut.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return state.Result{}, fmt.Errorf("%w (%v)", ErrNotLeader, err)
		}
		return state.Result{}, fmt.Errorf("coordinator: commit: %w", err)
	}
	res := fut.Response().(applyResult)
	return res.Result, res.err
}

// Read runs fn on this replica's state. The state may be behind the leader
// (a stale read) unless Consistent was called first on the leader.
func (r *Replica) Read(fn func(*state.State)) { r.fsm.read(fn) }

// Consistent makes the next read on the leader see every write committed
// before the call: it confirms leadership with a quorum and waits until this
// replica has applied everything up to that point.
func (r *Replica) Consistent() error {
	if err := r.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("%w (%v)", ErrNotLeader, err)
	}
	return r.raft.Barrier(r.cfg.LeaderHold).Error()
}

// Status is a replica's view of the cluster.
type Status struct {
	ID, State, LeaderID string
	Term, LastIndex     uint64
	AppliedIndex        uint64
}

// Status returns this replica's Raft state.
func (r *Replica) Status() Status {
	_, leader := r.raft.LeaderWithID()
	return Status{
		ID: r.cfg.ID, State: r.raft.State().String(), LeaderID: string(leader),
		Term: r.raft.CurrentTerm(), LastIndex: r.raft.LastIndex(), AppliedIndex: r.raft.AppliedIndex(),
	}
}

// Snapshot forces a snapshot now (tests, operators before maintenance).
func (r *Replica) Snapshot() error { return r.raft.Snapshot().Error() }
