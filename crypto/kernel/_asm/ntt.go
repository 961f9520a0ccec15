package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The NTT routines work with q < 2^50 and twiddles in Shoup form: a root w < q
// plain (not Montgomery) with w' = floor(w*2^52/q). For any v < 2^52,
//
//	qh = floor(v*w'/2^52)          (VPMADD52HUQ)
//	r  = (v*w - qh*q) mod 2^52     (VPMADD52LUQ twice, with 2^52-q for -q)
//
// is v*w mod q plus 0 or q, in [0, 2q): the quotient estimate qh is short by
// at most one. Values stay below 4q < 2^52, so IFMA reads them whole:
// forward (Cooley-Tukey) butterflies take [0, 4q) and give [0, 4q), inverse
// (Gentleman-Sande) ones take [0, 2q) and give [0, 2q). Each pass covers one
// or two stages (radix 2 or 4); the three stages with t = 4, 2, 1, inside a
// block of 16 words, are one pass with two vectors permuted in registers.

// nttConsts are the broadcast constants of the NTT routines.
type nttConsts struct {
	q, twoQ, negQ, mask52 VecVirtual
}

func loadNTTConsts() nttConsts {
	var c nttConsts
	c.q = ZMM()
	VPBROADCASTQ(Load(Param("q"), GP64()), c.q)
	c.twoQ = ZMM()
	VPADDQ(c.q, c.q, c.twoQ)
	m := GP64()
	MOVQ(U64(1<<52-1), m)
	c.mask52 = ZMM()
	VPBROADCASTQ(m, c.mask52)
	c.negQ = ZMM()
	VPSUBQ(c.q, c.mask52, c.negQ) // 2^52-1-q
	one := GP64()
	MOVQ(U64(1), one)
	t := ZMM()
	VPBROADCASTQ(one, t)
	VPADDQ(t, c.negQ, c.negQ) // 2^52-q
	return c
}

// mulShoup returns v*w mod q in [0, 2q) for v < 2^52.
func (c nttConsts) mulShoup(v, w, wp VecVirtual) VecVirtual {
	r := ZMM()
	c.mulShoupTo(r, v, w, wp)
	return r
}

// mulShoupTo sets r to v*w mod q in [0, 2q) for v < 2^52; r may not be v.
func (c nttConsts) mulShoupTo(r, v, w, wp VecVirtual) {
	qh := ZMM()
	VPXORQ(qh, qh, qh)
	VPMADD52HUQ(wp, v, qh)
	VPXORQ(r, r, r)
	VPMADD52LUQ(w, v, r)
	VPMADD52LUQ(c.negQ, qh, r)
	VPANDQ(c.mask52, r, r)
}

// sub reduces x in place: x - m if x >= m (unsigned min of x and x-m).
func sub(x, m VecVirtual) {
	t := ZMM()
	VPSUBQ(m, x, t)
	VPMINUQ(t, x, x)
}

// ct is the forward butterfly on u, v in [0, 4q): u = u mod 2q + w*v, v =
// u mod 2q + 2q - w*v, both in [0, 4q).
func (c nttConsts) ct(u, v, w, wp VecVirtual) {
	sub(u, c.twoQ)
	t := c.mulShoup(v, w, wp)
	VPADDQ(c.twoQ, u, v)
	VPSUBQ(t, v, v)
	VPADDQ(t, u, u)
}

// gs is the inverse butterfly on u, v in [0, 2q): u = u + v mod 2q,
// v = (u + 2q - v)*w mod 2q, both in [0, 2q).
func (c nttConsts) gs(u, v, w, wp VecVirtual) {
	d := ZMM()
	VPADDQ(c.twoQ, u, d)
	VPSUBQ(v, d, d)
	VPADDQ(v, u, u)
	sub(u, c.twoQ)
	c.mulShoupTo(v, d, w, wp)
}

// idx is a vector of 8 permutation indices in read-only data.
func idx(name string, v [8]uint64) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, x := range v {
		DATA(8*i, U64(x))
	}
	return m
}

var nttIdx struct {
	spread4, spread2, rev, lo, hi, even, odd, outLo, outHi Mem
}

func nttData() {
	nttIdx.spread4 = idx("ntt_spread4", [8]uint64{0, 0, 0, 0, 1, 1, 1, 1})
	nttIdx.spread2 = idx("ntt_spread2", [8]uint64{0, 0, 1, 1, 2, 2, 3, 3})
	nttIdx.rev = idx("ntt_rev", [8]uint64{7, 6, 5, 4, 3, 2, 1, 0})
	nttIdx.lo = idx("ntt_lo", [8]uint64{0, 1, 8, 9, 4, 5, 12, 13})
	nttIdx.hi = idx("ntt_hi", [8]uint64{2, 3, 10, 11, 6, 7, 14, 15})
	nttIdx.even = idx("ntt_even", [8]uint64{0, 2, 4, 6, 8, 10, 12, 14})
	nttIdx.odd = idx("ntt_odd", [8]uint64{1, 3, 5, 7, 9, 11, 13, 15})
	nttIdx.outLo = idx("ntt_outlo", [8]uint64{0, 8, 1, 9, 2, 10, 3, 11})
	nttIdx.outHi = idx("ntt_outhi", [8]uint64{4, 12, 5, 13, 6, 14, 7, 15})
}

func bcast(m Mem) VecVirtual {
	z := ZMM()
	VPBROADCASTQ(m, z)
	return z
}

func load(m Mem) VecVirtual {
	z := ZMM()
	VMOVDQU64(m, z)
	return z
}

// permute2 returns the words of (a, b) picked by the index vector idx
// (indices 8..15 pick b).
func permute2(idx, a, b VecVirtual) VecVirtual {
	z := ZMM()
	VMOVDQA64(idx, z)
	VPERMI2Q(b, a, z)
	return z
}

// r2 emits a radix-2 pass from src to dst (possibly the same): one stage of
// half-width t, block i of 2t words with root w[i], on (p[j], p[j+t]).
func r2(name string, inverse bool) {
	TEXT(name, NOSPLIT, "func(src, dst []uint64, t int, w, wp []uint64, q uint64)")
	Pragma("noescape")
	if inverse {
		Doc(name+" runs one inverse stage of half-width t (a multiple of 8) from src",
			"to dst (len(src) words, possibly the same), block i with root w[i], w'[i];",
			"inputs and outputs below 2q. q < 2^50.")
	} else {
		Doc(name+" runs one forward stage of half-width t (a multiple of 8) from src",
			"to dst (len(src) words, possibly the same), block i with root w[i], w'[i];",
			"inputs and outputs below 4q. q < 2^50.")
	}
	c := loadNTTConsts()
	s := Load(Param("src").Base(), GP64())
	d := Load(Param("dst").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	tb := Load(Param("t"), GP64())
	SHLQ(U8(3), tb)
	SHLQ(U8(3), n)
	ADDQ(s, n) // end of src
	wq := Load(Param("w").Base(), GP64())
	wpq := Load(Param("wp").Base(), GP64())
	end := GP64()

	Label(name + "_block")
	w, wp := bcast(Mem{Base: wq}), bcast(Mem{Base: wpq})
	ADDQ(U8(8), wq)
	ADDQ(U8(8), wpq)
	MOVQ(s, end)
	ADDQ(tb, end)
	Label(name + "_inner")
	u := load(Mem{Base: s})
	v := load(Mem{Base: s, Index: tb, Scale: 1})
	if inverse {
		c.gs(u, v, w, wp)
	} else {
		c.ct(u, v, w, wp)
	}
	VMOVDQU64(u, Mem{Base: d})
	VMOVDQU64(v, Mem{Base: d, Index: tb, Scale: 1})
	ADDQ(U8(64), s)
	ADDQ(U8(64), d)
	CMPQ(s, end)
	JB(LabelRef(name + "_inner"))
	ADDQ(tb, s)
	ADDQ(tb, d)
	CMPQ(s, n)
	JB(LabelRef(name + "_block"))
	VZEROUPPER()
	RET()
}

// r4 emits a radix-4 pass from src to dst (possibly the same): two stages
// over blocks of 4h words, four vectors at p, p+h, p+2h, p+3h per step.
//
// Forward (h = t/2 of the first stage): (0,2) and (1,3) with w1[i], then (0,1)
// with w2[2i] and (2,3) with w2[2i+1]. Inverse (h = t of the first stage):
// (0,1) with w1[2i] and (2,3) with w1[2i+1], then (0,2) and (1,3) with w2[i].
func r4(name string, inverse bool) {
	TEXT(name, NOSPLIT, "func(src, dst []uint64, h int, w1, wp1, w2, wp2 []uint64, q uint64)")
	Pragma("noescape")
	if inverse {
		Doc(name+" runs two inverse stages from src to dst (len(src) words, possibly",
			"the same), of half-widths h and 2h (h a multiple of 8): block i of 4h",
			"words gets roots w1[2i], w1[2i+1] in the first and w2[i] in the second;",
			"inputs and outputs below 2q. q < 2^50.")
	} else {
		Doc(name+" runs two forward stages from src to dst (len(src) words, possibly",
			"the same), of half-widths 2h and h (h a multiple of 8): block i of 4h",
			"words gets root w1[i] in the first and w2[2i], w2[2i+1] in the second;",
			"inputs and outputs below 4q. q < 2^50.")
	}
	c := loadNTTConsts()
	p := Load(Param("src").Base(), GP64())
	d := Load(Param("dst").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	hb := Load(Param("h"), GP64())
	SHLQ(U8(3), hb)
	SHLQ(U8(3), n)
	ADDQ(p, n)
	h3 := GP64()
	LEAQ(Mem{Base: hb, Index: hb, Scale: 2}, h3)
	w1 := Load(Param("w1").Base(), GP64())
	wp1 := Load(Param("wp1").Base(), GP64())
	w2 := Load(Param("w2").Base(), GP64())
	wp2 := Load(Param("wp2").Base(), GP64())
	end := GP64()

	Label(name + "_block")
	var wa, wpa, wb, wpb, wc, wpc VecVirtual
	if inverse {
		wa, wpa = bcast(Mem{Base: w1}), bcast(Mem{Base: wp1})
		wb, wpb = bcast(Mem{Base: w1, Disp: 8}), bcast(Mem{Base: wp1, Disp: 8})
		wc, wpc = bcast(Mem{Base: w2}), bcast(Mem{Base: wp2})
		ADDQ(U8(16), w1)
		ADDQ(U8(16), wp1)
		ADDQ(U8(8), w2)
		ADDQ(U8(8), wp2)
	} else {
		wc, wpc = bcast(Mem{Base: w1}), bcast(Mem{Base: wp1})
		wa, wpa = bcast(Mem{Base: w2}), bcast(Mem{Base: wp2})
		wb, wpb = bcast(Mem{Base: w2, Disp: 8}), bcast(Mem{Base: wp2, Disp: 8})
		ADDQ(U8(8), w1)
		ADDQ(U8(8), wp1)
		ADDQ(U8(16), w2)
		ADDQ(U8(16), wp2)
	}
	MOVQ(p, end)
	ADDQ(hb, end)
	Label(name + "_inner")
	m0, m1 := Mem{Base: p}, Mem{Base: p, Index: hb, Scale: 1}
	m2, m3 := Mem{Base: p, Index: hb, Scale: 2}, Mem{Base: p, Index: h3, Scale: 1}
	a0, a1, a2, a3 := load(m0), load(m1), load(m2), load(m3)
	m0, m1 = Mem{Base: d}, Mem{Base: d, Index: hb, Scale: 1}
	m2, m3 = Mem{Base: d, Index: hb, Scale: 2}, Mem{Base: d, Index: h3, Scale: 1}
	if inverse {
		c.gs(a0, a1, wa, wpa)
		c.gs(a2, a3, wb, wpb)
		c.gs(a0, a2, wc, wpc)
		c.gs(a1, a3, wc, wpc)
	} else {
		c.ct(a0, a2, wc, wpc)
		c.ct(a1, a3, wc, wpc)
		c.ct(a0, a1, wa, wpa)
		c.ct(a2, a3, wb, wpb)
	}
	VMOVDQU64(a0, m0)
	VMOVDQU64(a1, m1)
	VMOVDQU64(a2, m2)
	VMOVDQU64(a3, m3)
	ADDQ(U8(64), p)
	ADDQ(U8(64), d)
	CMPQ(p, end)
	JB(LabelRef(name + "_inner"))
	ADDQ(h3, p)
	ADDQ(h3, d)
	CMPQ(p, n)
	JB(LabelRef(name + "_block"))
	VZEROUPPER()
	RET()
}

// nttLast3 emits the forward stages t = 4, 2, 1 and the final reduction into
// [0, q), in place, 16 words (two vectors) at a time.
func nttLast3() {
	TEXT("nttLast3IFMA", NOSPLIT, "func(p []uint64, w4, wp4, w2, wp2, w1, wp1 []uint64, q uint64)")
	Pragma("noescape")
	Doc("nttLast3IFMA runs the last three forward stages (half-widths 4, 2, 1, roots",
		"w4, w2, w1 from their first block) in place on len(p) words (a multiple of",
		"16), inputs below 4q, and reduces the outputs into [0, q). The root tables",
		"are read 8 words at a time from 2 and 4 words before their end. q < 2^50.")
	c := loadNTTConsts()
	p := Load(Param("p").Base(), GP64())
	n := Load(Param("p").Len(), GP64())
	SHLQ(U8(3), n)
	ADDQ(p, n)
	w4 := Load(Param("w4").Base(), GP64())
	wp4 := Load(Param("wp4").Base(), GP64())
	w2 := Load(Param("w2").Base(), GP64())
	wp2 := Load(Param("wp2").Base(), GP64())
	w1 := Load(Param("w1").Base(), GP64())
	wp1 := Load(Param("wp1").Base(), GP64())
	spread4, spread2 := load(nttIdx.spread4), load(nttIdx.spread2)
	lo, hi, outLo, outHi := load(nttIdx.lo), load(nttIdx.hi), load(nttIdx.outLo), load(nttIdx.outHi)

	Label("last3_loop")
	a, b := load(Mem{Base: p}), load(Mem{Base: p, Disp: 64})
	// t = 4: u = words 0-3, 8-11; v = 4-7, 12-15.
	u, v := ZMM(), ZMM()
	VSHUFI64X2(U8(0x44), b, a, u)
	VSHUFI64X2(U8(0xee), b, a, v)
	w, wp := ZMM(), ZMM()
	VPERMQ(Mem{Base: w4}, spread4, w)
	VPERMQ(Mem{Base: wp4}, spread4, wp)
	c.ct(u, v, w, wp)
	// t = 2: u = words 0,1,4,5,8,9,12,13; v = the others.
	u2, v2 := permute2(lo, u, v), permute2(hi, u, v)
	w, wp = ZMM(), ZMM()
	VPERMQ(Mem{Base: w2}, spread2, w)
	VPERMQ(Mem{Base: wp2}, spread2, wp)
	c.ct(u2, v2, w, wp)
	// t = 1: u = even words, v = odd words.
	u1, v1 := ZMM(), ZMM()
	VPUNPCKLQDQ(v2, u2, u1)
	VPUNPCKHQDQ(v2, u2, v1)
	c.ct(u1, v1, load(Mem{Base: w1}), load(Mem{Base: wp1}))
	sub(u1, c.twoQ)
	sub(u1, c.q)
	sub(v1, c.twoQ)
	sub(v1, c.q)
	VMOVDQU64(permute2(outLo, u1, v1), Mem{Base: p})
	VMOVDQU64(permute2(outHi, u1, v1), Mem{Base: p, Disp: 64})
	ADDQ(U8(16), w4)
	ADDQ(U8(16), wp4)
	ADDQ(U8(32), w2)
	ADDQ(U8(32), wp2)
	ADDQ(U8(64), w1)
	ADDQ(U8(64), wp1)
	ADDQ(U8(128), p)
	CMPQ(p, n)
	JB(LabelRef("last3_loop"))
	VZEROUPPER()
	RET()
}

// inttFirst3 emits the inverse stages t = 1, 2, 4 from src to dst, 16 words
// at a time.
func inttFirst3() {
	TEXT("inttFirst3IFMA", NOSPLIT, "func(src, dst []uint64, w1, wp1, w2, wp2, w4, wp4 []uint64, q uint64)")
	Pragma("noescape")
	Doc("inttFirst3IFMA runs the first three inverse stages (half-widths 1, 2, 4,",
		"roots w1, w2, w4 from their first block) from src to dst (len(src) words, a",
		"multiple of 16, possibly the same), inputs and outputs below 2q. The root",
		"tables are read 8 words at a time from 2 and 4 words before their end.",
		"q < 2^50.")
	c := loadNTTConsts()
	s := Load(Param("src").Base(), GP64())
	d := Load(Param("dst").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHLQ(U8(3), n)
	ADDQ(s, n)
	w1 := Load(Param("w1").Base(), GP64())
	wp1 := Load(Param("wp1").Base(), GP64())
	w2 := Load(Param("w2").Base(), GP64())
	wp2 := Load(Param("wp2").Base(), GP64())
	w4 := Load(Param("w4").Base(), GP64())
	wp4 := Load(Param("wp4").Base(), GP64())
	spread4, spread2 := load(nttIdx.spread4), load(nttIdx.spread2)
	lo, hi, even, odd := load(nttIdx.lo), load(nttIdx.hi), load(nttIdx.even), load(nttIdx.odd)

	Label("first3_loop")
	a, b := load(Mem{Base: s}), load(Mem{Base: s, Disp: 64})
	// t = 1: u = even words, v = odd words.
	u1, v1 := permute2(even, a, b), permute2(odd, a, b)
	c.gs(u1, v1, load(Mem{Base: w1}), load(Mem{Base: wp1}))
	// t = 2: u = words 0,1,4,5,8,9,12,13; v = the others.
	u2, v2 := ZMM(), ZMM()
	VPUNPCKLQDQ(v1, u1, u2)
	VPUNPCKHQDQ(v1, u1, v2)
	w, wp := ZMM(), ZMM()
	VPERMQ(Mem{Base: w2}, spread2, w)
	VPERMQ(Mem{Base: wp2}, spread2, wp)
	c.gs(u2, v2, w, wp)
	// t = 4: u = words 0-3, 8-11; v = 4-7, 12-15.
	u, v := permute2(lo, u2, v2), permute2(hi, u2, v2)
	w, wp = ZMM(), ZMM()
	VPERMQ(Mem{Base: w4}, spread4, w)
	VPERMQ(Mem{Base: wp4}, spread4, wp)
	c.gs(u, v, w, wp)
	a, b = ZMM(), ZMM()
	VSHUFI64X2(U8(0x44), v, u, a)
	VSHUFI64X2(U8(0xee), v, u, b)
	VMOVDQU64(a, Mem{Base: d})
	VMOVDQU64(b, Mem{Base: d, Disp: 64})
	ADDQ(U8(64), w1)
	ADDQ(U8(64), wp1)
	ADDQ(U8(32), w2)
	ADDQ(U8(32), wp2)
	ADDQ(U8(16), w4)
	ADDQ(U8(16), wp4)
	ADDQ(U8(128), s)
	ADDQ(U8(128), d)
	CMPQ(s, n)
	JB(LabelRef("first3_loop"))
	VZEROUPPER()
	RET()
}

// inttLast emits the last inverse stage (one block, half-width len(p)/2) with
// the scaling by N^-1 folded in and the outputs reduced into [0, q).
func inttLast() {
	TEXT("inttLastIFMA", NOSPLIT, "func(p []uint64, s, sp, ws, wsp, q uint64)")
	Pragma("noescape")
	Doc("inttLastIFMA runs the last inverse stage in place on len(p) words (a multiple",
		"of 16), inputs below 2q: (u, v) -> ((u + v)*s, (u - v)*ws) mod q in [0, q),",
		"with s = N^-1 and ws = w*N^-1 in Shoup form (s, s'), (ws, ws'). q < 2^50.")
	c := loadNTTConsts()
	p := Load(Param("p").Base(), GP64())
	hb := Load(Param("p").Len(), GP64())
	SHLQ(U8(2), hb) // half the length, in bytes
	s, sp := ZMM(), ZMM()
	VPBROADCASTQ(Load(Param("s"), GP64()), s)
	VPBROADCASTQ(Load(Param("sp"), GP64()), sp)
	ws, wsp := ZMM(), ZMM()
	VPBROADCASTQ(Load(Param("ws"), GP64()), ws)
	VPBROADCASTQ(Load(Param("wsp"), GP64()), wsp)
	end := GP64()
	MOVQ(p, end)
	ADDQ(hb, end)

	Label("last_loop")
	u, v := load(Mem{Base: p}), load(Mem{Base: p, Index: hb, Scale: 1})
	x, y := ZMM(), ZMM()
	VPADDQ(v, u, x)
	VPADDQ(c.twoQ, u, y)
	VPSUBQ(v, y, y)
	x = c.mulShoup(x, s, sp)
	y = c.mulShoup(y, ws, wsp)
	sub(x, c.q)
	sub(y, c.q)
	VMOVDQU64(x, Mem{Base: p})
	VMOVDQU64(y, Mem{Base: p, Index: hb, Scale: 1})
	ADDQ(U8(64), p)
	CMPQ(p, end)
	JB(LabelRef("last_loop"))
	VZEROUPPER()
	RET()
}

// ciFold emits the first forward stage of the conjugate-invariant NTT (or,
// with scaling, the last inverse one): for 1 <= j <= N/2 and k = N-j,
// (x_j, x_k) -> (x_j + 2q - w*x_k, x_k + 2q - w*x_j). Word 0 is left to the
// caller.
func ciFold(inverse bool) {
	name := "nttFoldIFMA"
	if inverse {
		name = "inttFoldIFMA"
		TEXT(name, NOSPLIT, "func(p []uint64, w, wp, s, sp, q uint64)")
		Doc(name+" runs the last inverse stage of the conjugate-invariant NTT in",
			"place on N = len(p) words (a multiple of 16, inputs below 2q), and the",
			"scaling by s = N^-1 in Shoup form (s, s'): (x_j, x_k) -> ((x_j + 2q -",
			"w*x_k)*s, (x_k + 2q - w*x_j)*s) mod q in [0, q) for 1 <= j <= N/2, k = N-j.",
			"Word 0 is left as it is. q < 2^50.")
	} else {
		TEXT(name, NOSPLIT, "func(src, dst []uint64, w, wp, q uint64)")
		Doc(name+" runs the first forward stage of the conjugate-invariant NTT from src",
			"to dst (N = len(src) words, a multiple of 16, possibly the same), inputs",
			"below 2q: (x_j, x_k) -> (x_j + 2q - w*x_k, x_k + 2q - w*x_j), below 4q, for",
			"1 <= j <= N/2, k = N-j. Word 0 is not written. q < 2^50.")
	}
	Pragma("noescape")
	c := loadNTTConsts()
	var s, d Register
	if inverse {
		s = Load(Param("p").Base(), GP64())
		d = s
	} else {
		s = Load(Param("src").Base(), GP64())
		d = Load(Param("dst").Base(), GP64())
	}
	var n Register
	if inverse {
		n = Load(Param("p").Len(), GP64())
	} else {
		n = Load(Param("src").Len(), GP64())
	}
	// x runs up from word 1, y down from word N-8, N/16 steps.
	ys := GP64()
	LEAQ(Mem{Base: s, Index: n, Scale: 8, Disp: -64}, ys)
	yd := ys
	if !inverse {
		yd = GP64()
		LEAQ(Mem{Base: d, Index: n, Scale: 8, Disp: -64}, yd)
	}
	SHRQ(U8(4), n)
	w, wp := ZMM(), ZMM()
	VPBROADCASTQ(Load(Param("w"), GP64()), w)
	VPBROADCASTQ(Load(Param("wp"), GP64()), wp)
	var sc, scp VecVirtual
	if inverse {
		sc, scp = ZMM(), ZMM()
		VPBROADCASTQ(Load(Param("s"), GP64()), sc)
		VPBROADCASTQ(Load(Param("sp"), GP64()), scp)
	}
	rev := load(nttIdx.rev)

	Label(name + "_loop")
	x := load(Mem{Base: s, Disp: 8})
	yr := ZMM()
	VPERMQ(Mem{Base: ys}, rev, yr)
	tx := c.mulShoup(x, w, wp)
	ty := c.mulShoup(yr, w, wp)
	VPADDQ(c.twoQ, x, x)
	VPSUBQ(ty, x, x)
	VPADDQ(c.twoQ, yr, yr)
	VPSUBQ(tx, yr, yr)
	if inverse {
		x = c.mulShoup(x, sc, scp)
		yr = c.mulShoup(yr, sc, scp)
		sub(x, c.q)
		sub(yr, c.q)
	}
	y := ZMM()
	VPERMQ(yr, rev, y)
	VMOVDQU64(x, Mem{Base: d, Disp: 8})
	VMOVDQU64(y, Mem{Base: yd})
	ADDQ(U8(64), s)
	SUBQ(U8(64), ys)
	if !inverse {
		ADDQ(U8(64), d)
		SUBQ(U8(64), yd)
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

func nttRoutines() {
	nttData()
	r2("nttR2IFMA", false)
	r2("inttR2IFMA", true)
	r4("nttR4IFMA", false)
	r4("inttR4IFMA", true)
	nttLast3()
	inttFirst3()
	inttLast()
	ciFold(false)
	ciFold(true)
}
