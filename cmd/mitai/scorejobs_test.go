package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScoreJobsByCLI drives the three multi-party kinds with `mitai job
// submit` as a user would, on a 3-replica coordinator and three node
// processes: an mpsi alignment, a keygen (its key set listed by `mitai
// keyset list`) and a score job naming both; then a score job whose
// bureau model does not match bureau's dataset fails cleanly, with no
// result at the bank.
func TestScoreJobsByCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	h := newHarness(t)
	h.run(nil, "datagen", "credit", "--parties", "bank,bureau,telco", "--rows", "1500", "--overlap", "0.4", "--out", "credit", "--seed", "9")
	c := startCluster(h, clusterSettings{})
	h.run(nil, "ca", "issue", "--ca-dir", "pki", "--party", "bureau", "--node", "n1", "--host", "127.0.0.1")
	parties := []string{"bank", "bureau", "telco"}
	for _, p := range parties {
		c.startNode(p, "")
		var partners []string
		for _, q := range parties {
			if q != p {
				partners = append(partners, "--partner", q)
			}
		}
		args := append([]string{"dataset", "add", "--config", p + ".yaml", "--name", "features", "--file", "credit/" + p + ".csv", "--modes", "mpsi,keygen,score"}, partners...)
		h.run(nil, args...)
		models := filepath.Join(h.dir, p+"-data", "models")
		if err := os.MkdirAll(models, 0o700); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(h.dir, "credit", "model_"+p+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(models, "credit.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// bureau's "short" model names a column bureau's dataset lacks.
	bad := `{"format": "mitai.score.model/v1", "party": "bureau", "features": [{"column": "no_such_column", "weight": 1}]}`
	if err := os.WriteFile(filepath.Join(h.dir, "bureau-data", "models", "short.json"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bank", "telco"} {
		if err := os.WriteFile(filepath.Join(h.dir, p+"-data", "models", "short.json"),
			mustRead(t, filepath.Join(h.dir, p+"-data", "models", "credit.json")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := c.env
	participants := []string{"--participant", "bank:features", "--participant", "bureau:features", "--participant", "telco:features"}
	jobID := regexp.MustCompile(`job (job-[0-9a-f]+): `)
	// submit submits as bank, approves as bureau and telco, and watches.
	submit := func(want string, args ...string) (string, string) {
		t.Helper()
		out := h.run(env("bank"), append(append([]string{"job", "submit"}, participants...), args...)...)
		m := jobID.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("submit %v: %s", args, out)
		}
		for _, p := range []string{"bureau", "telco"} {
			h.run(env(p), "job", "approve", m[1])
		}
		watch, _ := h.try(env("bank"), "job", "watch", m[1], "--timeout", "90s")
		if !strings.Contains(watch, want) {
			t.Fatalf("job %s (%v): want %s, got\n%s", m[1], args, want, watch)
		}
		return m[1], h.run(env("bank"), "job", "status", m[1])
	}

	align, _ := submit("succeeded", "--kind", "mpsi")
	for _, p := range parties {
		if _, err := os.Stat(filepath.Join(h.dir, p+"-data", "results", align+"-t0.csv")); err != nil {
			t.Fatalf("%s has no aligned key list: %v", p, err)
		}
	}
	kg, status := submit("succeeded", "--kind", "keygen")
	m := regexp.MustCompile(`key set ([0-9a-f]{64})`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("keygen status names no key set:\n%s", status)
	}
	keySet := m[1]
	if out := h.run(env("telco"), "keyset", "list"); !strings.Contains(out, keySet) || !strings.Contains(out, kg) {
		t.Fatalf("keyset list:\n%s", out)
	}
	for _, p := range parties {
		st, err := os.Stat(filepath.Join(h.dir, p+"-data", "keysets", keySet+".share"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s's sealed share: %v %v", p, st, err)
		}
	}

	sc, status := submit("succeeded", "--kind", "score", "--alignment", align, "--key-set", kg, "--model", "credit")
	if !strings.Contains(status, "rows 600") {
		t.Fatalf("score status:\n%s", status)
	}
	res := mustRead(t, filepath.Join(h.dir, "bank-data", "results", sc+"-t0.csv"))
	if n := strings.Count(string(res), "\n"); n != 601 || !strings.HasPrefix(string(res), "id,log_odds,points,probability\n") {
		t.Fatalf("bank's scores: %d lines, starting %.60q", n, res)
	}
	for _, p := range []string{"bureau", "telco"} {
		if _, err := os.Stat(filepath.Join(h.dir, p+"-data", "results", sc+"-t0.csv")); err == nil {
			t.Fatalf("contributor %s has the scores", p)
		}
	}

	// The coordinator refuses a score job without a usable key set.
	out, err := h.try(env("bank"), append(append([]string{"job", "submit"}, participants...), "--kind", "score", "--alignment", align, "--key-set", strings.Repeat("0", 64), "--model", "credit")...)
	if err == nil || !strings.Contains(out, "no succeeded keygen") {
		t.Fatalf("score with an unknown key set: %v\n%s", err, out)
	}
	// bureau's model does not fit its data: the job fails, nothing is released.
	failed, status := submit("failed", "--kind", "score", "--alignment", align, "--key-set", keySet, "--model", "short")
	t.Logf("failed job:\n%s", status)
	if !regexp.MustCompile(`reason: .*bureau`).MatchString(status) {
		t.Fatalf("failed score job's reason:\n%s", status)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "bank-data", "results", failed+"-t0.csv")); err == nil {
		t.Fatal("a failed score job left a result at the bank")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
