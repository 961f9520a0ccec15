//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

// avx2Impl is the AVX2 variant, for moduli below 2^31 (avx2MaxModulus): the
// forward and inverse NTT of both ring types (N >= 16), the Montgomery
// products (plain, lazy and the then-add forms), Add, Sub, Neg and Reduce run
// in AVX2 assembly (avx2_amd64.s, generated from _asm/avx2); larger moduli
// and smaller rings are the generic code.
var avx2Impl = &Impl{
	name:      AVX2,
	supported: func() bool { return cpu.X86.HasAVX2 },
	f: func() funcs {
		f := genericFuncs
		f.ntt = nttAVX2
		f.intt = inttAVX2
		f.nttCI = nttCIAVX2
		f.inttCI = inttCIAVX2
		f.mulMont = mulMontAVX2Wrap
		f.mulMontLazy = mulMontLazyAVX2Wrap
		f.mulMontThenAdd = mulMontThenAddAVX2Wrap
		f.mulMontLazyThenAddLazy = mulMontLazyThenAddLazyAVX2Wrap
		f.mulScalarMontThenAdd = mulScalarMontThenAddAVX2Wrap
		f.add = addAVX2Wrap
		f.sub = subAVX2Wrap
		f.neg = negAVX2Wrap
		f.reduce = reduceAVX2Wrap
		f.sampleCDT = sampleCDTAVX2
		return f
	}(),
}

// sampleCDTAVX2 runs cdtAVX2 on the vectors of 16 words, the generic code
// on the rest. (Every variant's SampleCDT takes any word.)
func sampleCDTAVX2(table, r []uint64, x []int64) {
	v := len(r) &^ 15
	cdtAVX2(table, r[:v], x[:v])
	sampleCDTGeneric(table, r[v:], x[v:])
}

// avx2MaxModulus bounds the moduli of the AVX2 path: q < 2^31 keeps every
// multiplied operand below 2^32 (VPMULUDQ's width) and 4q below 2^33.
const avx2MaxModulus = 1 << 31

// avx2Resume is how many words the generic code takes after the AVX2 loop
// refuses a block (an input of 2^32 or more), before the loop is tried again.
const avx2Resume = 64

var (
	mulMontAVX2Wrap                = mulLoop(avx2MaxModulus, avx2Resume, mulMontAVX2, mulMontGeneric)
	mulMontLazyAVX2Wrap            = mulLoop(avx2MaxModulus, avx2Resume, mulMontLazyAVX2, mulMontLazyGeneric)
	mulMontThenAddAVX2Wrap         = mulLoop(avx2MaxModulus, avx2Resume, mulMontThenAddAVX2, mulMontThenAddGeneric)
	mulMontLazyThenAddLazyAVX2Wrap = mulLoop(avx2MaxModulus, avx2Resume, mulMontLazyThenAddLazyAVX2, mulMontLazyThenAddLazyGeneric)
)

// mulScalarMontThenAddAVX2Wrap multiplies by the scalar out of Montgomery form
// with Shoup's method: the result, reduced, is lattigo's whenever lattigo's
// MRed is fully reduced, which x*scalar < 2^64 (both below 2^32) ensures.
func mulScalarMontThenAddAVX2Wrap(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
	if q >= avx2MaxModulus || scalar >= 1<<32 {
		mulScalarMontThenAddGeneric(p1, scalar, p2, q, mrc)
		return
	}
	n := len(p1)
	p2 = p2[:n]
	s := mred(scalar, 1, q, mrc)
	ss := shoup32(s, q)
	for i := 0; i < n; {
		i += mulScalarMontThenAddAVX2(p1[i:], s, ss, p2[i:], q)
		if i < n {
			j := min(i+avx2Resume, n)
			mulScalarMontThenAddGeneric(p1[i:j], scalar, p2[i:j], q, mrc)
			i = j
		}
	}
}

func addAVX2Wrap(p1, p2, p3 []uint64, q uint64) {
	if q >= avx2MaxModulus {
		addGeneric(p1, p2, p3, q)
		return
	}
	n := len(p1)
	addAVX2(p1, p2[:n], p3[:n], q)
	i := n &^ 15
	addGeneric(p1[i:], p2[i:n], p3[i:n], q)
}

func subAVX2Wrap(p1, p2, p3 []uint64, q uint64) {
	if q >= avx2MaxModulus {
		subGeneric(p1, p2, p3, q)
		return
	}
	n := len(p1)
	subAVX2(p1, p2[:n], p3[:n], q)
	i := n &^ 15
	subGeneric(p1[i:], p2[i:n], p3[i:n], q)
}

// negAVX2Wrap needs no bound on q: q - p1[i] is the same word in any width.
func negAVX2Wrap(p1, p2 []uint64, q uint64) {
	n := len(p1)
	negAVX2(p1, p2[:n], q)
	i := n &^ 15
	negGeneric(p1[i:], p2[i:n], q)
}

func reduceAVX2Wrap(p1, p2 []uint64, q, bredHi uint64) {
	if q >= avx2MaxModulus {
		reduceGeneric(p1, p2, q, bredHi)
		return
	}
	n := len(p1)
	c := (1 << 32) % q
	reduceAVX2(p1, p2[:n], q, c, shoup32(c, q), shoup32(1, q))
	i := n &^ 7
	reduceGeneric(p1[i:], p2[i:n], q, bredHi)
}

// nttTables are the twiddles of one SubRing's NTT (forward or backward) in
// the form the AVX2 loops read, for q < 2^31. Both ring types use the
// standard transform's layout, the stage of m blocks with roots m..2m-1 (see
// packCI for the conjugate-invariant table).
type nttTables struct {
	// w[2k], w[2k+1]: the k-th root (bit-reversed order) in normal form, and
	// its Shoup constant floor(w*2^32/q).
	w []uint64
	// tail[16b:16b+16]: for the block of 8 coefficients b of the last three
	// forward (first three inverse) stages, the twiddles of distance 2 as
	// lanes (r[2b], r[2b], r[2b+1], r[2b+1]) of roots r = w[N/4:], then their
	// Shoup constants, then those of distance 1 as lanes (r[4b], r[4b+2],
	// r[4b+1], r[4b+3]) of r = w[N/2:], then their Shoup constants.
	tail []uint64
	// last: for the standard inverse, w*N^-1 and N^-1 (normal form) of the
	// last stage; for the conjugate-invariant ring, the folding root and
	// (2N)^-1; each followed by its Shoup constant. The forward tables have
	// no inverse scaling: zero there.
	last [4]uint64
}

// shoup32 returns floor(w*2^32/q) for w < q < 2^32.
func shoup32(w, q uint64) uint64 { return w << 32 / q }

// mulModQ returns a*b mod q for a, b < q < 2^32.
func mulModQ(a, b, q uint64) uint64 { return a * b % q }

// getNTTTables returns the tables of roots, a standard SubRing's table (ci
// false) or a conjugate-invariant one's, with nInvMont its N^-1 or (2N)^-1
// for a backward table and 0 for a forward one.
func getNTTTables(roots []uint64, n int, q, mrc, nInvMont uint64, ci bool) *nttTables {
	return tablesOf("avx2", roots, q, n, ci, func() *nttTables {
		if ci {
			roots = packCI(roots, n)
		}
		t := &nttTables{w: make([]uint64, 2*n), tail: make([]uint64, 2*n)}
		for k := range n {
			w := mred(roots[k], 1, q, mrc) // out of Montgomery form
			t.w[2*k], t.w[2*k+1] = w, shoup32(w, q)
		}
		r := func(k int) uint64 { return t.w[2*k] }
		for b := range n / 8 {
			tb := t.tail[16*b : 16*b+16]
			r2, r1 := n/4+2*b, n/2+4*b
			for l, w := range [8]uint64{r(r2), r(r2), r(r2 + 1), r(r2 + 1), r(r1), r(r1 + 2), r(r1 + 1), r(r1 + 3)} {
				tb[l+4*(l/4)] = w
				tb[l+4*(l/4)+4] = shoup32(w, q)
			}
		}
		nInv := mred(nInvMont, 1, q, mrc)
		w := mulModQ(r(1), nInv, q)
		if ci {
			w = r(0)
		}
		t.last = [4]uint64{w, shoup32(w, q), nInv, shoup32(nInv, q)}
		return t
	})
}

// nttAVX2 is lattigo's NTTStandard for q < 2^31 and N >= 16: radix-2
// Cooley-Tukey stages on values in [0, 2q), the last three fused on blocks of
// 8, ending in [0, q). The output is canonical, so it is lattigo's whatever
// the order of reductions. Larger moduli and smaller rings take the generic
// code.
func nttAVX2(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	if !avx2NTTApplies(n, q, roots, false) {
		nttGeneric(p1, p2, n, q, mrc, bredHi, roots)
		return
	}
	ctStagesAVX2(p1[:n], p2[:n], getNTTTables(roots, n, q, mrc, 0, false), q)
}

// nttCIAVX2 is lattigo's NTTConjugateInvariant for q < 2^31 and N >= 16: the
// folding stage, then the stages of nttAVX2 over the packed roots.
func nttCIAVX2(p1, p2 []uint64, n int, q, mrc, bredHi uint64, roots []uint64) {
	if !avx2NTTApplies(n, q, roots, true) {
		nttCIGeneric(p1, p2, n, q, mrc, bredHi, roots)
		return
	}
	p1, p2 = p1[:n], p2[:n]
	t := getNTTTables(roots, n, q, mrc, 0, true)
	ciFoldAVX2(p1, p2, &t.last, q)
	p2[0] = p1[0]
	ctStagesAVX2(p2, p2, t, q)
}

// ctStagesAVX2 runs the Cooley-Tukey stages of the standard transform from
// src (in [0, 2q)) to dst (in [0, q)).
func ctStagesAVX2(src, dst []uint64, t *nttTables, q uint64) {
	n := len(src)
	ctStageAVX2(src, dst, n/2, t.w[2:], q)
	for d := n / 4; d >= 8; d /= 2 {
		ctStageAVX2(dst, dst, d, t.w[n/d:], q) // roots from index n/(2d), 2 words each
	}
	ctTailAVX2(dst, dst, t.w[n/4:], t.tail, q)
}

// inttAVX2 is lattigo's INTTStandard for q < 2^31 and N >= 16: the first
// three Gentleman-Sande stages fused on blocks of 8, radix-2 stages, and the
// last stage fused with the multiplication by N^-1, ending in [0, q).
func inttAVX2(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	if !avx2NTTApplies(n, q, roots, false) {
		inttGeneric(p1, p2, n, q, mrc, nInv, roots)
		return
	}
	p1, p2 = p1[:n], p2[:n]
	t := getNTTTables(roots, n, q, mrc, nInv, false)
	gsStagesAVX2(p1, p2, t, q, n/2)
	gsLastAVX2(p2, p2, &t.last, q)
}

// inttCIAVX2 is lattigo's INTTConjugateInvariant for q < 2^31 and N >= 16:
// every Gentleman-Sande stage over the packed roots, the folding stage fused
// with the multiplication by (2N)^-1, and word 0 doubled and scaled.
func inttCIAVX2(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64) {
	if !avx2NTTApplies(n, q, roots, true) {
		inttCIGeneric(p1, p2, n, q, mrc, nInv, roots)
		return
	}
	p1, p2 = p1[:n], p2[:n]
	t := getNTTTables(roots, n, q, mrc, nInv, true)
	gsStagesAVX2(p1, p2, t, q, n)
	ciFoldScaleAVX2(p2, p2, &t.last, q)
	p2[0] = mred(p2[0]<<1, nInv, q, mrc) // not folded: doubled, then scaled as the others
}

// gsStagesAVX2 runs the Gentleman-Sande stages of distance below dEnd from
// src to dst, in [0, 2q): the standard transform stops before its last stage
// (dEnd = n/2), which gsLastAVX2 runs with the scaling; the
// conjugate-invariant one runs them all (dEnd = n).
func gsStagesAVX2(src, dst []uint64, t *nttTables, q uint64, dEnd int) {
	n := len(src)
	gsTailAVX2(src, dst, t.w[n/4:], t.tail, q)
	for d := 8; d < dEnd; d *= 2 {
		gsStageAVX2(dst, dst, d, t.w[n/d:], q)
	}
}

// avx2NTTApplies reports whether the AVX2 transforms handle this SubRing: q <
// 2^31, N >= 16 and a roots table of the ring type's length (N, or 2N for
// the conjugate-invariant ring).
func avx2NTTApplies(n int, q uint64, roots []uint64, ci bool) bool {
	want := n
	if ci {
		want = 2 * n
	}
	return q < avx2MaxModulus && n >= 16 && len(roots) == want
}

// preferAVX2Below31 returns f with the operations in which the AVX2 loops beat
// the avx512 variant's own for moduli below 2^31 (measured at 30 bits on an
// AVX-512 IFMA host: the lazy products, the scalar product by Shoup's method,
// Add, Sub, Neg, Reduce) running them for such moduli; f's own otherwise.
// IFMA's 8 lanes win MulCoeffsMontgomery and its ThenAdd form, and the NTT
// and INTT of both ring types: about twice as fast as the AVX2 transforms at
// 30 and 31 bits, N = 2^12..2^16.
func preferAVX2Below31(f funcs) funcs {
	if !cpu.X86.HasAVX2 { // every AVX-512 CPU has it, but a hypervisor may hide it
		return f
	}
	base := f
	below := func(avx2, other func(p1, p2, p3 []uint64, q, mrc uint64)) func(p1, p2, p3 []uint64, q, mrc uint64) {
		return func(p1, p2, p3 []uint64, q, mrc uint64) {
			if q < avx2MaxModulus {
				avx2(p1, p2, p3, q, mrc)
			} else {
				other(p1, p2, p3, q, mrc)
			}
		}
	}
	f.mulMontLazy = below(mulMontLazyAVX2Wrap, base.mulMontLazy)
	f.mulMontLazyThenAddLazy = below(mulMontLazyThenAddLazyAVX2Wrap, base.mulMontLazyThenAddLazy)
	f.mulScalarMontThenAdd = func(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
		if q < avx2MaxModulus {
			mulScalarMontThenAddAVX2Wrap(p1, scalar, p2, q, mrc)
		} else {
			base.mulScalarMontThenAdd(p1, scalar, p2, q, mrc)
		}
	}
	addSub := func(avx2, other func(p1, p2, p3 []uint64, q uint64)) func(p1, p2, p3 []uint64, q uint64) {
		return func(p1, p2, p3 []uint64, q uint64) {
			if q < avx2MaxModulus {
				avx2(p1, p2, p3, q)
			} else {
				other(p1, p2, p3, q)
			}
		}
	}
	f.add = addSub(addAVX2Wrap, base.add)
	f.sub = addSub(subAVX2Wrap, base.sub)
	f.neg = func(p1, p2 []uint64, q uint64) {
		if q < avx2MaxModulus {
			negAVX2Wrap(p1, p2, q)
		} else {
			base.neg(p1, p2, q)
		}
	}
	f.reduce = func(p1, p2 []uint64, q, bred uint64) {
		if q < avx2MaxModulus {
			reduceAVX2Wrap(p1, p2, q, bred)
		} else {
			base.reduce(p1, p2, q, bred)
		}
	}
	return f
}
