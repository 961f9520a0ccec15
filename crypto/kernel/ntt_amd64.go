//go:build amd64 && !purego

package kernel

import "math/bits"

// The IFMA NTT (q < 2^50, N >= 16) drives the assembly passes of
// _asm/ntt.go: radix-4 passes (two stages each) for the stages of
// half-width 8 and more, one radix-2 pass when their count is odd, and one
// pass for the three stages inside 16 words. Its twiddles are lattigo's
// roots, plain instead of Montgomery, each with its Shoup quotient: see
// shoupTables.

// shoupTables are a SubRing's NTT roots in the form the IFMA passes take:
// w[i] the root itself (lattigo's roots are Montgomery forms, r*2^64 mod q)
// and wp[i] = floor(w[i]*2^52/q), laid out as the standard transform's table
// for both ring types: the stage of h blocks finds its roots at w[h : 2h].
// A conjugate-invariant table (2N long, the stage of h blocks at roots[2h :
// 3h]) is packed so, with its folding root roots[1] at w[0]: N words instead
// of 2N, which keeps N = 2^16 in L2. 8 zero words follow, because the last
// passes read 8 words of a table at a time.
type shoupTables struct {
	w, wp []uint64
}

// shoupTablesOf returns the tables of roots, a standard (ci false) or
// conjugate-invariant SubRing's RootsForward or RootsBackward.
func shoupTablesOf(roots []uint64, q, mrc uint64, n int, ci bool) *shoupTables {
	return tablesOf("ifma", roots, q, n, ci, func() *shoupTables {
		if ci {
			roots = packCI(roots, n)
		}
		t := &shoupTables{w: make([]uint64, n+8), wp: make([]uint64, n+8)}
		for i, r := range roots[:n] {
			t.w[i] = mred(r, 1, q, mrc)
			t.wp[i] = shoup52(t.w[i], q)
		}
		return t
	})
}

// shoup52 returns floor(w*2^52/q) for w < q.
func shoup52(w, q uint64) uint64 {
	quo, _ := bits.Div64(w>>12, w<<52, q)
	return quo
}

// ifmaNTTOK reports whether the IFMA passes handle this transform.
func ifmaNTTOK(n int, q uint64) bool { return q < ifmaMaxModulus && n >= 16 }

func nttAVX512(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	if !ifmaNTTOK(n, q) {
		nttGeneric(p1, p2, n, q, mrc, bredHi, roots)
		return
	}
	t := shoupTablesOf(roots, q, mrc, n, false)
	nttStagesIFMA(p1, p2, n, q, t)
}

func nttCIAVX512(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	if !ifmaNTTOK(n, q) {
		nttCIGeneric(p1, p2, n, q, mrc, bredHi, roots)
		return
	}
	t := shoupTablesOf(roots, q, mrc, n, true)
	nttFoldIFMA(p1, p2, t.w[0], t.wp[0], q)
	p2[0] = p1[0]
	nttStagesIFMA(p2, p2, n, q, t)
}

// nttStagesIFMA runs the forward stages from src to dst, the stage of m
// blocks with the roots from w[m], and leaves dst in [0, q).
func nttStagesIFMA(src, dst []uint64, n int, q uint64, tab *shoupTables) {
	w, wp := tab.w, tab.wp
	m, t := 1, n/2
	if bits.Len(uint(n))&1 == 1 { // an odd number of stages of half-width >= 8: one radix-2 first
		nttR2IFMA(src, dst, t, w[m:], wp[m:], q)
		m, t = 2*m, t/2
		src = dst
	}
	for ; t >= 16; m, t = 4*m, t/4 {
		nttR4IFMA(src, dst, t/2, w[m:], wp[m:], w[2*m:], wp[2*m:], q)
		src = dst
	}
	// m = n/8: the stages of half-widths 4, 2, 1
	nttLast3IFMA(dst, w[m:], wp[m:], w[2*m:], wp[2*m:], w[4*m:], wp[4*m:], q)
}

func inttAVX512(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	if !ifmaNTTOK(n, q) {
		inttGeneric(p1, p2, n, q, mrc, nInv, roots)
		return
	}
	t := shoupTablesOf(roots, q, mrc, n, false)
	inttStagesIFMA(p1, p2, n, q, t, n/2)
	// the last stage, one block with root w[1], scaled by N^-1 on the way
	s := mred(nInv, 1, q, mrc)
	ws := mred(t.w[1], nInv, q, mrc)
	inttLastIFMA(p2, s, shoup52(s, q), ws, shoup52(ws, q), q)
}

func inttCIAVX512(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	if !ifmaNTTOK(n, q) {
		inttCIGeneric(p1, p2, n, q, mrc, nInv, roots)
		return
	}
	t := shoupTablesOf(roots, q, mrc, n, true)
	inttStagesIFMA(p1, p2, n, q, t, n)
	s := mred(nInv, 1, q, mrc)
	inttFoldIFMA(p2, t.w[0], t.wp[0], s, shoup52(s, q), q)
	// word 0 of the fold is doubled, then scaled as the others
	p2[0] = mred(p2[0]<<1, nInv, q, mrc)
}

// inttStagesIFMA runs the inverse stages of half-width below tEnd from src to
// dst, the stage of h blocks with the roots from w[h]: the standard
// transform stops before its last stage (tEnd = n/2), which inttLastIFMA runs
// with the scaling; the conjugate-invariant one runs them all (tEnd = n).
// dst ends below 2q.
func inttStagesIFMA(src, dst []uint64, n int, q uint64, tab *shoupTables, tEnd int) {
	w, wp := tab.w, tab.wp
	h := n / 2
	inttFirst3IFMA(src, dst, w[h:], wp[h:], w[h/2:], wp[h/2:], w[h/4:], wp[h/4:], q)
	h /= 8
	t := 8
	for ; 2*t < tEnd; h, t = h/4, 4*t {
		inttR4IFMA(dst, dst, t, w[h:], wp[h:], w[h/2:], wp[h/2:], q)
	}
	if t < tEnd {
		inttR2IFMA(dst, dst, t, w[h:], wp[h:], q)
	}
}
