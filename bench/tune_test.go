package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/internal/tuning"
)

// TestRunTuneTiny runs the whole tuner at toy sizes: every choice has a
// measured candidate per option, the profile validates and applies, and the
// reports are written.
func TestRunTuneTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs score and PSI jobs")
	}
	prev := kernel.Active()
	rep, err := RunTune(context.Background(), TuneOptions{Presets: []string{"affine-ci14"}, ScoreRows: 3000, PSIRows: 300, PSIBatchRows: 300, Rounds: 2, ChartLogN: []int{10, 11}})
	if err != nil {
		t.Fatal(err)
	}
	if kernel.Active() != prev {
		t.Fatal("RunTune left another kernel variant active")
	}
	p := rep.Profile
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Preset != "affine-ci14" || len(p.Kernels) != len(kernel.Ops) {
		t.Fatalf("profile preset %q, %d kernel choices", p.Preset, len(p.Kernels))
	}
	settings := map[string]bool{}
	for _, c := range p.Choices {
		settings[c.Setting] = true
		for _, cand := range c.Candidates {
			if len(cand.Samples) == 0 || cand.Median <= 0 {
				t.Fatalf("%s: candidate %s has no timings", c.Setting, cand.Name)
			}
		}
		if c.Chosen == "" || c.Gain < 1 {
			t.Fatalf("%s: chosen %q gain %v", c.Setting, c.Chosen, c.Gain)
		}
	}
	for _, s := range []string{"kernel NTT", "score preset", "score parallelism", "psi workers", "psi batch size"} {
		if !settings[s] {
			t.Fatalf("no %q choice in %v", s, settings)
		}
	}
	if b := p.PSIBatchSize; b != 0 && !slices.Contains(psiBatchSizes, b) {
		t.Fatalf("psi batch size %d, not a candidate", b)
	}
	dir := t.TempDir()
	paths, err := WriteTuneReports(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("wrote %v", paths)
	}
	svg, err := os.ReadFile(filepath.Join(dir, TuneChart))
	if err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("speedup")) {
		t.Fatalf("chart: %v, %.200s", err, svg)
	}
	md, _ := os.ReadFile(filepath.Join(dir, TuneMarkdown))
	if !strings.Contains(string(md), "| kernel NTT |") {
		t.Fatalf("markdown:\n%s", md)
	}
	if err := p.Save(filepath.Join(dir, tuning.FileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := tuning.Load(filepath.Join(dir, tuning.FileName)); err != nil {
		t.Fatal(err)
	}
}

// TestHECompareTiny: the three configurations run, the speedups are the
// ratios of the medians, every run's scores are right (lattigo's path
// included), and the process's lattigo path is off again afterwards.
func TestHECompareTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs score jobs")
	}
	l, err := LattigoConfig()
	if err != nil {
		t.Fatal(err)
	}
	g, err := GenericConfig()
	if err != nil {
		t.Fatal(err)
	}
	tu, err := TunedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := RunHECompare(context.Background(), HEOptions{Rows: 2000, Preset: "affine-ci12"}, []Config{l, g, tu}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Configs) != 3 || len(c.Configs[2].WallSeconds) != 2 || c.Speedup[0] != 1 || c.LastSpeedup[2] != 1 ||
		c.Speedup[2] != c.Configs[0].Median/c.Configs[2].Median || c.LastSpeedup[1] != c.Configs[1].Median/c.Configs[2].Median ||
		c.Configs[0].Kernel != kernel.Generic || c.Configs[0].Name != "lattigo" {
		t.Fatalf("comparison %+v", c)
	}
	for _, r := range c.Configs {
		if r.MaxProbabilityError > 1e-3 {
			t.Fatalf("%s run's probability error %g", r.Name, r.MaxProbabilityError)
		}
	}
	if he.LattigoPath() {
		t.Fatal("the lattigo path is still on after the comparison")
	}
}

// TestTunedConfigAbsolutePath: the profile path handed to node processes is
// absolute (their configs resolve relative paths from their own folder).
func TestTunedConfigAbsolutePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	p := &tuning.Profile{Version: tuning.Version, Host: tuning.ThisHost(), PSIWorkers: 1}
	if err := p.Save("tuning.json"); err != nil {
		t.Fatal(err)
	}
	c, err := TunedConfig("tuning.json")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.ProfilePath) || c.PSIWorkers != 1 {
		t.Fatalf("config %+v", c)
	}
}
