package kernel

import (
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// The generic variant: portable Go, built everywhere. Every other variant is
// tested against it and against lattigo, and falls back to it for what it does
// not accelerate.

var genericFuncs = funcs{
	ntt:                    nttGeneric,
	intt:                   inttGeneric,
	nttCI:                  nttCIGeneric,
	inttCI:                 inttCIGeneric,
	mulMont:                mulMontGeneric,
	mulMontLazy:            mulMontLazyGeneric,
	mulMontThenAdd:         mulMontThenAddGeneric,
	mulMontLazyThenAddLazy: mulMontLazyThenAddLazyGeneric,
	mulScalarMontThenAdd:   mulScalarMontThenAddGeneric,
	add:                    addGeneric,
	sub:                    subGeneric,
	neg:                    negGeneric,
	reduce:                 reduceGeneric,
	sampleCDT:              sampleCDTGeneric,
}

// cred returns a mod q for a in [0, 2q) (lattigo's CRed).
func cred(a, q uint64) uint64 {
	if a >= q {
		a -= q
	}
	return a
}

// mred returns x*y*2^-64 mod q in [0, q), given x*y < q*2^64 and
// mrc = q^-1 mod 2^64 (lattigo's MRed).
func mred(x, y, q, mrc uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	h, _ := bits.Mul64(lo*mrc, q)
	r := hi - h + q
	if r >= q {
		r -= q
	}
	return r
}

// mredLazy is mred without the final subtraction: the result is in [0, 2q)
// (lattigo's MRedLazy).
func mredLazy(x, y, q, mrc uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	h, _ := bits.Mul64(lo*mrc, q)
	return hi - h + q
}

// bred returns a mod q in [0, q) for any 64-bit a, with bred = floor(2^64/q),
// the high word of lattigo's BRedConstant (lattigo's BRedAdd).
func bred(a, q, bredHi uint64) uint64 {
	m, _ := bits.Mul64(a, bredHi)
	r := a - m*q
	if r >= q {
		r -= q
	}
	return r
}

// The vector loops below go 8 words at a time through array pointers (no
// bounds checks, as lattigo's unrolled loops) and finish any tail one by one.

func mulMontGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	n := len(p1)
	p2, p3 = p2[:n], p3[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8]), (*[8]uint64)(p3[i:i+8])
		z[0] = mred(x[0], y[0], q, mrc)
		z[1] = mred(x[1], y[1], q, mrc)
		z[2] = mred(x[2], y[2], q, mrc)
		z[3] = mred(x[3], y[3], q, mrc)
		z[4] = mred(x[4], y[4], q, mrc)
		z[5] = mred(x[5], y[5], q, mrc)
		z[6] = mred(x[6], y[6], q, mrc)
		z[7] = mred(x[7], y[7], q, mrc)
	}
	for ; i < n; i++ {
		p3[i] = mred(p1[i], p2[i], q, mrc)
	}
}

func mulMontLazyGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	n := len(p1)
	p2, p3 = p2[:n], p3[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8]), (*[8]uint64)(p3[i:i+8])
		z[0] = mredLazy(x[0], y[0], q, mrc)
		z[1] = mredLazy(x[1], y[1], q, mrc)
		z[2] = mredLazy(x[2], y[2], q, mrc)
		z[3] = mredLazy(x[3], y[3], q, mrc)
		z[4] = mredLazy(x[4], y[4], q, mrc)
		z[5] = mredLazy(x[5], y[5], q, mrc)
		z[6] = mredLazy(x[6], y[6], q, mrc)
		z[7] = mredLazy(x[7], y[7], q, mrc)
	}
	for ; i < n; i++ {
		p3[i] = mredLazy(p1[i], p2[i], q, mrc)
	}
}

func mulMontThenAddGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	n := len(p1)
	p2, p3 = p2[:n], p3[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8]), (*[8]uint64)(p3[i:i+8])
		z[0] = cred(z[0]+mred(x[0], y[0], q, mrc), q)
		z[1] = cred(z[1]+mred(x[1], y[1], q, mrc), q)
		z[2] = cred(z[2]+mred(x[2], y[2], q, mrc), q)
		z[3] = cred(z[3]+mred(x[3], y[3], q, mrc), q)
		z[4] = cred(z[4]+mred(x[4], y[4], q, mrc), q)
		z[5] = cred(z[5]+mred(x[5], y[5], q, mrc), q)
		z[6] = cred(z[6]+mred(x[6], y[6], q, mrc), q)
		z[7] = cred(z[7]+mred(x[7], y[7], q, mrc), q)
	}
	for ; i < n; i++ {
		p3[i] = cred(p3[i]+mred(p1[i], p2[i], q, mrc), q)
	}
}

func mulMontLazyThenAddLazyGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	n := len(p1)
	p2, p3 = p2[:n], p3[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8]), (*[8]uint64)(p3[i:i+8])
		z[0] += mredLazy(x[0], y[0], q, mrc)
		z[1] += mredLazy(x[1], y[1], q, mrc)
		z[2] += mredLazy(x[2], y[2], q, mrc)
		z[3] += mredLazy(x[3], y[3], q, mrc)
		z[4] += mredLazy(x[4], y[4], q, mrc)
		z[5] += mredLazy(x[5], y[5], q, mrc)
		z[6] += mredLazy(x[6], y[6], q, mrc)
		z[7] += mredLazy(x[7], y[7], q, mrc)
	}
	for ; i < n; i++ {
		p3[i] += mredLazy(p1[i], p2[i], q, mrc)
	}
}

func mulScalarMontThenAddGeneric(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
	n := len(p1)
	p2 = p2[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8])
		z[0] = cred(z[0]+mred(x[0], scalar, q, mrc), q)
		z[1] = cred(z[1]+mred(x[1], scalar, q, mrc), q)
		z[2] = cred(z[2]+mred(x[2], scalar, q, mrc), q)
		z[3] = cred(z[3]+mred(x[3], scalar, q, mrc), q)
		z[4] = cred(z[4]+mred(x[4], scalar, q, mrc), q)
		z[5] = cred(z[5]+mred(x[5], scalar, q, mrc), q)
		z[6] = cred(z[6]+mred(x[6], scalar, q, mrc), q)
		z[7] = cred(z[7]+mred(x[7], scalar, q, mrc), q)
	}
	for ; i < n; i++ {
		p2[i] = cred(p2[i]+mred(p1[i], scalar, q, mrc), q)
	}
}

func addGeneric(p1, p2, p3 []uint64, q uint64) {
	n := len(p1)
	p2, p3 = p2[:n], p3[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8]), (*[8]uint64)(p3[i:i+8])
		z[0] = cred(x[0]+y[0], q)
		z[1] = cred(x[1]+y[1], q)
		z[2] = cred(x[2]+y[2], q)
		z[3] = cred(x[3]+y[3], q)
		z[4] = cred(x[4]+y[4], q)
		z[5] = cred(x[5]+y[5], q)
		z[6] = cred(x[6]+y[6], q)
		z[7] = cred(x[7]+y[7], q)
	}
	for ; i < n; i++ {
		p3[i] = cred(p1[i]+p2[i], q)
	}
}

func subGeneric(p1, p2, p3 []uint64, q uint64) {
	n := len(p1)
	p2, p3 = p2[:n], p3[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8]), (*[8]uint64)(p3[i:i+8])
		z[0] = cred(x[0]+q-y[0], q)
		z[1] = cred(x[1]+q-y[1], q)
		z[2] = cred(x[2]+q-y[2], q)
		z[3] = cred(x[3]+q-y[3], q)
		z[4] = cred(x[4]+q-y[4], q)
		z[5] = cred(x[5]+q-y[5], q)
		z[6] = cred(x[6]+q-y[6], q)
		z[7] = cred(x[7]+q-y[7], q)
	}
	for ; i < n; i++ {
		p3[i] = cred(p1[i]+q-p2[i], q)
	}
}

func negGeneric(p1, p2 []uint64, q uint64) {
	n := len(p1)
	p2 = p2[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8])
		z[0] = q - x[0]
		z[1] = q - x[1]
		z[2] = q - x[2]
		z[3] = q - x[3]
		z[4] = q - x[4]
		z[5] = q - x[5]
		z[6] = q - x[6]
		z[7] = q - x[7]
	}
	for ; i < n; i++ {
		p2[i] = q - p1[i]
	}
}

func reduceGeneric(p1, p2 []uint64, q, bredHi uint64) {
	n := len(p1)
	p2 = p2[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8])
		z[0] = bred(x[0], q, bredHi)
		z[1] = bred(x[1], q, bredHi)
		z[2] = bred(x[2], q, bredHi)
		z[3] = bred(x[3], q, bredHi)
		z[4] = bred(x[4], q, bredHi)
		z[5] = bred(x[5], q, bredHi)
		z[6] = bred(x[6], q, bredHi)
		z[7] = bred(x[7], q, bredHi)
	}
	for ; i < n; i++ {
		p2[i] = bred(p1[i], q, bredHi)
	}
}

// The transforms of the generic variant are lattigo's own exported ones: they
// are the reference every other variant is tested against, and a Go port of
// them (kept bit-exact, lazy words included) ran 10-15% slower than
// lattigo's unrolled code. The lazy cores are lattigo's; the final Barrett
// reduction is this package's reduceGeneric, equal to lattigo's word for
// word, which needs only the high word of the Barrett constant the variants
// are given.

// nttGeneric is lattigo's NTTStandard.
func nttGeneric(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	ring.NTTStandardLazy(p1, p2, n, q, mrc, roots)
	reduceGeneric(p2[:n], p2[:n], q, bredHi)
}

// nttCIGeneric is lattigo's NTTConjugateInvariant.
func nttCIGeneric(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	ring.NTTConjugateInvariantLazy(p1, p2, n, q, mrc, roots)
	reduceGeneric(p2[:n], p2[:n], q, bredHi)
}

// inttGeneric is lattigo's INTTStandard.
func inttGeneric(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	ring.INTTStandard(p1, p2, n, nInv, q, mrc, roots)
}

// inttCIGeneric is lattigo's INTTConjugateInvariant.
func inttCIGeneric(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	ring.INTTConjugateInvariant(p1, p2, n, nInv, q, mrc, roots)
}
