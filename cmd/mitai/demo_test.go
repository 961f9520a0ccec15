package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestDemoThroughCoordinator runs the demo as a user would and checks that
// the job went through the coordinator: submitted by bank, approved by
// telco, scheduled by a leader on both nodes, its outcome reported, the
// result checked and the ledger verifiable.
func TestDemoThroughCoordinator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mitai")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "demo", "psi", "--rows", "400", "--overlap", "0.5", "--out", filepath.Join(dir, "demo"), "--seed", "5").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, re := range []string{
		`leads in term \d+`,
		`leader c\d in term \d+ committed it as ledger entry #\d+: awaiting_approval, waiting for approval by telco`,
		`job\.submitted\s+bank\s`,
		`job\.approved\s+telco\s`,
		`task\.scheduled\s+coordinator: leader c\d, term \d+\s+job-[0-9a-f]+\.t0 attempt 1 on nodes bank/n1 \+ telco/n1`,
		`task\.outcome\s+bank\s.*ok: 200 in the intersection`,
		`-> succeeded`,
		`its 200 keys are exactly the intersection`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("demo output lacks %q:\n%s", re, text)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "demo", "result.csv")); err != nil || st.Size() == 0 {
		t.Errorf("result.csv: %v", err)
	}
	v, err := exec.Command(bin, "audit", "verify", "--file", filepath.Join(dir, "demo", "ledger.jsonl")).CombinedOutput()
	if err != nil || !regexp.MustCompile(`ok: \d+ entries`).Match(v) {
		t.Errorf("audit verify: %v\n%s", err, v)
	}
}

// TestCreditDemo runs the main demo (`mitai demo`) small: the three jobs go
// through the coordinator, the bank's scores agree with the plaintext
// computation within the bounds, and the ledger verifies.
func TestCreditDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mitai")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "demo", "--rows", "2000", "--overlap", "0.5", "--out", filepath.Join(dir, "demo"), "--seed", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, re := range []string{
		`PSI alignment \(mpsi, bank is the hub\): job job-[0-9a-f]+, submitted by bank, approved by bureau and telco, ran on bank/n1 \+ bureau/n1 \+ telco/n1`,
		`1000 customers are at all three parties`,
		`key set [0-9a-f]{64}: public parts`,
		`1000 rows scored`,
		`bureau [0-9.]+ s, sent [0-9.]+ [KM]iB, received`,
		`max \|probability error\| [0-9.e-]+ \(bound 1e-3\)`,
		`result\.delivered\s+bureau \(signed by node bureau/n1\)`,
		`task\.outcome\s+bank .*ok: 1000 rows scored`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("demo output lacks %q:\n%s", re, text)
		}
	}
	m := regexp.MustCompile(`AUC against the bank's labels: ([0-9.]+) from the decrypted scores, ([0-9.]+) in plaintext`).FindStringSubmatch(text)
	// CKKS errors (~1e-6) can swap rows whose plaintext scores nearly tie,
	// so the AUCs may differ in the fifth decimal; the bound is the third.
	if m == nil {
		t.Fatalf("no AUC line:\n%s", text)
	}
	if a, b := mustFloat(t, m[1]), mustFloat(t, m[2]); math.Abs(a-b) >= 5e-4 {
		t.Errorf("AUC decrypted %v, plaintext %v: not equal to 3 decimals", a, b)
	}
	v, err := exec.Command(bin, "audit", "verify", "--file", filepath.Join(dir, "demo", "ledger.jsonl")).CombinedOutput()
	if err != nil || !regexp.MustCompile(`ok: \d+ entries`).Match(v) {
		t.Errorf("audit verify: %v\n%s", err, v)
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
