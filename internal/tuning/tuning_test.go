package tuning

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/crypto/kernel"
)

func validProfile() *Profile {
	best := kernel.Variants()[len(kernel.Variants())-1]
	return &Profile{Version: Version, Host: ThisHost(),
		Kernels:      map[string]string{"NTT": best, "Add": kernel.Generic},
		ScoreWorkers: 2, PSIWorkers: 1, Preset: "affine-ci14",
		Choices: []Choice{{Setting: "kernel NTT", On: "N=2^14", Unit: "ns", Chosen: best,
			Candidates: []Candidate{{Name: best, Median: 1, Samples: []float64{1, 1, 2}}}}}}
}

func TestSaveLoadFind(t *testing.T) {
	dir := t.TempDir()
	p := validProfile()
	path := filepath.Join(dir, FileName)
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kernels["NTT"] != p.Kernels["NTT"] || got.ScoreWorkers != 2 || got.Host.CPU != p.Host.CPU || len(got.Choices) != 1 {
		t.Fatalf("loaded %+v", got)
	}
	// Find: the explicit path, else the data folder's file, else none.
	if _, found, err := Find(path, ""); err != nil || found != path {
		t.Fatalf("Find(path) = %q, %v", found, err)
	}
	if _, found, err := Find("", dir); err != nil || found != path {
		t.Fatalf("Find(dataDir) = %q, %v", found, err)
	}
	if p, found, err := Find("", t.TempDir()); err != nil || p != nil || found != "" {
		t.Fatalf("Find(empty dir) = %v, %q, %v", p, found, err)
	}
	if _, _, err := Find(filepath.Join(dir, "missing.json"), ""); err == nil {
		t.Fatal("an explicit missing profile was accepted")
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		path := filepath.Join(dir, "p.json")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"garbage", "{", "unexpected EOF"},
		{"unknown field", `{"version":1,"kernels":{},"score_wokers":2}`, "unknown field"},
		{"version", `{"version":9}`, "version 9"},
		{"op", `{"version":1,"kernels":{"FFT":"generic"}}`, `operation "FFT"`},
		{"variant", `{"version":1,"kernels":{"NTT":"sse9"}}`, "unknown variant"},
		{"workers", `{"version":1,"score_workers":-1}`, "score_workers"},
		{"limbs", `{"version":1,"limb_parallelism":100000}`, "limb_parallelism"},
		{"psi batch", `{"version":1,"psi_batch_size":1000000}`, "psi_batch_size"},
		{"preset", `{"version":1,"preset":"rsa-2048"}`, "unknown parameter preset"},
		{"trailing", `{"version":1}{}`, "after the profile"},
	} {
		_, err := Load(write(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	prev, prevLimbs := kernel.Active(), he.LimbParallelism()
	defer func() { kernel.SetActive(prev); he.SetLimbParallelism(prevLimbs) }()
	p := validProfile()
	p.LimbParallelism = 2
	if err := p.Apply(false); err != nil {
		t.Fatal(err)
	}
	if kernel.Active() != prev || he.LimbParallelism() != 2 {
		t.Fatalf("Apply(false): kernel %s, limb parallelism %d", kernel.Active().Name(), he.LimbParallelism())
	}
	if err := p.Apply(true); err != nil {
		t.Fatal(err)
	}
	if kernel.Active().Name() != "tuned" {
		t.Fatalf("active variant %s after Apply(true)", kernel.Active().Name())
	}
}

// TestBaseVariant: what a profile does not name runs the most preferred
// variant it names (an AVX2-only profile runs nothing wider), or, naming
// none, the CPU features' choice.
func TestBaseVariant(t *testing.T) {
	if got := baseVariant(nil); got != kernel.Best().Name() {
		t.Fatalf("no kernels: base %s, want %s", got, kernel.Best().Name())
	}
	all := map[string]string{}
	for _, op := range kernel.Ops {
		all[op] = kernel.Generic
	}
	if got := baseVariant(all); got != kernel.Generic {
		t.Fatalf("all generic: base %s", got)
	}
	for _, v := range kernel.Variants() {
		all["NTT"] = v
		if got := baseVariant(all); got != v {
			t.Fatalf("NTT %s, the rest generic: base %s", v, got)
		}
	}
}
