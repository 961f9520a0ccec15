package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/internal/tuning"
)

// Config is one configuration of a side-by-side benchmark.
type Config struct {
	// Name labels the configuration in reports ("lattigo", "generic",
	// "tuned").
	Name string
	// Kernel is the crypto/kernel variant (or composition) the run uses.
	Kernel *kernel.Impl
	// Workers per party (0: GOMAXPROCS) for score jobs; PSIWorkers for PSI.
	Workers, PSIWorkers int
	// LimbParallelism is crypto/he's (0 or 1: sequential limbs).
	LimbParallelism int
	// Preset of the score job; empty means the options' preset.
	Preset string
	// ProfilePath is the profile nodes load in process benchmarks (PSI);
	// empty means none.
	ProfilePath string
	// LattigoPath runs encryption and key-switch shares through lattigo's
	// own code (he.SetLattigoPath; score jobs only).
	LattigoPath bool
}

// LattigoConfig is the code path before crypto/kernel: lattigo's encryptor
// and share generation, with lattigo's samplers and ring arithmetic, the
// generic kernels for the rest (their NTT is lattigo's; the other loops run
// at lattigo's speed or faster), default worker counts and preset.
func LattigoConfig() (Config, error) {
	c, err := GenericConfig()
	c.Name, c.LattigoPath = "lattigo", true
	return c, err
}

// GenericConfig is the portable configuration: the generic Go kernels,
// default worker counts and preset.
func GenericConfig() (Config, error) {
	k, err := kernel.Get(kernel.Generic)
	if err != nil {
		return Config{}, err
	}
	return Config{Name: "generic", Kernel: k}, nil
}

// TunedConfig is the configuration of a profile (read from path); with an
// empty path it is what a node without a profile runs: the kernels its CPU
// features choose, default workers and preset.
func TunedConfig(path string) (Config, error) {
	if path == "" {
		return Config{Name: "tuned (CPU features, no profile)", Kernel: kernel.Best()}, nil
	}
	path, err := filepath.Abs(path) // node configs resolve relative paths from their own folder
	if err != nil {
		return Config{}, err
	}
	p, err := tuning.Load(path)
	if err != nil {
		return Config{}, err
	}
	k, err := p.KernelImpl()
	if err != nil {
		return Config{}, err
	}
	return Config{Name: "tuned", Kernel: k, Workers: p.ScoreWorkers, PSIWorkers: p.PSIWorkers, LimbParallelism: p.LimbParallelism,
		Preset: p.Preset, ProfilePath: path}, nil
}

// ConfigResult is one configuration's figures over the runs.
type ConfigResult struct {
	Name    string `json:"name"`
	Kernel  string `json:"kernel"`
	Workers int    `json:"workers"`
	Preset  string `json:"preset,omitempty"`
	// WallSeconds are the job's wall times, in run order; Median their
	// median.
	WallSeconds []float64 `json:"wall_seconds"`
	Median      float64   `json:"median_wall_seconds"`
	// ProcessCPUSeconds is the median CPU of the process (score only).
	ProcessCPUSeconds float64 `json:"median_process_cpu_seconds,omitempty"`
	// MaxProbabilityError is the largest over the runs (score only).
	MaxProbabilityError float64 `json:"max_probability_error,omitempty"`
}

// Comparison is a side-by-side benchmark: the configurations, run
// interleaved (the order rotating each run), and the first one's median
// over each other's.
type Comparison struct {
	Job     string         `json:"job"`
	Rows    int            `json:"rows"`
	Runs    int            `json:"runs"`
	Configs []ConfigResult `json:"configs"`
	// Speedup[i] is Configs[0].Median / Configs[i].Median: how many times
	// faster configuration i ran than the first.
	Speedup []float64 `json:"speedup"`
	// LastSpeedup[i] is Configs[i].Median / Configs[last].Median: how many
	// times faster the last configuration (the tuned one) ran than i.
	LastSpeedup []float64 `json:"last_speedup"`
	CPU         string    `json:"cpu"`
	Cores       int       `json:"cores"`
}

// interleave runs every configuration runs times, rotating the order each
// run, and collects run's results per configuration.
func interleave[T any](ctx context.Context, configs []Config, runs int, run func(Config) (T, error)) ([][]T, error) {
	if len(configs) == 0 || runs < 1 {
		return nil, fmt.Errorf("bench: %d configurations, %d runs", len(configs), runs)
	}
	out := make([][]T, len(configs))
	for r := range runs {
		for j := range configs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			i := (j + r) % len(configs)
			res, err := run(configs[i])
			if err != nil {
				return nil, fmt.Errorf("bench: %s, run %d: %w", configs[i].Name, r+1, err)
			}
			out[i] = append(out[i], res)
		}
	}
	return out, nil
}

func (c *Comparison) finish() {
	for i := range c.Configs {
		c.Configs[i].Median = median(c.Configs[i].WallSeconds)
	}
	last := c.Configs[len(c.Configs)-1].Median
	for i := range c.Configs {
		c.Speedup = append(c.Speedup, c.Configs[0].Median/c.Configs[i].Median)
		c.LastSpeedup = append(c.LastSpeedup, c.Configs[i].Median/last)
	}
}

// RunHECompare runs the score job of RunHE under each configuration, runs
// times each, interleaved, on the same generated data (new keys each run),
// and reports each configuration's median beside the first's and the
// last's. The process's kernel variant, limb parallelism and lattigo path
// are restored afterwards.
func RunHECompare(ctx context.Context, o HEOptions, configs []Config, runs int) (*Comparison, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := generateHE(o)
	if err != nil {
		return nil, err
	}
	prev, prevLimbs, prevPath := kernel.Active(), he.LimbParallelism(), he.LattigoPath()
	defer func() { kernel.SetActive(prev); he.SetLimbParallelism(prevLimbs); he.SetLattigoPath(prevPath) }()
	reps, err := interleave(ctx, configs, runs, func(c Config) (*HEReport, error) {
		kernel.SetActive(c.Kernel)
		he.SetLimbParallelism(c.LimbParallelism)
		he.SetLattigoPath(c.LattigoPath)
		oc := o
		oc.Workers = c.Workers
		if c.Preset != "" {
			oc.Preset = c.Preset
		}
		rep, err := d.measure(ctx, oc)
		if err == nil {
			fmt.Fprintf(o.Progress, "%s: score %.3f s (kernel %s, workers %d, preset %s)\n", c.Name, rep.ScoreWallSeconds, c.Kernel.Name(), c.Workers, oc.Preset)
		}
		return rep, err
	})
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Job: "score", Rows: o.Rows, Runs: runs, CPU: tuning.CPUModel()}
	for i, c := range configs {
		r := ConfigResult{Name: c.Name, Kernel: c.Kernel.Name(), Workers: c.Workers, Preset: reps[i][0].Preset}
		var cpu []float64
		for _, rep := range reps[i] {
			r.WallSeconds = append(r.WallSeconds, rep.ScoreWallSeconds)
			cpu = append(cpu, rep.ProcessCPUSeconds)
			r.MaxProbabilityError = max(r.MaxProbabilityError, rep.MaxProbabilityError)
			cmp.Cores = rep.Cores
		}
		r.ProcessCPUSeconds = median(cpu)
		cmp.Configs = append(cmp.Configs, r)
	}
	cmp.finish()
	return cmp, nil
}

// RunPSICompare runs RunPSI (two real node processes) under each
// configuration, runs times each, interleaved. A configuration reaches the
// nodes through their environment (MITAI_KERNEL) and profile.
func RunPSICompare(ctx context.Context, o PSIOptions, configs []Config, runs int) (*Comparison, error) {
	for _, c := range configs {
		if c.LattigoPath {
			return nil, fmt.Errorf("bench: psi: configuration %s: the lattigo path is a score-job setting (PSI uses no HE)", c.Name)
		}
	}
	o.SkipFloor = true
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	reps, err := interleave(ctx, configs, runs, func(c Config) (*PSIReport, error) {
		oc := o
		oc.Dir = "" // each run in a fresh temporary folder
		oc.Env = append(append([]string(nil), o.Env...), kernel.EnvVar+"="+envKernel(c))
		oc.Tuning = c.ProfilePath
		rep, err := RunPSI(ctx, oc)
		if err == nil {
			fmt.Fprintf(progress, "%s: psi %.3f s\n", c.Name, rep.WallSeconds)
		}
		return rep, err
	})
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Job: "psi", Rows: o.Rows, Runs: runs, CPU: tuning.CPUModel()}
	for i, c := range configs {
		r := ConfigResult{Name: c.Name, Kernel: c.Kernel.Name(), Workers: c.PSIWorkers}
		for _, rep := range reps[i] {
			r.WallSeconds = append(r.WallSeconds, rep.WallSeconds)
			cmp.Cores = rep.Cores
		}
		cmp.Configs = append(cmp.Configs, r)
	}
	cmp.finish()
	return cmp, nil
}

// envKernel is the MITAI_KERNEL value that gives a node process c's
// kernels: generic forces them; anything else leaves the choice to the
// node's profile or CPU features (an empty value forces nothing).
func envKernel(c Config) string {
	if c.Kernel.Name() == kernel.Generic {
		return kernel.Generic
	}
	return ""
}
