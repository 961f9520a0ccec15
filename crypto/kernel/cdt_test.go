package kernel

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// cdtReference is SampleCDT's definition, with branches.
func cdtReference(table, r []uint64, x []int64) {
	for i, w := range r {
		var a int64
		for _, c := range table {
			if w&(1<<63-1) >= c {
				a++
			}
		}
		if w>>63 == 1 {
			a = -a
		}
		x[i] = a
	}
}

// checkCDT compares every variant's SampleCDT with the reference.
func checkCDT(t *testing.T, impls []*Impl, table, r []uint64) {
	t.Helper()
	want := make([]int64, len(r))
	cdtReference(table, r, want)
	for _, k := range impls {
		got := make([]int64, len(r)+1)
		got[len(r)] = 12345 // beyond len(r): must stay
		k.SampleCDT(table, r, got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s, table of %d, %d words: word %d (%#x) gives %d, want %d", k.Name(), len(table), len(r), i, r[i], got[i], want[i])
			}
		}
		if got[len(r)] != 12345 {
			t.Fatalf("%s wrote beyond len(r)", k.Name())
		}
	}
}

// TestSampleCDT: every variant equals the definition for tables of 0 to 40
// entries (the extremes 1 and 2^63-1 among them), every length around the
// vector widths, and words at, just below and just above every entry with
// either sign, 0, 2^63-1 and 2^64-1.
func TestSampleCDT(t *testing.T) {
	impls := allImpls(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 2, 19, 40} {
		table := make([]uint64, size)
		for k := range table {
			table[k] = 1 + rng.Uint64N(1<<63-1)
		}
		if size >= 2 {
			table[0], table[size-1] = 1, 1<<63-1
		}
		edges := []uint64{0, 1<<63 - 1, 1 << 63, 1<<64 - 1}
		for _, c := range table {
			for _, w := range []uint64{c - 1, c, c + 1} {
				edges = append(edges, w, w|1<<63)
			}
		}
		checkCDT(t, impls, table, edges)
		for n := range 70 {
			r := make([]uint64, n)
			for i := range r {
				r[i] = rng.Uint64()
			}
			checkCDT(t, impls, table, r)
		}
		r := make([]uint64, 1<<14+5)
		for i := range r {
			r[i] = rng.Uint64()
			if i%7 == 0 && size > 0 {
				r[i] = table[rng.IntN(size)] - uint64(rng.IntN(2)) | rng.Uint64()&(1<<63)
			}
		}
		checkCDT(t, impls, table, r)
	}
}

// FuzzSampleCDT: tables and words from the fuzzer (entries folded into
// [1, 2^63)), every variant against the definition.
func FuzzSampleCDT(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 2, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8*37))
	impls := allImpls(f)
	f.Fuzz(func(t *testing.T, tableBytes, words []byte) {
		var table, r []uint64
		for ; len(tableBytes) >= 8 && len(table) < 64; tableBytes = tableBytes[8:] {
			table = append(table, 1+binary.LittleEndian.Uint64(tableBytes)%(1<<63-1))
		}
		for ; len(words) >= 8; words = words[8:] {
			r = append(r, binary.LittleEndian.Uint64(words))
		}
		checkCDT(t, impls, table, r)
	})
}

// BenchmarkSampleCDT: 2^14 samples of crypto/he's Gaussian table size (19)
// with each variant.
func BenchmarkSampleCDT(b *testing.B) {
	table := make([]uint64, 19)
	for k := range table {
		table[k] = uint64(k+1) << 58
	}
	r := make([]uint64, 1<<14)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range r {
		r[i] = rng.Uint64()
	}
	x := make([]int64, len(r))
	for _, k := range allImpls(b) {
		b.Run(k.Name(), func(b *testing.B) {
			for b.Loop() {
				k.SampleCDT(table, r, x)
			}
		})
	}
}
