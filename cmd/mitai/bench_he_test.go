package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchHE(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		runs int // 0: not JSON
	}{
		{"json", []string{"--json"}, 1},
		{"json runs", []string{"--json", "--runs", "2"}, 2},
		{"text", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := benchCmd()
			var stdout, stderr bytes.Buffer
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			cmd.SetArgs(append([]string{"he", "--rows", "20000", "--seed", "7"}, tc.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if tc.runs == 0 {
				for _, s := range []string{"key set", "public-key share", "sealed secret share", "sent per party", "rows/s",
					"process CPU", "bytes per row", "keyswitch", "transport", "bureau", "max error vs plain"} {
					if !strings.Contains(stdout.String(), s) {
						t.Errorf("report lacks %q:\n%s", s, stdout.String())
					}
				}
				return
			}
			if !strings.Contains(stderr.String(), "scoring 20000 rows") {
				t.Errorf("no progress on stderr: %q", stderr.String())
			}
			dec := json.NewDecoder(&stdout)
			var top map[string]any
			if err := dec.Decode(&top); err != nil {
				t.Fatalf("stdout is not a JSON object: %v\n%s", err, stdout.String())
			}
			if dec.More() {
				t.Fatal("more than one JSON value on stdout")
			}
			reports := []map[string]any{top}
			if tc.runs > 1 {
				runs, ok := top["runs"].([]any)
				if !ok || len(runs) != tc.runs {
					t.Fatalf("runs: %v", top["runs"])
				}
				for _, r := range runs {
					reports = append(reports, r.(map[string]any))
				}
			}
			for i, r := range reports {
				if r["score_rows"] != 20000.0 {
					t.Errorf("report %d: score_rows %v", i, r["score_rows"])
				}
				for _, k := range []string{"score_wall_seconds", "keygen_wall_seconds", "process_cpu_seconds", "bytes_per_row"} {
					if v, ok := r[k].(float64); !ok || v <= 0 {
						t.Errorf("report %d: %s = %v", i, k, r[k])
					}
				}
				if p, ok := r["max_probability_error"].(float64); !ok || p > 1e-3 {
					t.Errorf("report %d: max_probability_error %v, want ≤ 1e-3", i, r["max_probability_error"])
				}
				if p, ok := r["max_points_error"].(float64); !ok || p > 0.5 {
					t.Errorf("report %d: max_points_error %v, want ≤ 0.5", i, r["max_points_error"])
				}
			}
			// Every single run carries the key sizes, the parties' CPU and the phases.
			for i, r := range reports[len(reports)-tc.runs:] {
				for _, k := range []string{"key_set_bytes", "public_key_share_bytes", "sealed_secret_share_bytes", "keygen_bytes_sent_per_party"} {
					if v, ok := r[k].(float64); !ok || v <= 0 {
						t.Errorf("run %d: %s = %v", i, k, r[k])
					}
				}
				phases, _ := r["cpu_seconds_by_phase"].(map[string]any)
				for _, ph := range []string{"encode", "encrypt", "keyswitch", "transport", "decrypt"} {
					if v, ok := phases[ph].(float64); !ok || v <= 0 {
						t.Errorf("run %d: CPU of %s: %v", i, ph, phases[ph])
					}
				}
				parties, _ := r["per_party"].([]any)
				if len(parties) != 3 {
					t.Fatalf("run %d: per_party %v", i, r["per_party"])
				}
				for _, p := range parties {
					if v, ok := p.(map[string]any)["cpu_seconds"].(float64); !ok || v <= 0 {
						t.Errorf("run %d: party CPU %v", i, p)
					}
				}
			}
		})
	}
}

func TestBenchHEFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--runs", "0"},
		{"--parties", "bank,,telco"},
		{"--preset", "nope"},
	} {
		cmd := benchCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"he", "--rows", "100"}, args...))
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
