package kernel

import "math/bits"

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

func mulScalarMontGeneric(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
	n := len(p1)
	p2 = p2[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, z := (*[8]uint64)(p1[i:i+8]), (*[8]uint64)(p2[i:i+8])
		z[0] = mred(x[0], scalar, q, mrc)
		z[1] = mred(x[1], scalar, q, mrc)
		z[2] = mred(x[2], scalar, q, mrc)
		z[3] = mred(x[3], scalar, q, mrc)
		z[4] = mred(x[4], scalar, q, mrc)
		z[5] = mred(x[5], scalar, q, mrc)
		z[6] = mred(x[6], scalar, q, mrc)
		z[7] = mred(x[7], scalar, q, mrc)
	}
	for ; i < n; i++ {
		p2[i] = mred(p1[i], scalar, q, mrc)
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

// nttGeneric is lattigo's NTTStandard: the lazy Cooley-Tukey transform, then a
// Barrett reduction into [0, q).
func nttGeneric(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	nttLazyGeneric(p1, p2, n, q, mrc, roots, 0)
	reduceGeneric(p2[:n], p2[:n], q, bredHi)
}

// nttCIGeneric is lattigo's NTTConjugateInvariant: the folding first stage
// (ciFold), the Cooley-Tukey stages over the 2N-long root table, then a
// Barrett reduction into [0, q). Its conditional subtractions follow the
// standard transform's schedule, not lattigo's; the lazy values stay below
// 8q < 2^64, so the reduced output is the same.
func nttCIGeneric(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	ciFold(p1, p2, n, q, mrc, roots[1])
	nttLazyGeneric(p2, p2, n, q, mrc, roots, 1)
	reduceGeneric(p2[:n], p2[:n], q, bredHi)
}

// ciFold is the first stage of lattigo's conjugate-invariant NTT and the last
// of its INTT: (x_j, x_k) -> (x_j + 2q - w*x_k, x_k + 2q - w*x_j) for
// 1 <= j <= n/2, k = n-j, w*x lazy Montgomery products; x_0 is copied.
// Inputs below 2q give outputs below 4q.
func ciFold(p1, p2 []uint64, n int, q, mrc, w uint64) {
	twoQ := 2 * q
	for j, k := 1, n-1; j < k; j, k = j+1, k-1 {
		x, y := p1[j], p1[k]
		p2[j], p2[k] = x+twoQ-mredLazy(y, w, q, mrc), y+twoQ-mredLazy(x, w, q, mrc)
	}
	h := n >> 1
	p2[h] = p1[h] + twoQ - mredLazy(p1[h], w, q, mrc)
	p2[0] = p1[0]
}

// nttLazyGeneric computes the forward transform with outputs below 8q (lattigo's
// nttCoreLazy), following lattigo's schedule of conditional subtractions
// exactly, so that every intermediate value, and hence the lazy output, is
// the same word as lattigo's:
//
//   - a butterfly is (u, v) -> (u + w*v, u + 2q - w*v) with w*v a lazy
//     Montgomery product in [0, 2q);
//   - for n >= 16 (lattigo's unrolled code), before the butterfly u is reduced
//     by 4q if it is at least 4q, in the last stage and in the stages m >= 2
//     whose bit length is odd (m = 4, 16, 64, ...); the first stage (m = 1)
//     reads p1 unreduced;
//   - for n < 16 every stage reduces u that way.
//
// The stage of m blocks takes its roots from roots[m<<shift:]: shift is 0 for
// the standard transform and 1 for the conjugate-invariant one.
func nttLazyGeneric(p1, p2 []uint64, n int, q, mrc uint64, roots []uint64, shift uint) {
	if n < 16 {
		nttLazySmall(p1, p2, n, q, mrc, roots, shift)
		return
	}
	twoQ, fourQ := 2*q, 4*q
	t := n >> 1

	// First stage (m = 1), from p1 to p2, u not reduced.
	w := roots[1<<shift]
	for j := 0; j < t; j += 8 {
		x, y := (*[8]uint64)(p1[j:j+8]), (*[8]uint64)(p1[j+t:j+t+8])
		ox, oy := (*[8]uint64)(p2[j:j+8]), (*[8]uint64)(p2[j+t:j+t+8])
		ox[0], oy[0] = ctButterfly(x[0], y[0], w, q, mrc, twoQ)
		ox[1], oy[1] = ctButterfly(x[1], y[1], w, q, mrc, twoQ)
		ox[2], oy[2] = ctButterfly(x[2], y[2], w, q, mrc, twoQ)
		ox[3], oy[3] = ctButterfly(x[3], y[3], w, q, mrc, twoQ)
		ox[4], oy[4] = ctButterfly(x[4], y[4], w, q, mrc, twoQ)
		ox[5], oy[5] = ctButterfly(x[5], y[5], w, q, mrc, twoQ)
		ox[6], oy[6] = ctButterfly(x[6], y[6], w, q, mrc, twoQ)
		ox[7], oy[7] = ctButterfly(x[7], y[7], w, q, mrc, twoQ)
	}

	for m := 2; m < n; m <<= 1 {
		t >>= 1
		reduce := t == 1 || bits.Len(uint(m))&1 == 1
		roots := roots[m<<shift : m<<shift+m]
		switch {
		case t >= 8:
			for i, w := range roots {
				j1 := 2 * i * t
				for j := j1; j < j1+t; j += 8 {
					x, y := (*[8]uint64)(p2[j:j+8]), (*[8]uint64)(p2[j+t:j+t+8])
					if reduce {
						x[0], y[0] = ctButterfly(reduce4Q(x[0], fourQ), y[0], w, q, mrc, twoQ)
						x[1], y[1] = ctButterfly(reduce4Q(x[1], fourQ), y[1], w, q, mrc, twoQ)
						x[2], y[2] = ctButterfly(reduce4Q(x[2], fourQ), y[2], w, q, mrc, twoQ)
						x[3], y[3] = ctButterfly(reduce4Q(x[3], fourQ), y[3], w, q, mrc, twoQ)
						x[4], y[4] = ctButterfly(reduce4Q(x[4], fourQ), y[4], w, q, mrc, twoQ)
						x[5], y[5] = ctButterfly(reduce4Q(x[5], fourQ), y[5], w, q, mrc, twoQ)
						x[6], y[6] = ctButterfly(reduce4Q(x[6], fourQ), y[6], w, q, mrc, twoQ)
						x[7], y[7] = ctButterfly(reduce4Q(x[7], fourQ), y[7], w, q, mrc, twoQ)
					} else {
						x[0], y[0] = ctButterfly(x[0], y[0], w, q, mrc, twoQ)
						x[1], y[1] = ctButterfly(x[1], y[1], w, q, mrc, twoQ)
						x[2], y[2] = ctButterfly(x[2], y[2], w, q, mrc, twoQ)
						x[3], y[3] = ctButterfly(x[3], y[3], w, q, mrc, twoQ)
						x[4], y[4] = ctButterfly(x[4], y[4], w, q, mrc, twoQ)
						x[5], y[5] = ctButterfly(x[5], y[5], w, q, mrc, twoQ)
						x[6], y[6] = ctButterfly(x[6], y[6], w, q, mrc, twoQ)
						x[7], y[7] = ctButterfly(x[7], y[7], w, q, mrc, twoQ)
					}
				}
			}
		case t == 4:
			for i, w := range roots {
				x := (*[8]uint64)(p2[8*i : 8*i+8])
				u0, u1, u2, u3 := x[0], x[1], x[2], x[3]
				if reduce {
					u0, u1, u2, u3 = reduce4Q(u0, fourQ), reduce4Q(u1, fourQ), reduce4Q(u2, fourQ), reduce4Q(u3, fourQ)
				}
				x[0], x[4] = ctButterfly(u0, x[4], w, q, mrc, twoQ)
				x[1], x[5] = ctButterfly(u1, x[5], w, q, mrc, twoQ)
				x[2], x[6] = ctButterfly(u2, x[6], w, q, mrc, twoQ)
				x[3], x[7] = ctButterfly(u3, x[7], w, q, mrc, twoQ)
			}
		case t == 2:
			for i, w := range roots {
				x := (*[4]uint64)(p2[4*i : 4*i+4])
				u0, u1 := x[0], x[1]
				if reduce {
					u0, u1 = reduce4Q(u0, fourQ), reduce4Q(u1, fourQ)
				}
				x[0], x[2] = ctButterfly(u0, x[2], w, q, mrc, twoQ)
				x[1], x[3] = ctButterfly(u1, x[3], w, q, mrc, twoQ)
			}
		default: // t == 1, the last stage: always reduced
			for i, w := range roots {
				x := (*[2]uint64)(p2[2*i : 2*i+2])
				x[0], x[1] = ctButterfly(reduce4Q(x[0], fourQ), x[1], w, q, mrc, twoQ)
			}
		}
	}
}

// nttLazySmall is lattigo's nttLazy for n < 16: every butterfly reduces u.
func nttLazySmall(p1, p2 []uint64, n int, q, mrc uint64, roots []uint64, shift uint) {
	twoQ, fourQ := 2*q, 4*q
	copy(p2[:n], p1[:n])
	t := n
	for m := 1; m < n; m <<= 1 {
		t >>= 1
		for i := 0; i < m; i++ {
			w := roots[m<<shift+i]
			j1 := 2 * i * t
			for j := j1; j < j1+t; j++ {
				p2[j], p2[j+t] = ctButterfly(reduce4Q(p2[j], fourQ), p2[j+t], w, q, mrc, twoQ)
			}
		}
	}
}

// ctButterfly is the lazy Cooley-Tukey butterfly (u + w*v, u + 2q - w*v), w*v
// a lazy Montgomery product in [0, 2q).
func ctButterfly(u, v, w, q, mrc, twoQ uint64) (uint64, uint64) {
	v = mredLazy(v, w, q, mrc)
	return u + v, u + twoQ - v
}

func reduce4Q(u, fourQ uint64) uint64 {
	if u >= fourQ {
		u -= fourQ
	}
	return u
}

// inttGeneric is lattigo's INTTStandard: the lazy Gentleman-Sande transform
// with outputs in [0, 2q), then a Montgomery multiplication by N^-1 into [0, q).
func inttGeneric(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	inttLazyGeneric(p1, p2, n, q, mrc, roots, 0)
	mulScalarMontGeneric(p2[:n], nInv, p2[:n], q, mrc)
}

// inttCIGeneric is lattigo's INTTConjugateInvariant: the Gentleman-Sande
// stages over the 2N-long root table, the folding stage (ciFold, with x_0
// doubled), then a Montgomery multiplication by nInv = (2N)^-1 into [0, q).
func inttCIGeneric(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	inttLazyGeneric(p1, p2, n, q, mrc, roots, 1)
	ciFold(p2, p2, n, q, mrc, roots[1])
	p2[0] = cred(p2[0]<<1, q)
	mulScalarMontGeneric(p2[:n], nInv, p2[:n], q, mrc)
}

// inttLazyGeneric is lattigo's inttCoreLazy: every butterfly is
// (u, v) -> (u + v reduced by 2q if at least 2q, (u + 4q - v)*w lazily).
// The stage of h blocks takes its roots from roots[h<<shift:], as in
// nttLazyGeneric.
func inttLazyGeneric(p1, p2 []uint64, n int, q, mrc uint64, roots []uint64, shift uint) {
	twoQ, fourQ := 2*q, 4*q

	// First stage (t = 1), from p1 to p2.
	h := n >> 1
	for i, w := range roots[h<<shift : h<<shift+h] {
		x, o := (*[2]uint64)(p1[2*i:2*i+2]), (*[2]uint64)(p2[2*i:2*i+2])
		o[0], o[1] = gsButterfly(x[0], x[1], w, q, mrc, twoQ, fourQ)
	}

	for t := 2; t < n; t <<= 1 {
		h >>= 1
		roots := roots[h<<shift : h<<shift+h]
		switch {
		case t == 2:
			for i, w := range roots {
				x := (*[4]uint64)(p2[4*i : 4*i+4])
				x[0], x[2] = gsButterfly(x[0], x[2], w, q, mrc, twoQ, fourQ)
				x[1], x[3] = gsButterfly(x[1], x[3], w, q, mrc, twoQ, fourQ)
			}
		case t == 4:
			for i, w := range roots {
				x := (*[8]uint64)(p2[8*i : 8*i+8])
				x[0], x[4] = gsButterfly(x[0], x[4], w, q, mrc, twoQ, fourQ)
				x[1], x[5] = gsButterfly(x[1], x[5], w, q, mrc, twoQ, fourQ)
				x[2], x[6] = gsButterfly(x[2], x[6], w, q, mrc, twoQ, fourQ)
				x[3], x[7] = gsButterfly(x[3], x[7], w, q, mrc, twoQ, fourQ)
			}
		default:
			for i, w := range roots {
				j1 := 2 * i * t
				for j := j1; j < j1+t; j += 8 {
					x, y := (*[8]uint64)(p2[j:j+8]), (*[8]uint64)(p2[j+t:j+t+8])
					x[0], y[0] = gsButterfly(x[0], y[0], w, q, mrc, twoQ, fourQ)
					x[1], y[1] = gsButterfly(x[1], y[1], w, q, mrc, twoQ, fourQ)
					x[2], y[2] = gsButterfly(x[2], y[2], w, q, mrc, twoQ, fourQ)
					x[3], y[3] = gsButterfly(x[3], y[3], w, q, mrc, twoQ, fourQ)
					x[4], y[4] = gsButterfly(x[4], y[4], w, q, mrc, twoQ, fourQ)
					x[5], y[5] = gsButterfly(x[5], y[5], w, q, mrc, twoQ, fourQ)
					x[6], y[6] = gsButterfly(x[6], y[6], w, q, mrc, twoQ, fourQ)
					x[7], y[7] = gsButterfly(x[7], y[7], w, q, mrc, twoQ, fourQ)
				}
			}
		}
	}
}

// gsButterfly is lattigo's lazy Gentleman-Sande butterfly: (u + v, reduced by
// 2q if at least 2q; (u + 4q - v)*w, a lazy Montgomery product).
func gsButterfly(u, v, w, q, mrc, twoQ, fourQ uint64) (uint64, uint64) {
	x := u + v
	if x >= twoQ {
		x -= twoQ
	}
	return x, mredLazy(u+fourQ-v, w, q, mrc)
}
