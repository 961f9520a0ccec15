//go:build amd64 && !purego

package kernel

import "math"

// The AVX-512 Add, Sub, Neg, Reduce and SampleCDT (avx512_amd64.s, generated
// from _asm/avx512): the assembly does the vectors of 8 words, the generic
// code the tail of fewer than 8.

func sampleCDTAVX512(table, r []uint64, x []int64) {
	v := len(r) &^ 7
	cdtZMM(table, r[:v], x[:v])
	sampleCDTGeneric(table, r[v:], x[v:])
}

func addAVX512(p1, p2, p3 []uint64, q uint64) {
	n := len(p1)
	v := n &^ 7
	addZMM(p1[:v], p2[:v], p3[:v], q)
	addGeneric(p1[v:], p2[v:n], p3[v:n], q)
}

func subAVX512(p1, p2, p3 []uint64, q uint64) {
	n := len(p1)
	v := n &^ 7
	subZMM(p1[:v], p2[:v], p3[:v], q)
	subGeneric(p1[v:], p2[v:n], p3[v:n], q)
}

func negAVX512(p1, p2 []uint64, q uint64) {
	n := len(p1)
	v := n &^ 7
	negZMM(p1[:v], p2[:v], q)
	negGeneric(p1[v:], p2[v:n], q)
}

// reduceMinModulus is the least modulus of reduceZMM: below it the quotient
// estimate in double precision may be off by more than one. Its largest is
// 2^62, so that the remainder before the last subtraction, below 2q, fits.
const reduceMinModulus = 1 << 20

func reduceAVX512(p1, p2 []uint64, q, bredHi uint64) {
	if q < reduceMinModulus || q >= 1<<62 {
		reduceGeneric(p1, p2, q, bredHi)
		return
	}
	n := len(p1)
	v := n &^ 7
	reduceZMM(p1[:v], p2[:v], q, reduceQInvF(q))
	reduceGeneric(p1[v:], p2[v:n], q, bredHi)
}

// reduceQInvF returns the bits of 1/q lowered by a relative 2^-48, more than
// the five roundings up to reduceZMM's quotient estimate (three here, two
// there, 2^-53 each) can raise it back, so that the estimate never exceeds a/q.
func reduceQInvF(q uint64) uint64 {
	return math.Float64bits(1 / float64(q) * (1 - 0x1p-48))
}
