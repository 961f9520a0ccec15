//go:build amd64 && !purego

package kernel

import (
	"runtime"
	"sync"
	"weak"
)

// The assembly NTTs read their twiddles in layouts of their own, derived
// from a SubRing's root tables. tablesOf derives them once per root table
// and keeps them as long as the table lives.

// tableKey names the tables derived in one layout from one root table: the
// table (weakly, by its first word), the modulus, N, and whether the ring
// is conjugate-invariant.
type tableKey struct {
	layout string
	roots  weak.Pointer[uint64]
	q      uint64
	n      int
	ci     bool
}

// tableCache maps a tableKey to its tables. A SubRing never changes its root
// tables, so neither does an entry; the entry goes when its root table does,
// so a process that builds rings again and again does not pile them up.
var tableCache sync.Map

// tablesOf returns the tables build derives, in the named layout, from
// roots, a SubRing's RootsForward or RootsBackward.
func tablesOf[T any](layout string, roots []uint64, q uint64, n int, ci bool, build func() *T) *T {
	key := tableKey{layout, weak.Make(&roots[0]), q, n, ci}
	if t, ok := tableCache.Load(key); ok {
		return t.(*T)
	}
	v, loaded := tableCache.LoadOrStore(key, build())
	if !loaded {
		runtime.AddCleanup(&roots[0], func(k tableKey) { tableCache.Delete(k) }, key)
	}
	return v.(*T)
}

// packCI returns the roots of the stages of a conjugate-invariant table (2N
// long, the stage of m blocks at roots[2m : 3m]) at the standard table's
// places (roots[m : 2m]), with the folding root roots[1] at 0: N words.
func packCI(roots []uint64, n int) []uint64 {
	p := make([]uint64, n)
	p[0] = roots[1]
	for m := 1; m < n; m *= 2 {
		copy(p[m:2*m], roots[2*m:3*m])
	}
	return p
}
