package datagen

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/mitai-dev/mitai/internal/logreg"
	"github.com/mitai-dev/mitai/protocol/score"
)

func TestCreditWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := Credit{Parties: []string{"bank", "bureau", "telco"}, Rows: 4000, Overlap: 0.6, Seed: 7}
	f, err := c.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Common != 2400 {
		t.Fatalf("common %d, want 2400", f.Common)
	}
	ids := map[string]map[string]bool{}
	for _, p := range c.Parties {
		fh, err := os.Open(f.Tables[p])
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != c.Rows+1 {
			t.Fatalf("%s: %d rows, want %d", p, len(recs)-1, c.Rows)
		}
		header := recs[0]
		if header[0] != "id" || (p == "bank") != (header[1] == "default") {
			t.Fatalf("%s: header %v", p, header)
		}
		m, err := score.ReadModel(f.Models[p])
		if err != nil {
			t.Fatal(err)
		}
		cols := header[1:]
		if p == "bank" {
			cols = header[2:]
			if m.Intercept == 0 {
				t.Fatal("the bank's model has no intercept")
			}
		} else if m.Intercept != 0 {
			t.Fatalf("%s's model has an intercept", p)
		}
		if !slices.Equal(cols, m.Columns()) {
			t.Fatalf("%s: columns %v, model %v", p, cols, m.Columns())
		}
		ids[p] = map[string]bool{}
		for _, r := range recs[1:] {
			if ids[p][r[0]] {
				t.Fatalf("%s: id %s twice", p, r[0])
			}
			ids[p][r[0]] = true
			for j, v := range r[1:] {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: column %s: %q", p, header[j+1], v)
				}
				if p == "bank" && j == 0 {
					if x != 0 && x != 1 {
						t.Fatalf("label %v", x)
					}
					continue
				}
				k := j
				if p == "bank" {
					k = j - 1
				}
				feat := m.Features[k]
				if x < *feat.Min || x > *feat.Max {
					t.Fatalf("%s: %s = %v outside the model's range", p, feat.Column, x)
				}
			}
		}
	}
	all := 0
	for id := range ids["bank"] {
		if ids["bureau"][id] && ids["telco"][id] {
			all++
		}
	}
	if all != f.Common {
		t.Fatalf("%d customers at every party, want %d", all, f.Common)
	}
	if f.DefaultRate < 0.05 || f.DefaultRate > 0.25 {
		t.Fatalf("default rate %v", f.DefaultRate)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := (Credit{Parties: []string{"bank"}, Rows: 5}).Generate(); err == nil {
		t.Fatal("one party accepted")
	}
	if _, err := (Credit{Parties: []string{"bank", "bank"}, Rows: 5}).Generate(); err == nil {
		t.Fatal("duplicate parties accepted")
	}
}

// TestCreditPlantedModel: the planted model explains the labels: on the
// aligned rows its joint score has a good AUC, better than the bank's part
// alone, and a model fitted to the data finds weights near it.
func TestCreditPlantedModel(t *testing.T) {
	t.Parallel()
	c := Credit{Parties: []string{"bank", "bureau", "telco"}, Rows: 30000, Overlap: 0.8, Seed: 11}
	d, err := c.Generate()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.Generate()
	if again.Tables[1].Keys[5] != d.Tables[1].Keys[5] || again.Tables[2].Data[3][7] != d.Tables[2].Data[3][7] {
		t.Fatal("not reproducible from the seed")
	}
	blocks, labels, keys := d.Aligned()
	if len(keys) != d.Common {
		t.Fatalf("%d aligned rows, want %d", len(keys), d.Common)
	}
	z := make([]float64, len(keys))
	var bankOnly []float64
	for _, tb := range d.Tables {
		u, err := tb.Model.Partial(blocks[tb.Party], tb.Party == "bank", false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range u {
			z[i] += u[i]
		}
		if tb.Party == "bank" {
			bankOnly = u
		}
	}
	joint, _ := logreg.AUC(z, labels)
	bank, _ := logreg.AUC(bankOnly, labels)
	t.Logf("planted model AUC on %d aligned rows: joint %.3f, bank's features alone %.3f", len(keys), joint, bank)
	if joint < 0.78 || joint < bank+0.04 {
		t.Fatalf("joint AUC %.3f, bank alone %.3f", joint, bank)
	}
}
