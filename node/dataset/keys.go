package dataset

import (
	"bytes"
	"hash/maphash"
	"math/bits"
	"slices"
)

// hashKey hashes keys for findDuplicates with a seed chosen per call, so
// that nobody can craft keys that collide.
func hashKey() func([]byte) uint64 {
	seed := maphash.MakeSeed()
	return func(k []byte) uint64 { return maphash.Bytes(seed, k) }
}

// maxLinesPerKey is how many lines of one duplicated key a message lists.
const maxLinesPerKey = 3

// findDuplicates finds the rows of t whose non-empty key repeats an earlier
// row's, records them in p, and if mark is set returns them as a bitmap.
//
// It takes 8 bytes a row, not a map of all keys: each row becomes one
// uint64 that holds a hash of its key in the high bits and the row index in
// the low bits. Sorting these puts rows whose hash prefixes are equal next
// to each other, in file order; within such a run, keys are compared byte
// by byte, so a hash collision costs a comparison, never a wrong answer.
func findDuplicates(t *Table, p *keyProblems, mark bool, newHash func() func([]byte) uint64) (drop []uint64) {
	if t.n < 2 {
		return nil
	}
	hash := newHash()
	shift := bits.Len(uint(t.n - 1))
	mask := uint64(1)<<shift - 1
	v := make([]uint64, 0, t.n)
	for i := 0; i < t.n; i++ {
		if k := t.Key(i); len(k) > 0 {
			v = append(v, hash(k)&^mask|uint64(i))
		}
	}
	slices.Sort(v)

	type distinct struct {
		row   int // first row with this key
		rows  int // rows with this key
		lines []int
	}
	var reps []distinct
	for lo := 0; lo < len(v); {
		hi := lo + 1
		for hi < len(v) && v[hi]>>shift == v[lo]>>shift {
			hi++
		}
		if hi-lo == 1 {
			lo = hi
			continue
		}
		reps = reps[:0]
	run:
		for _, x := range v[lo:hi] {
			i := int(x & mask)
			k := t.Key(i)
			for r := range reps {
				d := &reps[r]
				if bytes.Equal(t.Key(d.row), k) {
					d.rows++
					if len(d.lines) < maxLinesPerKey {
						d.lines = append(d.lines, int(t.lines[i]))
					}
					p.dupRows++
					if mark {
						if drop == nil {
							drop = make([]uint64, (t.n+63)/64)
						}
						drop[i/64] |= 1 << (i % 64)
					}
					continue run
				}
			}
			reps = append(reps, distinct{row: i, rows: 1, lines: []int{int(t.lines[i])}})
		}
		for _, d := range reps {
			if d.rows > 1 {
				p.dupKeys++
				p.offer(dupExample{first: d.row, key: t.Key(d.row), rows: d.rows, lines: d.lines})
			}
		}
		lo = hi
	}
	return drop
}
