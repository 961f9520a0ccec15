package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

func TestBenchKernels(t *testing.T) {
	t.Parallel()
	tiny := []string{"kernels", "--logn", "4,6", "--limbs", "2", "--bits", "50", "--ops", "NTT,MulCoeffsMontgomeryThenAdd,Reduce", "--rounds", "3", "--min-time", "200us"}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		cmd := benchCmd()
		var stdout, stderr bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs(append(tiny, "--json"))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		var rows []struct {
			Op      string  `json:"op"`
			N       int     `json:"n"`
			Limbs   int     `json:"limbs"`
			Variant string  `json:"variant"`
			NsPerOp float64 `json:"ns_per_op"`
			Speedup float64 `json:"speedup"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
			t.Fatalf("stdout is not a JSON array: %v\n%s", err, stdout.String())
		}
		variants := append([]string{"lattigo"}, kernel.Variants()...)
		if want := 2 * 3 * len(variants); len(rows) != want {
			t.Fatalf("%d rows, want %d (2 N x 3 ops x %v)", len(rows), want, variants)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.NsPerOp <= 0 || r.Speedup <= 0 || r.Limbs != 2 || (r.N != 16 && r.N != 64) {
				t.Errorf("bad row %+v", r)
			}
			if r.Variant == "lattigo" && r.Speedup != 1 {
				t.Errorf("lattigo's speedup is %v", r.Speedup)
			}
			seen[r.Variant] = true
		}
		for _, v := range variants {
			if !seen[v] {
				t.Errorf("no row for variant %s", v)
			}
		}
		if !strings.Contains(stderr.String(), "NTT") {
			t.Errorf("no progress on stderr: %q", stderr.String())
		}
	})
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		cmd := benchCmd()
		var stdout bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stdout)
		cmd.SetArgs(tiny)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v\n%s", err, stdout.String())
		}
		for _, s := range []string{"lattigo", "generic", "speedup", "MulCoeffsMontgomeryThenAdd", "median of 3"} {
			if !strings.Contains(stdout.String(), s) {
				t.Errorf("table lacks %q:\n%s", s, stdout.String())
			}
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"--bits", "62"}, {"--ops", "FFT"}, {"--variants", "sse9"}, {"--logn", "2"}, {"--rounds", "-1"}, {"--ring", "negacyclic"}} {
			cmd := benchCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"kernels"}, args...))
			if err := cmd.Execute(); err == nil {
				t.Errorf("%v: no error", args)
			}
		}
	})
}
