package node

import (
	"errors"
	"fmt"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"net"
	"path/filepath"
	"time"

	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/yamlconfig"
)

// Config is a node's configuration, read from YAML.
type Config struct {
	// Party is this node's party; it must equal the CN of the node's certificate.
	Party string `yaml:"party"`
	// Listen is host:port of the gRPC server (Peer and NodeAdmin services, health).
	Listen string `yaml:"listen"`
	// Advertise is the host:port peers dial; empty means Listen.
	Advertise string `yaml:"advertise"`
	// MetricsListen is host:port of the HTTP server for /metrics, /livez and /readyz; empty disables it.
	MetricsListen string `yaml:"metrics_listen"`
	// DataDir holds the dataset registry and the results folder.
	DataDir string `yaml:"data_dir"`
	// TLS names the cluster CA and this node's certificate and key files.
	TLS TLSFiles `yaml:"tls"`
	// Coordinator lists the coordinator replicas' API addresses; empty means
	// the node runs without a coordinator (tasks only through its admin API).
	Coordinator []string `yaml:"coordinator"`
	// NodeName names this node within its party (for the coordinator); default n1.
	NodeName string `yaml:"node_name"`
	// HeartbeatInterval is how often the node heartbeats to the coordinator; default 1 s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Datasets are registered at start (in addition to those added through the admin API).
	Datasets []DatasetConfig `yaml:"datasets"`
	// TaskTimeout bounds a task whose spec names no deadline; default 30 minutes.
	TaskTimeout time.Duration `yaml:"task_timeout"`
	// PeerIdleTimeout bounds the wait for any one message from a peer; default 2 minutes.
	PeerIdleTimeout time.Duration `yaml:"peer_idle_timeout"`
	// MaxTasks bounds the tasks running at once; default 4.
	MaxTasks int `yaml:"max_tasks"`
	// Group is the default group of psi tasks that name none; default crypto/group.DefaultName.
	Group string `yaml:"group"`
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `yaml:"log_level"`
	// Tuning is the host profile `mitai bench tune` wrote (kernel variants,
	// worker counts); empty means data_dir/tuning.json if it exists, else
	// the kernels the CPU features choose.
	Tuning string `yaml:"tuning"`
}

// TLSFiles are PEM files.
type TLSFiles struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// DatasetConfig registers a dataset from the configuration file.
type DatasetConfig struct {
	Name   string       `yaml:"name"`
	Path   string       `yaml:"path"`
	Key    string       `yaml:"key"`
	Policy PolicyConfig `yaml:"policy"`
}

// PolicyConfig is the YAML form of a Policy.
type PolicyConfig struct {
	Partners        []string            `yaml:"partners"`
	Modes           []string            `yaml:"modes"`
	Reveal          map[string][]string `yaml:"reveal"`
	MinIntersection uint64              `yaml:"min_intersection"`
	Expires         time.Time           `yaml:"expires"`
	AutoApprove     []string            `yaml:"auto_approve"`
	// Score is what the party releases to a score job's receiver; unset
	// means refuse two-party scoring and release exactly with more partners.
	Score *ScorePolicyConfig `yaml:"score"`
}

// ScorePolicyConfig is the YAML form of a score release policy.
type ScorePolicyConfig struct {
	TwoParty   *ScoreReleaseConfig `yaml:"two_party"`
	MultiParty *ScoreReleaseConfig `yaml:"multi_party"`
}

// ScoreReleaseConfig is one release rule: mode refuse, exact, noise
// (bound, epsilon) or bands (bound, min_band_width, levels).
type ScoreReleaseConfig struct {
	Mode         string  `yaml:"mode"`
	Bound        float64 `yaml:"bound"`
	Epsilon      float64 `yaml:"epsilon"`
	MinBandWidth float64 `yaml:"min_band_width"`
	Levels       uint32  `yaml:"levels"`
}

func (r *ScoreReleaseConfig) proto() *mitaiv1.ScoreRelease {
	if r == nil {
		return nil
	}
	return &mitaiv1.ScoreRelease{Mode: r.Mode, Bound: r.Bound, Epsilon: r.Epsilon, MinBandWidth: r.MinBandWidth, Levels: r.Levels}
}

// DefaultConfig returns a configuration with every default filled in; Party,
// TLS and DataDir must still be set.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:7400",
		TaskTimeout:       30 * time.Minute,
		PeerIdleTimeout:   2 * time.Minute,
		MaxTasks:          4,
		NodeName:          "n1",
		HeartbeatInterval: time.Second,
		Group:             group.DefaultName,
		LogLevel:          "info",
	}
}

// LoadConfig reads a YAML configuration; relative paths in it are taken
// relative to the file's folder. Unknown fields are an error.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if err := yamlconfig.Load(path, &cfg, &cfg.DataDir, &cfg.TLS.CA, &cfg.TLS.Cert, &cfg.TLS.Key, &cfg.Tuning); err != nil {
		return cfg, fmt.Errorf("node: config: %w", err)
	}
	// Dataset paths too, once the decode has made the list.
	for i := range cfg.Datasets {
		if p := cfg.Datasets[i].Path; p != "" && !filepath.IsAbs(p) {
			cfg.Datasets[i].Path = filepath.Join(filepath.Dir(path), p)
		}
	}
	return cfg, ValidateConfig(cfg)
}

// ValidateConfig rejects a configuration that cannot work, saying why.
func ValidateConfig(c Config) error {
	var errs []error
	if err := pki.ValidPartyName(c.Party); err != nil {
		errs = append(errs, fmt.Errorf("party: %w", err))
	}
	for _, addr := range c.Coordinator {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("coordinator address %q: want host:port: %w", addr, err))
		}
	}
	for name, addr := range map[string]string{"listen": c.Listen, "advertise": c.Advertise, "metrics_listen": c.MetricsListen} {
		if addr == "" && name != "listen" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port: %w", name, addr, err))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required"))
	}
	if c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "" {
		errs = append(errs, errors.New("tls.ca, tls.cert and tls.key are required"))
	}
	if c.TaskTimeout <= 0 || c.PeerIdleTimeout <= 0 {
		errs = append(errs, errors.New("task_timeout and peer_idle_timeout must be positive"))
	}
	if c.HeartbeatInterval <= 0 {
		errs = append(errs, errors.New("heartbeat_interval must be positive"))
	}
	if err := pki.ValidPartyName(c.NodeName); err != nil {
		errs = append(errs, fmt.Errorf("node_name: %w", err))
	}
	if c.MaxTasks < 1 {
		errs = append(errs, errors.New("max_tasks must be at least 1"))
	}
	if _, err := group.ByName(c.Group); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, d := range c.Datasets {
		if seen[d.Name] {
			errs = append(errs, fmt.Errorf("dataset %q listed twice", d.Name))
		}
		seen[d.Name] = true
		if _, err := d.Policy.toPolicy(); err != nil {
			errs = append(errs, fmt.Errorf("dataset %q: %w", d.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("node: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
