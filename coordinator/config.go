package coordinator

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mitai-dev/mitai/internal/yamlconfig"
)

// Config is one replica's configuration, read from YAML.
type Config struct {
	// ID is this replica's Raft server id; it must appear in Peers.
	ID string `yaml:"id"`
	// DataDir holds the Raft log (raft.db), snapshots and nothing else.
	DataDir string `yaml:"data_dir"`
	// TLS names the cluster CA and this replica's certificate, whose CN must
	// be "coordinator".
	TLS TLSFiles `yaml:"tls"`
	// Peers are all voting replicas, this one included.
	Peers []Peer `yaml:"peers"`
	// Bootstrap makes a replica with an empty log start the cluster with
	// Peers as voters; harmless on a replica that already has state.
	Bootstrap bool `yaml:"bootstrap"`
	// MetricsListen is host:port for /metrics, /livez and /readyz; empty disables it.
	MetricsListen string `yaml:"metrics_listen"`
	// HeartbeatTimeout and ElectionTimeout tune Raft; defaults 500 ms and 1 s.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout  time.Duration `yaml:"election_timeout"`
	// SnapshotThreshold is the number of log entries between snapshots; default 8192.
	SnapshotThreshold uint64 `yaml:"snapshot_threshold"`
	// SnapshotInterval is how often Raft checks whether SnapshotThreshold
	// entries have accumulated; default 30 s.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// TrailingLogs are kept after a snapshot; default 10240.
	TrailingLogs uint64 `yaml:"trailing_logs"`
	// LeaderHold bounds how long a write waits for a leader before it fails
	// with a retryable error; default 5 s.
	LeaderHold time.Duration `yaml:"leader_hold"`
	// NodeTTL is how long a node may miss heartbeats before the attempts it
	// takes part in are aborted; default 10 s.
	NodeTTL time.Duration `yaml:"node_ttl"`
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `yaml:"log_level"`
}

// TLSFiles are PEM files.
type TLSFiles struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Peer is one replica as the others reach it.
type Peer struct {
	ID string `yaml:"id"`
	// Raft is the host:port of its Raft (TLS) listener.
	Raft string `yaml:"raft"`
	// API is the host:port of its gRPC API.
	API string `yaml:"api"`
}

// DefaultConfig returns the defaults; ID, DataDir, TLS and Peers must be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:  500 * time.Millisecond,
		ElectionTimeout:   time.Second,
		SnapshotThreshold: 8192,
		SnapshotInterval:  30 * time.Second,
		TrailingLogs:      10240,
		LeaderHold:        5 * time.Second,
		NodeTTL:           10 * time.Second,
		LogLevel:          "info",
	}
}

// LoadConfig reads a YAML configuration; relative paths are taken relative
// to the file's folder. Unknown fields are an error.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if err := yamlconfig.Load(path, &cfg, &cfg.DataDir, &cfg.TLS.CA, &cfg.TLS.Cert, &cfg.TLS.Key); err != nil {
		return cfg, fmt.Errorf("coordinator: config: %w", err)
	}
	return cfg, ValidateConfig(cfg)
}

// ValidateConfig rejects a configuration that cannot work, saying why.
func ValidateConfig(c Config) error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required"))
	}
	if c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "" {
		errs = append(errs, errors.New("tls.ca, tls.cert and tls.key are required"))
	}
	if len(c.Peers) == 0 {
		errs = append(errs, errors.New("peers must list every voting replica, this one included"))
	}
	ids, self := map[string]bool{}, false
	for _, p := range c.Peers {
		if ids[p.ID] {
			errs = append(errs, fmt.Errorf("peer id %q listed twice", p.ID))
		}
		ids[p.ID] = true
		self = self || p.ID == c.ID
		for _, addr := range []string{p.Raft, p.API} {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				errs = append(errs, fmt.Errorf("peer %q: address %q: %w", p.ID, addr, err))
			}
		}
	}
	if len(c.Peers) > 0 && !self {
		errs = append(errs, fmt.Errorf("id %q is not among the peers", c.ID))
	}
	if c.HeartbeatTimeout <= 0 || c.ElectionTimeout < c.HeartbeatTimeout {
		errs = append(errs, errors.New("need 0 < heartbeat_timeout <= election_timeout"))
	}
	if c.SnapshotInterval <= 0 {
		errs = append(errs, errors.New("snapshot_interval must be positive"))
	}
	if c.LeaderHold <= 0 || c.NodeTTL <= 0 {
		errs = append(errs, errors.New("leader_hold and node_ttl must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("coordinator: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// self returns this replica's peer entry.
func (c Config) self() Peer {
	for _, p := range c.Peers {
		if p.ID == c.ID {
			return p
		}
	}
	return Peer{}
}
