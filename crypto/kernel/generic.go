package kernel

import "math/bits"

// The generic variant: portable Go, built everywhere. Every other variant is
// tested against it and against lattigo, and falls back to it for what it does
// not accelerate.

var genericFuncs = funcs{
	ntt:                    nttGeneric,
	intt:                   inttGeneric,
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

func mulMontGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	p2, p3 = p2[:len(p1)], p3[:len(p1)]
	for i, x := range p1 {
		p3[i] = mred(x, p2[i], q, mrc)
	}
}

func mulMontLazyGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	p2, p3 = p2[:len(p1)], p3[:len(p1)]
	for i, x := range p1 {
		p3[i] = mredLazy(x, p2[i], q, mrc)
	}
}

func mulMontThenAddGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	p2, p3 = p2[:len(p1)], p3[:len(p1)]
	for i, x := range p1 {
		r := p3[i] + mred(x, p2[i], q, mrc)
		if r >= q {
			r -= q
		}
		p3[i] = r
	}
}

func mulMontLazyThenAddLazyGeneric(p1, p2, p3 []uint64, q, mrc uint64) {
	p2, p3 = p2[:len(p1)], p3[:len(p1)]
	for i, x := range p1 {
		p3[i] += mredLazy(x, p2[i], q, mrc)
	}
}

func mulScalarMontThenAddGeneric(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
	p2 = p2[:len(p1)]
	for i, x := range p1 {
		r := p2[i] + mred(x, scalar, q, mrc)
		if r >= q {
			r -= q
		}
		p2[i] = r
	}
}

func mulScalarMontGeneric(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
	p2 = p2[:len(p1)]
	for i, x := range p1 {
		p2[i] = mred(x, scalar, q, mrc)
	}
}

func addGeneric(p1, p2, p3 []uint64, q uint64) {
	p2, p3 = p2[:len(p1)], p3[:len(p1)]
	for i, x := range p1 {
		r := x + p2[i]
		if r >= q {
			r -= q
		}
		p3[i] = r
	}
}

func subGeneric(p1, p2, p3 []uint64, q uint64) {
	p2, p3 = p2[:len(p1)], p3[:len(p1)]
	for i, x := range p1 {
		r := x + q - p2[i]
		if r >= q {
			r -= q
		}
		p3[i] = r
	}
}

func negGeneric(p1, p2 []uint64, q uint64) {
	p2 = p2[:len(p1)]
	for i, x := range p1 {
		p2[i] = q - x
	}
}

func reduceGeneric(p1, p2 []uint64, q, bredHi uint64) {
	p2 = p2[:len(p1)]
	for i, x := range p1 {
		p2[i] = bred(x, q, bredHi)
	}
}

// nttGeneric is lattigo's NTTStandard: the lazy Cooley-Tukey transform, then a
// Barrett reduction into [0, q).
func nttGeneric(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	nttLazyGeneric(p1, p2, n, q, mrc, roots)
	reduceGeneric(p2[:n], p2[:n], q, bredHi)
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
func nttLazyGeneric(p1, p2 []uint64, n int, q, mrc uint64, roots []uint64) {
	twoQ, fourQ := 2*q, 4*q
	unrolled := n >= 16
	t := n >> 1

	// First stage, from p1 to p2.
	w := roots[1]
	x, y := p1[:t], p1[t:n]
	ox, oy := p2[:t], p2[t:n]
	for j, u := range x {
		if !unrolled && u >= fourQ {
			u -= fourQ
		}
		v := mredLazy(y[j], w, q, mrc)
		ox[j], oy[j] = u+v, u+twoQ-v
	}

	for m := 2; m < n; m <<= 1 {
		t >>= 1
		reduce := !unrolled || t == 1 || bits.Len(uint(m))&1 == 1
		if t == 1 {
			r := roots[m : 2*m]
			p := p2[:2*m]
			for i, w := range r {
				u := p[2*i]
				if u >= fourQ {
					u -= fourQ
				}
				v := mredLazy(p[2*i+1], w, q, mrc)
				p[2*i], p[2*i+1] = u+v, u+twoQ-v
			}
			continue
		}
		for i := 0; i < m; i++ {
			w := roots[m+i]
			j1 := 2 * i * t
			x := p2[j1 : j1+t]
			y := p2[j1+t : j1+2*t]
			y = y[:len(x)]
			if reduce {
				for j, u := range x {
					if u >= fourQ {
						u -= fourQ
					}
					v := mredLazy(y[j], w, q, mrc)
					x[j], y[j] = u+v, u+twoQ-v
				}
			} else {
				for j, u := range x {
					v := mredLazy(y[j], w, q, mrc)
					x[j], y[j] = u+v, u+twoQ-v
				}
			}
		}
	}
}

// inttGeneric is lattigo's INTTStandard: the lazy Gentleman-Sande transform
// with outputs in [0, 2q), then a Montgomery multiplication by N^-1 into [0, q).
func inttGeneric(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	inttLazyGeneric(p1, p2, n, q, mrc, roots)
	mulScalarMontGeneric(p2[:n], nInv, p2[:n], q, mrc)
}

// inttLazyGeneric is lattigo's inttCoreLazy: every butterfly is
// (u, v) -> (u + v reduced by 2q if at least 2q, (u + 4q - v)*w lazily).
func inttLazyGeneric(p1, p2 []uint64, n int, q, mrc uint64, roots []uint64) {
	twoQ, fourQ := 2*q, 4*q

	// First stage (t = 1), from p1 to p2, roots[n/2 : n].
	h := n >> 1
	src, dst := p1[:n], p2[:n]
	for i, w := range roots[h : 2*h] {
		u, v := src[2*i], src[2*i+1]
		x := u + v
		if x >= twoQ {
			x -= twoQ
		}
		dst[2*i], dst[2*i+1] = x, mredLazy(u+fourQ-v, w, q, mrc)
	}

	for t := 2; t < n; t <<= 1 {
		h >>= 1
		for i, w := range roots[h : 2*h] {
			j1 := 2 * i * t
			xs := p2[j1 : j1+t]
			ys := p2[j1+t : j1+2*t]
			ys = ys[:len(xs)]
			for j, u := range xs {
				v := ys[j]
				x := u + v
				if x >= twoQ {
					x -= twoQ
				}
				xs[j], ys[j] = x, mredLazy(u+fourQ-v, w, q, mrc)
			}
		}
	}
}
