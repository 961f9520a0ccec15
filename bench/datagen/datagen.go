// Package datagen writes synthetic party tables for demos, tests and
// benchmarks. The product's demo makes its own data: users have no sample
// files.
package datagen

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// PSIPair describes two tables that share a fraction of their keys.
type PSIPair struct {
	// Rows in each table.
	Rows int
	// Overlap is the fraction of each table's keys found in the other.
	Overlap float64
	// Seed makes the output reproducible.
	Seed uint64
	// KeysOnly writes only the id column (large benchmarks).
	KeysOnly bool
}

// Files are the paths PSIPair.Write produced.
type Files struct {
	Left, Right string
	// Common is the number of keys in both tables.
	Common int
}

// Write writes dir/left.csv (a bank's customers: id, age, income,
// region) and dir/right.csv (a telco's subscribers: id, segment,
// tenure_months, monthly_spend), the key first, in random order.
func (p PSIPair) Write(dir string) (Files, error) {
	if p.Rows < 1 || p.Overlap < 0 || p.Overlap > 1 {
		return Files{}, fmt.Errorf("datagen: need rows >= 1 and overlap in [0, 1], got %d and %v", p.Rows, p.Overlap)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, err
	}
	common := int(float64(p.Rows)*p.Overlap + 0.5)
	r := rand.New(rand.NewPCG(p.Seed, 0x6d69746169))
	// Keys are distinct by construction: 12-digit customer numbers, a random
	// base plus a permutation of 0..total-1.
	total := 2*p.Rows - common
	base := 100000000000 + r.Uint64N(800000000000)
	perm := r.Perm(total)
	id := func(k int) string { return strconv.FormatUint(base+uint64(perm[k]), 10) }
	left := make([]int, 0, p.Rows)
	right := make([]int, 0, p.Rows)
	for k := range common {
		left = append(left, k)
		right = append(right, k)
	}
	for k := common; k < p.Rows; k++ {
		left = append(left, k)
	}
	for k := p.Rows; k < total; k++ {
		right = append(right, k)
	}
	r.Shuffle(len(left), func(i, j int) { left[i], left[j] = left[j], left[i] })
	r.Shuffle(len(right), func(i, j int) { right[i], right[j] = right[j], right[i] })

	f := Files{Left: filepath.Join(dir, "left.csv"), Right: filepath.Join(dir, "right.csv"), Common: common}
	regions := []string{"北京", "上海", "深圳", "Hong Kong", "Chengdu, Sichuan"}
	segments := []string{"prepaid", "postpaid", "business", "family \"plus\""}
	err := writeCSV(f.Left, p.KeysOnly, []string{"id", "age", "income", "region"}, left, func(k int) []string {
		return []string{id(k), strconv.Itoa(18 + r.IntN(60)), strconv.Itoa(2000 + r.IntN(48000)), regions[r.IntN(len(regions))]}
	})
	if err != nil {
		return Files{}, err
	}
	err = writeCSV(f.Right, p.KeysOnly, []string{"id", "segment", "tenure_months", "monthly_spend"}, right, func(k int) []string {
		return []string{id(k), segments[r.IntN(len(segments))], strconv.Itoa(r.IntN(240)), strconv.FormatFloat(float64(r.IntN(50000))/100, 'f', 2, 64)}
	})
	return f, err
}

func writeCSV(path string, keysOnly bool, header []string, keys []int, row func(int) []string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	w := csv.NewWriter(bw)
	if keysOnly {
		header = header[:1]
	}
	if err := w.Write(header); err != nil {
		out.Close()
		return err
	}
	for _, k := range keys {
		rec := row(k)
		if keysOnly {
			rec = rec[:1]
		}
		if err := w.Write(rec); err != nil {
			out.Close()
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		out.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
