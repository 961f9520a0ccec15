package main

import (
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// mulMontLazyIFMA emits one loop of lattigo's lazy Montgomery product
// (MRedLazy: hi - H + q, the one word in (0, 2q) that its 64-bit computation
// gives), eight lanes at a time, for q < 2^50 and x, y < 2q; with thenAdd it
// adds that word to p3 without reduction, as
// MulCoeffsMontgomeryLazyThenAddLazy.
//
// lattigo computes T = x*y = hi*2^64 + lo, m = lo*q^-1 mod 2^64 and
// H = floor(m*q/2^64); as m*q and T agree in their low 64 bits,
// hi - H + q = (T - m*q)/2^64 + q exactly. With 52-bit multiplies:
//
//	lo  = x*y mod 2^64, m = lo*q^-1 mod 2^64        (VPMULLQ, VPMULLQ)
//	TH  = floor(T/2^52)                             (VPMADD52HUQ; T < 2^102)
//	S   = floor(ml*q/2^52) + mh*q                   m = mh*2^52 + ml, so m*q = S*2^52 + (ml*q mod 2^52)
//	T - m*q = (TH - S)*2^52                         (their low 52 bits cancel)
//	r   = ((TH - S) >> 12 arithmetic) + q           = (T - m*q)/2^64 + q, exact
//
// The loop runs over the first len(p1)&^7 words and returns how many it did,
// stopping before a vector with an input of 2q or more, which the Go side
// finishes with the generic code.
func mulMontLazyIFMA(name string, thenAdd bool) {
	TEXT(name, NOSPLIT, "func(p1, p2, p3 []uint64, q, mrc uint64) int")
	Pragma("noescape")
	what := "p3[i] = "
	if thenAdd {
		what = "p3[i] += "
	}
	Doc(strings.Split(name+" sets "+what+"lattigo's MRedLazy(p1[i], p2[i]) for the first vectors of 8\nwhose inputs are below 2q, and returns how many words it did. q < 2^50,\nmrc = q^-1 mod 2^64 (lattigo's MRedConstant).", "\n")...)

	xp := Load(Param("p1").Base(), GP64())
	n := Load(Param("p1").Len(), GP64())
	yp := Load(Param("p2").Base(), GP64())
	zp := Load(Param("p3").Base(), GP64())

	Comment("constants: q, 2q, q^-1 mod 2^64, 2^52-1")
	q, twoQ, mrc, mask := ZMM(), ZMM(), ZMM(), ZMM()
	VPBROADCASTQ(Load(Param("q"), GP64()), q)
	VPADDQ(q, q, twoQ)
	VPBROADCASTQ(Load(Param("mrc"), GP64()), mrc)
	g := GP64()
	MOVQ(U64(1<<52-1), g)
	VPBROADCASTQ(g, mask)

	ANDQ(I8(-8), n)
	i := GP64()
	XORQ(i, i)

	Label(name + "_loop")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	x, y := ZMM(), ZMM()
	VMOVDQU64(Mem{Base: xp, Index: i, Scale: 8}, x)
	VMOVDQU64(Mem{Base: yp, Index: i, Scale: 8}, y)

	Comment("stop at a vector with an input of 2q or more")
	big := ZMM()
	VPMAXUQ(y, x, big)
	VPCMPUQ(U8(5), twoQ, big, K1) // K1 = big >= 2q
	KORTESTW(K1, K1)
	JNZ(LabelRef(name + "_done"))

	Comment("m = (x*y mod 2^64)*q^-1 mod 2^64, split at bit 52")
	m, ml, s, th := ZMM(), ZMM(), ZMM(), ZMM()
	VPMULLQ(y, x, m)
	VPMULLQ(mrc, m, m)
	VPANDQ(mask, m, ml)
	VPSRLQ(U8(52), m, m)
	Comment("S = mh*q + floor(ml*q/2^52); TH = floor(x*y/2^52)")
	VPMULLQ(q, m, s)
	VPMADD52HUQ(q, ml, s)
	VPXORQ(th, th, th)
	VPMADD52HUQ(y, x, th)
	Comment("r = (TH - S) >> 12 (arithmetic) + q")
	VPSUBQ(s, th, th)
	VPSRAQ(U8(12), th, th)
	VPADDQ(q, th, th)

	out := Mem{Base: zp, Index: i, Scale: 8}
	if thenAdd {
		z := ZMM()
		VMOVDQU64(out, z)
		VPADDQ(z, th, th)
	}
	VMOVDQU64(th, out)
	ADDQ(I8(8), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	Store(i, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
