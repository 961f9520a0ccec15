// Command avx2 generates crypto/kernel's AVX2 assembly with avo: the loops of
// the avx2 variant, for moduli q < 2^31.
//
// Run from crypto/kernel: go generate (see gen.go there), which runs
//
//	cd _asm/avx2 && go run . -out ../../avx2_amd64.s -stubs ../../avx2_stub_amd64.go -pkg kernel
//
// The output is committed; TestGeneratedAssembly checks that it is what this
// program prints.
//
// AVX2's widest multiply is VPMULUDQ, 32x32 -> 64 bits, on the low halves of
// four 64-bit lanes. With q < 2^31 every operand the loops multiply is below
// 2^32 and every sum below 2^63, so one coefficient stays in one 64-bit lane,
// as in the []uint64 the package works on: no packing.
package main

import (
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!purego")
	mulMont("mulMontAVX2", modeMul)
	mulMont("mulMontLazyAVX2", modeMulLazy)
	mulMont("mulMontThenAddAVX2", modeMulThenAdd)
	mulMont("mulMontLazyThenAddLazyAVX2", modeMulLazyThenAddLazy)
	mulMont("mulScalarMontThenAddAVX2", modeScalarThenAdd)
	addSubNeg("addAVX2", opAdd)
	addSubNeg("subAVX2", opSub)
	addSubNeg("negAVX2", opNeg)
	reduce()
	nttStage("ctStageAVX2", false)
	nttStage("gsStageAVX2", true)
	nttTail("ctTailAVX2", false)
	nttTail("gsTailAVX2", true)
	gsLast()
	ciFold("ciFoldAVX2", false)
	ciFold("ciFoldScaleAVX2", true)
	cdt()
	Generate()
}

// cdt emits cdtAVX2, SampleCDT's loop: each table entry is broadcast from
// memory and compared with four vectors (c > m gives -1), the counts start
// at len(table) and add the comparisons, so they end at #{k : m >= c}; the
// sign is applied as (a ^ s) - s with s = (r < 0). Any 64-bit words: the
// comparisons are signed, and m and c are below 2^63.
func cdt() {
	const name = "cdtAVX2"
	TEXT(name, NOSPLIT, "func(table, r []uint64, x []int64)")
	Pragma("noescape")
	doc(name + " sets x[i] = ±#{k : r[i] mod 2^63 >= table[k]}, negative when r[i]'s\ntop bit is set, for the first len(r)&^15 words; table entries in [1, 2^63).\nNo branch or address depends on r.")
	tab := Load(Param("table").Base(), GP64())
	nt := Load(Param("table").Len(), GP64())
	rp := Load(Param("r").Base(), GP64())
	n := Load(Param("r").Len(), GP64())
	xp := Load(Param("x").Base(), GP64())
	low := broadcastConst(1<<63 - 1)
	count := YMM()
	xc := XMM()
	MOVQ(nt, xc)
	VPBROADCASTQ(xc, count)
	zero := YMM()
	VPXOR(zero, zero, zero)
	ANDQ(I8(-16), n)
	i := GP64()
	XORQ(i, i)

	Label(name + "_loop")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	var m, a [4]VecVirtual
	at := func(p Register, u int) Mem { return Mem{Base: p, Index: i, Scale: 8, Disp: 32 * u} }
	for u := range 4 {
		m[u], a[u] = YMM(), YMM()
		VPAND(at(rp, u), low, m[u])
		VMOVDQA(count, a[u])
	}
	k := GP64()
	XORQ(k, k)
	Label(name + "_table")
	CMPQ(k, nt)
	JAE(LabelRef(name + "_sign"))
	c := YMM()
	VPBROADCASTQ(Mem{Base: tab, Index: k, Scale: 8}, c)
	for u := range 4 {
		g := YMM()
		VPCMPGTQ(m[u], c, g) // c > m: -1
		VPADDQ(g, a[u], a[u])
	}
	INCQ(k)
	JMP(LabelRef(name + "_table"))
	Label(name + "_sign")
	for u := range 4 { // r is read again: sixteen registers hold no more
		s := YMM()
		VPCMPGTQ(at(rp, u), zero, s) // r < 0: -1
		VPXOR(s, a[u], a[u])
		VPSUBQ(s, a[u], a[u])
		VMOVDQU(a[u], at(xp, u))
	}
	ADDQ(I8(16), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func doc(text string) { Doc(strings.Split(text, "\n")...) }

// broadcast returns a vector of four copies of the 64-bit parameter name.
func broadcast(name string) VecVirtual {
	x := XMM()
	MOVQ(Load(Param(name), GP64()), x)
	y := YMM()
	VPBROADCASTQ(x, y)
	return y
}

// broadcastConst returns a vector of four copies of c.
func broadcastConst(c uint64) VecVirtual {
	g := GP64()
	MOVQ(U64(c), g)
	x := XMM()
	MOVQ(g, x)
	y := YMM()
	VPBROADCASTQ(x, y)
	return y
}

// cred32 returns v - m if v >= m else v, for v < 2^32 and m < 2^32 (upper
// halves zero): the unsigned 32-bit minimum of v and v - m, lattigo's CRed.
func cred32(v, m Op) VecVirtual {
	t := YMM()
	VPSUBQ(m, v, t)
	VPMINUD(t, v, t)
	return t
}

const (
	modeMul                = iota // p3 = x*y*2^-64 mod q
	modeMulLazy                   // p3 = lattigo's lazy word
	modeMulThenAdd                // p3 = p3 + x*y*2^-64 mod q
	modeMulLazyThenAddLazy        // p3 += lattigo's lazy word
	modeScalarThenAdd             // p2 = p2 + x*scalar*2^-64 mod q
)

// mulMont emits one loop of lattigo's Montgomery products, eight words (two
// vectors) at a time, for q < 2^31 and inputs below 2^32. The loop runs over
// the first len(p1)&^7 words and returns how many it did: it stops, before
// writing anything for them, at the first 8 words with an input of 2^32 or
// more, which the Go side finishes with the generic code.
//
// Two Montgomery steps by 2^32 give x*y*2^-64 mod q with five VPMULUDQ (qi =
// q^-1 mod 2^32, the low half of lattigo's mrc = q^-1 mod 2^64):
//
//	T  = x*y < 2^64;  m = T*qi mod 2^32       T - m*q = 0 mod 2^32
//	u  = (T>>32) - (m*q>>32)                  in (-q, 2^32)
//	m2 = -u*qi mod 2^32                       u + m2*q = 0 mod 2^32
//	v  = (u + m2*q) >> 32                     in [0, q], = x*y*2^-64 mod q
//
// (u < 0 has a nonzero low half, so m2 >= 1 and u + m2*q > 0.) The reduced
// forms map v = q to 0. The lazy forms must return lattigo's word, not only a
// congruent one: lattigo computes hi:lo = x*y, m = lo*mrc mod 2^64 and
// returns hi - h + q, h = floor(m*q/2^64) < q. With x, y < 2^32, hi = 0, so
// that word is in [1, q]: the one value of [1, q] congruent to v, that is v,
// or q for v = 0. The scalar form multiplies by the scalar in normal form s =
// scalar*2^-64 mod q with Shoup's method (three VPMULUDQ).
func mulMont(name string, mode int) {
	if mode == modeScalarThenAdd {
		TEXT(name, NOSPLIT, "func(p1 []uint64, s, ss uint64, p2 []uint64, q uint64) int")
	} else {
		TEXT(name, NOSPLIT, "func(p1, p2, p3 []uint64, q, mrc uint64) int")
	}
	Pragma("noescape")
	const tail = "\nIt does the leading blocks of 8 words whose inputs are below 2^32 and\nreturns how many words it did. q < 2^31"
	const mrcDoc = ", mrc = q^-1 mod 2^64 (lattigo's MRedConstant)."
	switch mode {
	case modeMul:
		doc(name + " sets p3[i] = p1[i]*p2[i]*2^-64 mod q (lattigo's MRed)." + tail + mrcDoc)
	case modeMulLazy:
		doc(name + " sets p3[i] to lattigo's MRedLazy(p1[i], p2[i])." + tail + mrcDoc)
	case modeMulThenAdd:
		doc(name + " sets p3[i] = p3[i] + p1[i]*p2[i]*2^-64 mod q for p3[i] < q\n(lattigo's MulCoeffsMontgomeryThenAdd)." + tail + mrcDoc)
	case modeMulLazyThenAddLazy:
		doc(name + " adds lattigo's MRedLazy(p1[i], p2[i]) to p3[i]." + tail + mrcDoc)
	case modeScalarThenAdd:
		doc(name + " sets p2[i] = p2[i] + p1[i]*s mod q for p2[i] < q\n(lattigo's MulScalarMontgomeryThenAdd, s the scalar out of Montgomery form)." + tail + ",\ns < q, ss = floor(s*2^32/q).")
	}

	xp := Load(Param("p1").Base(), GP64())
	n := Load(Param("p1").Len(), GP64())
	var yp, zp Register
	var s, ss VecVirtual
	if mode == modeScalarThenAdd {
		s, ss = broadcast("s"), broadcast("ss")
		zp = Load(Param("p2").Base(), GP64())
	} else {
		yp = Load(Param("p2").Base(), GP64())
		zp = Load(Param("p3").Base(), GP64())
	}

	q := broadcast("q")
	r := ring{q: q}
	var cl, cn, zero VecVirtual
	if mode != modeScalarThenAdd {
		Comment("qi = q^-1 and -qi mod 2^32 (low halves used), 0")
		cl = broadcast("mrc")
		zero = YMM()
		VPXOR(zero, zero, zero)
		cn = YMM()
		VPSUBQ(cl, zero, cn)
	}
	hiMask := broadcastConst(0xffffffff00000000)

	ANDQ(I8(-8), n)
	i := GP64()
	XORQ(i, i)

	Label(name + "_loop")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))

	var xs, ys [2]VecVirtual
	big := YMM()
	for k := range 2 {
		xs[k] = YMM()
		VMOVDQU(Mem{Base: xp, Index: i, Scale: 8, Disp: 32 * k}, xs[k])
		if mode != modeScalarThenAdd {
			ys[k] = YMM()
			VMOVDQU(Mem{Base: yp, Index: i, Scale: 8, Disp: 32 * k}, ys[k])
		}
	}
	Comment("stop at 8 words with an input of 2^32 or more")
	if mode == modeScalarThenAdd {
		VPOR(xs[0], xs[1], big)
	} else {
		VPOR(xs[0], ys[0], big)
		VPOR(xs[1], big, big)
		VPOR(ys[1], big, big)
	}
	VPTEST(hiMask, big)
	JNZ(LabelRef(name + "_done"))

	for k := range 2 {
		x, y := xs[k], ys[k]
		out := Mem{Base: zp, Index: i, Scale: 8, Disp: 32 * k}
		var v VecVirtual
		switch mode {
		case modeMul, modeMulThenAdd, modeMulLazy, modeMulLazyThenAddLazy:
			Comment("T = x*y; u = T*2^-32 mod q, in (-q, 2^32)")
			t := YMM()
			VPMULUDQ(y, x, t)
			m := YMM()
			VPMULUDQ(cl, t, m)
			VPMULUDQ(q, m, m)
			VPSRLQ(U8(32), t, t)
			VPSRLQ(U8(32), m, m)
			VPSUBQ(m, t, t)
			Comment("v = u*2^-32 mod q, in [0, q]")
			VPMULUDQ(cn, t, m)
			VPMULUDQ(q, m, m)
			VPADDQ(t, m, m)
			VPSRLQ(U8(32), m, m)
			switch mode {
			case modeMul:
				v = cred32(m, q)
			case modeMulThenAdd:
				v = cred32(m, q)
				Comment("z = z + v mod q, as lattigo's CRed")
				VPADDQ(out, v, v)
				v = cred32(v, q)
			default:
				Comment("lattigo's lazy word: q for v = 0, else v")
				z := YMM()
				VPCMPEQQ(zero, m, z)
				VBLENDVPD(z, q, m, m) // z ? q : v
				v = m
				if mode == modeMulLazyThenAddLazy {
					VPADDQ(out, v, v)
				}
			}
		case modeScalarThenAdd:
			v = cred32(r.shoup(x, s, ss), q)
			VPADDQ(out, v, v)
			v = cred32(v, q)
		}
		VMOVDQU(v, out)
	}

	ADDQ(I8(8), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	Store(i, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

const (
	opAdd = iota
	opSub
	opNeg
)

// addSubNeg emits Add, Sub or Neg over the first len(p1)&^15 words, for
// inputs in lattigo's ranges ([0, q), or [0, q] for Neg) and q < 2^31.
func addSubNeg(name string, op int) {
	switch op {
	case opNeg:
		TEXT(name, NOSPLIT, "func(p1, p2 []uint64, q uint64)")
		Pragma("noescape")
		doc(name + " sets p2[i] = q - p1[i] (lattigo's Neg) for the first len(p1)&^15 words.")
	default:
		TEXT(name, NOSPLIT, "func(p1, p2, p3 []uint64, q uint64)")
		Pragma("noescape")
		if op == opAdd {
			doc(name + " sets p3[i] = p1[i] + p2[i] mod q (lattigo's Add) for the first\nlen(p1)&^15 words. q < 2^31, inputs in [0, q).")
		} else {
			doc(name + " sets p3[i] = p1[i] - p2[i] mod q (lattigo's Sub) for the first\nlen(p1)&^15 words. q < 2^31, inputs in [0, q).")
		}
	}
	xp := Load(Param("p1").Base(), GP64())
	n := Load(Param("p1").Len(), GP64())
	var yp, zp Register
	if op == opNeg {
		zp = Load(Param("p2").Base(), GP64())
	} else {
		yp = Load(Param("p2").Base(), GP64())
		zp = Load(Param("p3").Base(), GP64())
	}
	q := broadcast("q")
	ANDQ(I8(-16), n)
	i := GP64()
	XORQ(i, i)

	Label(name + "_loop")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	for k := range 4 {
		at := func(p Register) Mem { return Mem{Base: p, Index: i, Scale: 8, Disp: 32 * k} }
		x := YMM()
		VMOVDQU(at(xp), x)
		r := YMM()
		switch op {
		case opAdd:
			VPADDQ(at(yp), x, r)
			r = cred32(r, q)
		case opSub:
			VPADDQ(q, x, r)
			VPSUBQ(at(yp), r, r)
			r = cred32(r, q)
		case opNeg:
			VPSUBQ(x, q, r)
		}
		VMOVDQU(r, at(zp))
	}
	ADDQ(I8(16), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// reduce emits lattigo's Reduce, a mod q in [0, q) for any 64-bit a, for q <
// 2^31, from the halves a = a1*2^32 + a0: a1*(2^32 mod q) and a0*1, each
// reduced into [0, 2q) by Shoup's method (a1, a0 < 2^32), summed and brought
// into [0, q). Five VPMULUDQ per four words; lattigo's Barrett takes two
// 64-bit multiplications per word.
func reduce() {
	name := "reduceAVX2"
	TEXT(name, NOSPLIT, "func(p1, p2 []uint64, q, c, cs, ones uint64)")
	Pragma("noescape")
	doc(name + " sets p2[i] = p1[i] mod q (lattigo's Reduce) for the first\nlen(p1)&^7 words. q < 2^31, c = 2^32 mod q, cs = floor(c*2^32/q), ones =\nfloor(2^32/q).")
	xp := Load(Param("p1").Base(), GP64())
	n := Load(Param("p1").Len(), GP64())
	zp := Load(Param("p2").Base(), GP64())
	r := newRing()
	c, cs, ones := broadcast("c"), broadcast("cs"), broadcast("ones")
	lowMask := broadcastConst(0xffffffff)
	ANDQ(I8(-8), n)
	i := GP64()
	XORQ(i, i)

	Label(name + "_loop")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	for k := range 2 {
		at := Mem{Base: xp, Index: i, Scale: 8, Disp: 32 * k}
		a := YMM()
		VMOVDQU(at, a)
		Comment("a1*c mod q in [0, 2q)")
		a1 := YMM()
		VPSRLQ(U8(32), a, a1)
		r1 := r.shoup(a1, c, cs)
		Comment("a0 mod q in [0, 2q): a0 - floor(a0*ones/2^32)*q, taken mod 2^32")
		h := YMM()
		VPMULUDQ(ones, a, h)
		VPSRLQ(U8(32), h, h)
		VPMULUDQ(r.q, h, h)
		VPSUBQ(h, a, h)
		VPAND(lowMask, h, h)
		Comment("sum in [0, 4q), reduced")
		VPADDQ(r1, h, h)
		v := cred32(csub(h, r.q2), r.q)
		VMOVDQU(v, Mem{Base: zp, Index: i, Scale: 8, Disp: 32 * k})
	}
	ADDQ(I8(8), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// The NTT loops keep every coefficient in [0, 2q), below 2^32, and multiply by
// a twiddle w (normal form, < q) with Shoup's method: ws = floor(w*2^32/q),
// hq = floor(v*ws / 2^32), and v*w - hq*q is v*w mod q, in [0, 2q), for any
// v < 2^32. Three VPMULUDQ a product; conditional subtractions of 2q on
// values below 2^33 test the sign of the difference (VBLENDVPD), as AVX2 has
// no unsigned 64-bit minimum.

type ring struct{ q, q2 VecVirtual }

func newRing() ring {
	q := broadcast("q")
	q2 := YMM()
	VPADDQ(q, q, q2)
	return ring{q, q2}
}

// shoup returns v*w mod q in [0, 2q), for v < 2^32.
func (r ring) shoup(v, w, ws Op) VecVirtual {
	h := YMM()
	VPMULUDQ(ws, v, h)
	VPSRLQ(U8(32), h, h)
	VPMULUDQ(r.q, h, h)
	p := YMM()
	VPMULUDQ(w, v, p)
	VPSUBQ(h, p, p)
	return p
}

// csub returns v - m if v >= m else v, for v < m + 2^63.
func csub(v, m Op) VecVirtual {
	t := YMM()
	VPSUBQ(m, v, t)
	VBLENDVPD(t, v, t, t) // t < 0 ? v : t
	return t
}

// subMod returns x - y if x >= y else x - y + m.
func subMod(x, y, m Op) VecVirtual {
	d := YMM()
	VPSUBQ(y, x, d)
	e := YMM()
	VPADDQ(m, d, e)
	VBLENDVPD(d, e, d, d) // d < 0 ? e : d
	return d
}

// ct is the Cooley-Tukey butterfly (x + w*y, x - w*y) mod 2q, inputs and
// outputs in [0, 2q).
func (r ring) ct(x, y, w, ws Op) (VecVirtual, VecVirtual) {
	t := r.shoup(y, w, ws)
	s := YMM()
	VPADDQ(t, x, s)
	return csub(s, r.q2), subMod(x, t, r.q2)
}

// gs is the Gentleman-Sande butterfly (x + y mod 2q, (x - y)*w), inputs and
// outputs in [0, 2q).
func (r ring) gs(x, y, w, ws Op) (VecVirtual, VecVirtual) {
	s := YMM()
	VPADDQ(y, x, s)
	return csub(s, r.q2), r.shoup(subMod(x, y, r.q2), w, ws)
}

// nttStage emits one radix-2 stage of distance t >= 8 over src (len(src)
// words, groups of 2t) into dst, which may be src. Group g uses the twiddle
// w[2g] and its Shoup constant w[2g+1].
func nttStage(name string, inverse bool) {
	TEXT(name, NOSPLIT, "func(src, dst []uint64, t int, w []uint64, q uint64)")
	Pragma("noescape")
	if inverse {
		doc(name + " runs one Gentleman-Sande stage of distance t (a multiple of 8)\nover src into dst: (x, y) -> (x + y, (x - y)*w), w = w[2g] in group g of 2t\nwords, w[2g+1] its Shoup constant. Values in [0, 2q), q < 2^31.")
	} else {
		doc(name + " runs one Cooley-Tukey stage of distance t (a multiple of 8)\nover src into dst: (x, y) -> (x + w*y, x - w*y), w = w[2g] in group g of 2t\nwords, w[2g+1] its Shoup constant. Values in [0, 2q), q < 2^31.")
	}
	xs := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	xd := Load(Param("dst").Base(), GP64())
	t := Load(Param("t"), GP64())
	wp := Load(Param("w").Base(), GP64())
	r := newRing()

	SHLQ(U8(3), t) // bytes
	end := GP64()
	LEAQ(Mem{Base: xs, Index: n, Scale: 8}, end)
	ys, yd := GP64(), GP64()

	Label(name + "_group")
	w, ws := YMM(), YMM()
	VPBROADCASTQ(Mem{Base: wp}, w)
	VPBROADCASTQ(Mem{Base: wp, Disp: 8}, ws)
	LEAQ(Mem{Base: xs, Index: t, Scale: 1}, ys)
	LEAQ(Mem{Base: xd, Index: t, Scale: 1}, yd)
	j := GP64()
	XORQ(j, j)

	Label(name + "_inner")
	for k := 0; k < 2; k++ {
		x, y := YMM(), YMM()
		VMOVDQU(Mem{Base: xs, Index: j, Scale: 1, Disp: 32 * k}, x)
		VMOVDQU(Mem{Base: ys, Index: j, Scale: 1, Disp: 32 * k}, y)
		var u, v VecVirtual
		if inverse {
			u, v = r.gs(x, y, w, ws)
		} else {
			u, v = r.ct(x, y, w, ws)
		}
		VMOVDQU(u, Mem{Base: xd, Index: j, Scale: 1, Disp: 32 * k})
		VMOVDQU(v, Mem{Base: yd, Index: j, Scale: 1, Disp: 32 * k})
	}
	ADDQ(I8(64), j)
	CMPQ(j, t)
	JB(LabelRef(name + "_inner"))

	Comment("next group: skip the 2t words just done")
	LEAQ(Mem{Base: ys, Index: t, Scale: 1}, xs)
	LEAQ(Mem{Base: yd, Index: t, Scale: 1}, xd)
	ADDQ(I8(16), wp)
	CMPQ(xs, end)
	JB(LabelRef(name + "_group"))

	VZEROUPPER()
	RET()
}

// nttTail emits the three stages of distance 4, 2 and 1, on blocks of 8
// words held in two registers and shuffled between stages. Block b uses
// w4[2b], w4[2b+1] (broadcast) for distance 4 and, from tail[16b:], four
// twiddles and their Shoup constants for distance 2 (lanes x0,x1,x4,x5 against
// x2,x3,x6,x7) and for distance 1 (lanes x0,x4,x2,x6 against x1,x5,x3,x7).
// The forward tail ends the transform: its outputs are reduced to [0, q).
func nttTail(name string, inverse bool) {
	TEXT(name, NOSPLIT, "func(src, dst []uint64, w4, tail []uint64, q uint64)")
	Pragma("noescape")
	if inverse {
		doc(name + " runs the first three Gentleman-Sande stages (distances 1, 2, 4)\nover src into dst, 8 words at a time, with the twiddles laid out by\nnttTables. Values in [0, 2q), q < 2^31.")
	} else {
		doc(name + " runs the last three Cooley-Tukey stages (distances 4, 2, 1) over\nsrc into dst, 8 words at a time, with the twiddles laid out by nttTables.\nInputs in [0, 2q), outputs in [0, q), q < 2^31.")
	}
	xs := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	xd := Load(Param("dst").Base(), GP64())
	wp := Load(Param("w4").Base(), GP64())
	tp := Load(Param("tail").Base(), GP64())
	r := newRing()
	end := GP64()
	LEAQ(Mem{Base: xs, Index: n, Scale: 8}, end)

	Label(name + "_block")
	a, b := YMM(), YMM()
	VMOVDQU(Mem{Base: xs}, a)
	VMOVDQU(Mem{Base: xs, Disp: 32}, b)
	w2, w2s := Mem{Base: tp}, Mem{Base: tp, Disp: 32}
	w1, w1s := Mem{Base: tp, Disp: 64}, Mem{Base: tp, Disp: 96}
	w4, w4s := YMM(), YMM()
	VPBROADCASTQ(Mem{Base: wp}, w4)
	VPBROADCASTQ(Mem{Base: wp, Disp: 8}, w4s)

	// pairs splits (p0 p1 p2 p3 | p4 p5 p6 p7) into lanes 0,1,4,5 and 2,3,6,7;
	// halves into lanes 0..3 and 4..7 of (u, v) = (x0 x1 x4 x5, x2 x3 x6 x7);
	// odd/even interleave by 64-bit words within each 128-bit lane.
	pairs := func(u, v VecVirtual) (VecVirtual, VecVirtual) {
		lo, hi := YMM(), YMM()
		VPERM2I128(U8(0x20), v, u, lo)
		VPERM2I128(U8(0x31), v, u, hi)
		return lo, hi
	}
	unpack := func(u, v VecVirtual) (VecVirtual, VecVirtual) {
		lo, hi := YMM(), YMM()
		VPUNPCKLQDQ(v, u, lo)
		VPUNPCKHQDQ(v, u, hi)
		return lo, hi
	}

	var x, y VecVirtual
	if inverse {
		x, y = unpack(a, b) // x0 x4 x2 x6, x1 x5 x3 x7
		x, y = r.gs(x, y, w1, w1s)
		x, y = unpack(x, y) // x0..x3, x4..x7
		x, y = pairs(x, y)  // x0 x1 x4 x5, x2 x3 x6 x7
		x, y = r.gs(x, y, w2, w2s)
		x, y = pairs(x, y) // x0..x3, x4..x7
		x, y = r.gs(x, y, w4, w4s)
	} else {
		x, y = r.ct(a, b, w4, w4s)
		x, y = pairs(x, y) // x0 x1 x4 x5, x2 x3 x6 x7
		x, y = r.ct(x, y, w2, w2s)
		x, y = pairs(x, y)  // x0..x3, x4..x7
		x, y = unpack(x, y) // x0 x4 x2 x6, x1 x5 x3 x7
		x, y = r.ct(x, y, w1, w1s)
		Comment("reduce to [0, q)")
		x, y = csub(x, r.q), csub(y, r.q)
		x, y = unpack(x, y) // x0..x3, x4..x7
	}
	VMOVDQU(x, Mem{Base: xd})
	VMOVDQU(y, Mem{Base: xd, Disp: 32})

	ADDQ(I8(64), xs)
	ADDQ(I8(64), xd)
	ADDQ(I8(16), wp)
	SUBQ(I8(-128), tp)
	CMPQ(xs, end)
	JB(LabelRef(name + "_block"))

	VZEROUPPER()
	RET()
}

// gsLast emits the last inverse stage (distance len(src)/2, one group) fused
// with lattigo's final multiplication by N^-1.
func gsLast() {
	name := "gsLastAVX2"
	TEXT(name, NOSPLIT, "func(src, dst []uint64, c *[4]uint64, q uint64)")
	Pragma("noescape")
	doc(name + " runs the last Gentleman-Sande stage (distance len(src)/2, a\nmultiple of 8) and the multiplication by N^-1: (x, y) -> ((x + y)*c[2],\n(x - y)*c[0]), c[0] = w*N^-1 and c[2] = N^-1 mod q, c[1] and c[3] their\nShoup constants. Inputs in [0, 2q), outputs in [0, q), q < 2^31.")
	xs := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	xd := Load(Param("dst").Base(), GP64())
	cp := Load(Param("c"), GP64())
	r := newRing()
	w, ws, ni, nis := YMM(), YMM(), YMM(), YMM()
	VPBROADCASTQ(Mem{Base: cp}, w)
	VPBROADCASTQ(Mem{Base: cp, Disp: 8}, ws)
	VPBROADCASTQ(Mem{Base: cp, Disp: 16}, ni)
	VPBROADCASTQ(Mem{Base: cp, Disp: 24}, nis)
	SHLQ(U8(2), n) // bytes of half
	ys, yd := GP64(), GP64()
	LEAQ(Mem{Base: xs, Index: n, Scale: 1}, ys)
	LEAQ(Mem{Base: xd, Index: n, Scale: 1}, yd)
	j := GP64()
	XORQ(j, j)

	Label(name + "_loop")
	x, y := YMM(), YMM()
	VMOVDQU(Mem{Base: xs, Index: j, Scale: 1}, x)
	VMOVDQU(Mem{Base: ys, Index: j, Scale: 1}, y)
	s := YMM()
	VPADDQ(y, x, s)
	s = csub(s, r.q2)
	u := csub(r.shoup(s, ni, nis), r.q)
	v := csub(r.shoup(subMod(x, y, r.q2), w, ws), r.q)
	VMOVDQU(u, Mem{Base: xd, Index: j, Scale: 1})
	VMOVDQU(v, Mem{Base: yd, Index: j, Scale: 1})
	ADDQ(I8(32), j)
	CMPQ(j, n)
	JB(LabelRef(name + "_loop"))

	VZEROUPPER()
	RET()
}

// ciFold emits the folding stage of the conjugate-invariant NTT, the first
// forward stage or, with the multiplication by (2N)^-1, the last inverse one:
// (x_j, x_k) -> (x_j - w*x_k, x_k - w*x_j) mod 2q for 1 <= j <= N/2, k = N-j.
// Each step takes the 8 words from j up and the 8 ending at N-j, reversed in
// registers; the two runs meet at N/2, which both compute and write, the same
// value, after reading it. (Fusing the fold with the next stage, on the words
// j, N/2-j, N/2+j and N-j, saved a pass over memory but measured 2-4%
// slower: a limb is in L2 at these sizes.)
func ciFold(name string, scale bool) {
	TEXT(name, NOSPLIT, "func(src, dst []uint64, c *[4]uint64, q uint64)")
	Pragma("noescape")
	if scale {
		doc(name + " runs the last inverse stage of the conjugate-invariant NTT\nfrom src to dst (N = len(src) words, a multiple of 16, possibly the same)\nwith the multiplication by s: (x_j, x_k) -> ((x_j - w*x_k)*s, (x_k - w*x_j)*s)\nmod q, in [0, q), for 1 <= j <= N/2, k = N-j; c = (w, w', s, s'), w' and s'\nShoup constants. Inputs in [0, 2q), q < 2^31. Word 0 is not written.")
	} else {
		doc(name + " runs the first forward stage of the conjugate-invariant NTT\nfrom src to dst (N = len(src) words, a multiple of 16, possibly the same):\n(x_j, x_k) -> (x_j - w*x_k, x_k - w*x_j) mod 2q, in [0, 2q), for 1 <= j <= N/2,\nk = N-j; c = (w, w', ...), w' its Shoup constant. Inputs in [0, 2q),\nq < 2^31. Word 0 is not written.")
	}
	xs := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	xd := Load(Param("dst").Base(), GP64())
	cp := Load(Param("c"), GP64())
	r := newRing()
	w, ws := YMM(), YMM()
	VPBROADCASTQ(Mem{Base: cp}, w)
	VPBROADCASTQ(Mem{Base: cp, Disp: 8}, ws)
	var s, ss VecVirtual
	if scale {
		s, ss = YMM(), YMM()
		VPBROADCASTQ(Mem{Base: cp, Disp: 16}, s)
		VPBROADCASTQ(Mem{Base: cp, Disp: 24}, ss)
	}
	Comment("y runs down from word N-8, x up from word 1, N/16 steps")
	ys, yd := GP64(), GP64()
	LEAQ(Mem{Base: xs, Index: n, Scale: 8, Disp: -64}, ys)
	LEAQ(Mem{Base: xd, Index: n, Scale: 8, Disp: -64}, yd)
	SHRQ(U8(4), n)

	Label(name + "_loop")
	// x lanes 0..3 pair with the upper y vector reversed, lanes 4..7 with the lower.
	var x, y [2]VecVirtual
	for k := range 2 {
		x[k], y[k] = YMM(), YMM()
		VMOVDQU(Mem{Base: xs, Disp: 8 + 32*k}, x[k])
		VPERMQ(U8(0x1b), Mem{Base: ys, Disp: 32 - 32*k}, y[k])
	}
	for k := range 2 {
		tx, ty := r.shoup(x[k], w, ws), r.shoup(y[k], w, ws)
		u, v := subMod(x[k], ty, r.q2), subMod(y[k], tx, r.q2)
		if scale {
			u, v = csub(r.shoup(u, s, ss), r.q), csub(r.shoup(v, s, ss), r.q)
		}
		VPERMQ(U8(0x1b), v, v)
		VMOVDQU(u, Mem{Base: xd, Disp: 8 + 32*k})
		VMOVDQU(v, Mem{Base: yd, Disp: 32 - 32*k})
	}
	ADDQ(I8(64), xs)
	ADDQ(I8(64), xd)
	SUBQ(I8(64), ys)
	SUBQ(I8(64), yd)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	VZEROUPPER()
	RET()
}
