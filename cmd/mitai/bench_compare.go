package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mitai-dev/mitai/bench"
)

// compareFlags are the flags of a side-by-side run (bench he, bench psi).
type compareFlags struct {
	compare bool
	profile string
	runs    int
}

func (c *compareFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&c.compare, "compare", false, "run the generic and the tuned configuration (bench he: after lattigo's own path) side by side, interleaved")
	f.StringVar(&c.profile, "profile", "", "with --compare: the tuned configuration's profile (from mitai bench tune; default: kernels by CPU features)")
	f.IntVar(&c.runs, "compare-runs", 3, "with --compare: runs of each configuration; medians are reported")
}

// configs returns the generic and the tuned configuration, after
// lattigo's path when withLattigo (score jobs).
func (c *compareFlags) configs(withLattigo bool) ([]bench.Config, error) {
	if c.runs < 1 {
		return nil, fmt.Errorf("--compare-runs %d: want at least 1", c.runs)
	}
	var out []bench.Config
	if withLattigo {
		l, err := bench.LattigoConfig()
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	g, err := bench.GenericConfig()
	if err != nil {
		return nil, err
	}
	t, err := bench.TunedConfig(c.profile)
	if err != nil {
		return nil, err
	}
	return append(out, g, t), nil
}

func printComparison(w io.Writer, c *bench.Comparison, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	fmt.Fprintf(w, "\n%s job, %d rows, %d runs each, interleaved (%s, %d cores); medians\n", c.Job, c.Rows, c.Runs, c.CPU, c.Cores)
	fmt.Fprintf(w, "speedup: how many times faster %q ran than each configuration\n", c.Configs[len(c.Configs)-1].Name)
	fmt.Fprintf(w, "%-36s %-10s %7s %-14s %10s %8s  %s\n", "configuration", "kernel", "workers", "preset", "median s", "speedup", "runs (s)")
	for i, r := range c.Configs {
		var runs []string
		for _, s := range r.WallSeconds {
			runs = append(runs, fmt.Sprintf("%.3f", s))
		}
		fmt.Fprintf(w, "%-36s %-10s %7d %-14s %10.3f %8.2fx  %s\n", r.Name, r.Kernel, r.Workers, r.Preset, r.Median, c.LastSpeedup[i], strings.Join(runs, " "))
	}
	return nil
}
