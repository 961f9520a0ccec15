package datagen

import (
	"encoding/csv"
	"os"
	"testing"
)

func TestPSIPair(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rows    int
		overlap float64
		common  int
	}{{1000, 0.3, 300}, {7, 1, 7}, {5, 0, 0}, {1, 0.5, 1}} {
		dir := t.TempDir()
		f, err := PSIPair{Rows: tc.rows, Overlap: tc.overlap, Seed: 3}.Write(dir)
		if err != nil {
			t.Fatal(err)
		}
		left, right := readIDs(t, f.Left), readIDs(t, f.Right)
		if len(left) != tc.rows || len(right) != tc.rows {
			t.Fatalf("rows %d/%d, want %d", len(left), len(right), tc.rows)
		}
		common := 0
		for id := range left {
			if right[id] {
				common++
			}
		}
		if common != tc.common || f.Common != tc.common {
			t.Fatalf("rows %d overlap %v: %d keys in common (reported %d), want %d", tc.rows, tc.overlap, common, f.Common, tc.common)
		}
	}
	if _, err := (PSIPair{Rows: 0, Overlap: 0.5}).Write(t.TempDir()); err == nil {
		t.Fatal("zero rows accepted")
	}
}

// readIDs reads the id column and fails on a repeated id.
func readIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rows[1:] {
		if ids[r[0]] {
			t.Fatalf("%s: id %s repeats", path, r[0])
		}
		ids[r[0]] = true
	}
	return ids
}
