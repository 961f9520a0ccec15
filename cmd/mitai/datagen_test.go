package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatagenCredit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "credit")
	cmd := datagenCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"credit", "--parties", "bank,bureau,telco", "--rows", "500", "--overlap", "0.4", "--out", dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "200 customers at every party") {
		t.Fatalf("output: %s", out.String())
	}
	for _, f := range []string{"bank.csv", "bureau.csv", "telco.csv", "model_bank.json", "model_bureau.json", "model_telco.json", "manifest.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	cmd = datagenCmd()
	cmd.SetArgs([]string{"credit", "--parties", "bank,,telco", "--out", dir})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err == nil {
		t.Fatal("an empty party name accepted")
	}
}
