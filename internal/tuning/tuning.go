// Package tuning is the host profile that `mitai bench tune` writes and a
// node loads at start: which crypto/kernel variant runs each ring operation,
// how many goroutines score and PSI jobs use, and the parameter preset that
// scored fastest on the host, together with the host it was measured on and
// every measurement behind each choice.
//
// A profile only changes speed, never results: every kernel variant computes
// the same words (crypto/kernel checks them against lattigo), worker counts
// do not change what a protocol sends, and the preset is advice for whoever
// submits key generation jobs (all parties of a job must agree on it, so a
// node never picks it alone).
package tuning

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// Version is the profile format this package reads and writes.
const Version = 1

// FileName is the profile a node looks for in its data folder when its
// configuration names none.
const FileName = "tuning.json"

// MaxWorkers bounds the worker counts a profile may set.
const MaxWorkers = 1024

// Profile is one host's tuned configuration.
type Profile struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Host    Host      `json:"host"`
	// Kernels maps a crypto/kernel operation (kernel.Ops) to the variant
	// that runs it; what is not listed runs the widest variant listed (see
	// KernelImpl).
	Kernels map[string]string `json:"kernels"`
	// ScoreWorkers is the number of goroutines for a score job's ciphertext
	// work (0: GOMAXPROCS).
	ScoreWorkers int `json:"score_workers"`
	// LimbParallelism is how many goroutines one ciphertext's RNS limbs may
	// use (0 or 1: one after the other); see he.SetLimbParallelism.
	LimbParallelism int `json:"limb_parallelism"`
	// PSIWorkers is the number of goroutines for a PSI job's group
	// operations (0: GOMAXPROCS).
	PSIWorkers int `json:"psi_workers"`
	// PSIBatchSize is the most elements per PSI message this node sends or
	// accepts (0: psi.DefaultBatchSize); a pair of nodes uses the smaller of
	// their two values.
	PSIBatchSize int `json:"psi_batch_size,omitempty"`
	// Preset is the score preset measured fastest on this host; advice for
	// key generation jobs, which name the preset all parties use.
	Preset string `json:"preset,omitempty"`
	// Choices are the measurements behind each setting above.
	Choices []Choice `json:"choices"`
}

// Host describes the machine a profile was measured on.
type Host struct {
	CPU         string   `json:"cpu"`
	CPUFeatures []string `json:"cpu_features"`
	Cores       int      `json:"cores"`
	GoVersion   string   `json:"go_version"`
	OS          string   `json:"os"`
	Arch        string   `json:"arch"`
}

// ThisHost describes the machine this process runs on.
func ThisHost() Host {
	return Host{CPU: CPUModel(), CPUFeatures: kernel.CPUFeatures(), Cores: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// Choice is one decision of the tuner: the candidates it timed, on what, and
// the one it kept (the lowest median).
type Choice struct {
	// Setting is what was decided: "kernel NTT", "score workers", ...
	Setting string `json:"setting"`
	// On describes the workload: ring size, rows, preset.
	On         string      `json:"on"`
	Unit       string      `json:"unit"`
	Candidates []Candidate `json:"candidates"`
	Chosen     string      `json:"chosen"`
	// Gain is the slowest candidate's median over the chosen one's.
	Gain float64 `json:"gain"`
}

// Candidate is one option's timings, in the order they were taken
// (interleaved with the other candidates'), and their median.
type Candidate struct {
	Name    string    `json:"name"`
	Median  float64   `json:"median"`
	Samples []float64 `json:"samples"`
}

// Validate checks that p is a profile this build can apply on this CPU: a
// known version, known operations, variants this CPU runs, worker counts in
// range, a known preset.
func (p *Profile) Validate() error {
	if p.Version != Version {
		return fmt.Errorf("tuning: profile version %d, this build reads version %d", p.Version, Version)
	}
	ops := make([]string, 0, len(p.Kernels))
	for op := range p.Kernels {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		if !slices.Contains(kernel.Ops, op) {
			return fmt.Errorf("tuning: profile names kernel operation %q, known: %s", op, strings.Join(kernel.Ops, ", "))
		}
		if _, err := kernel.Get(p.Kernels[op]); err != nil {
			return fmt.Errorf("tuning: kernel %s: %w (profile measured on %s)", op, err, p.Host.CPU)
		}
	}
	for _, w := range []struct {
		name   string
		n, max int
	}{{"score_workers", p.ScoreWorkers, MaxWorkers}, {"psi_workers", p.PSIWorkers, MaxWorkers}, {"limb_parallelism", p.LimbParallelism, he.MaxLimbParallelism},
		{"psi_batch_size", p.PSIBatchSize, psi.MaxBatchSize}} {
		if w.n < 0 || w.n > w.max {
			return fmt.Errorf("tuning: %s = %d, want 0..%d", w.name, w.n, w.max)
		}
	}
	if p.Preset != "" {
		if _, err := he.PresetByName(p.Preset); err != nil {
			return fmt.Errorf("tuning: %w", err)
		}
	}
	return nil
}

// Load reads and validates a profile. Unknown fields are an error, so that a
// misspelt setting is not silently ignored.
func Load(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tuning: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("tuning: %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("tuning: %s: data after the profile", path)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return &p, nil
}

// Find returns the profile to use: the file at path if path is not empty,
// else FileName in dataDir if there is one, else nil (the node picks by CPU
// features). found reports which file it read.
func Find(path, dataDir string) (p *Profile, found string, err error) {
	if path == "" {
		if dataDir == "" {
			return nil, "", nil
		}
		path = filepath.Join(dataDir, FileName)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, "", nil
		}
	}
	p, err = Load(path)
	if err != nil {
		return nil, "", err
	}
	return p, path, nil
}

// Save writes p as indented JSON.
func (p *Profile) Save(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// KernelImpl returns the composition of kernel variants p chooses. What p
// does not name (an operation left out, and SampleCDT, which is not among
// kernel.Ops) runs the most preferred variant p names, so that a profile
// made for an AVX2-only host runs nothing wider; a profile that names no
// variant runs what the CPU features choose.
func (p *Profile) KernelImpl() (*kernel.Impl, error) {
	base, err := kernel.Get(baseVariant(p.Kernels))
	if err != nil {
		return nil, err
	}
	return kernel.Compose("tuned", base, p.Kernels)
}

// baseVariant returns the most preferred of the variants named in kernels
// (kernel.Variants' order; names this host cannot run are left to Compose to
// refuse), or with none named the one the CPU features choose.
func baseVariant(kernels map[string]string) string {
	if len(kernels) == 0 {
		return kernel.Best().Name()
	}
	rank := kernel.Variants()
	best := 0
	for _, v := range kernels {
		best = max(best, slices.Index(rank, v))
	}
	return rank[best]
}

// Apply makes p's process-wide settings current: the limb parallelism of
// crypto/he and, if kernels, p's kernel choices in crypto/kernel. (Worker
// counts are per job; the node passes them to each job.)
func (p *Profile) Apply(kernels bool) error {
	if kernels {
		k, err := p.KernelImpl()
		if err != nil {
			return err
		}
		kernel.SetActive(k)
	}
	he.SetLimbParallelism(p.LimbParallelism)
	return nil
}

// CPUModel reads the CPU model name (Linux /proc/cpuinfo); elsewhere it is
// the architecture.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
