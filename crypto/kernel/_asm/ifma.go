// Command _asm generates crypto/kernel's amd64 assembly with avo.
//
// Run from crypto/kernel: go generate (see gen.go there), which runs
//
//	cd _asm && go run . -out ../ifma_amd64.s -stubs ../ifma_stub_amd64.go -pkg kernel
//
// The output is committed; TestGeneratedAssembly checks that it is what this
// program prints.
package main

import (
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!purego")
	mulMontIFMA("mulMontIFMA", modePointwise)
	mulMontIFMA("mulMontThenAddIFMA", modePointwiseThenAdd)
	mulMontIFMA("mulScalarMontThenAddIFMA", modeScalarThenAdd)
	nttRoutines()
	Generate()
}

const (
	modePointwise        = iota // p3 = x*y*2^-64 mod q
	modePointwiseThenAdd        // p3 = p3 + x*y*2^-64 mod q
	modeScalarThenAdd           // p2 = p2 + x*scalar*2^-64 mod q
)

// mulMontIFMA emits one loop of lattigo's Montgomery product x*y*2^-64 mod q,
// eight lanes at a time with AVX-512 IFMA, for q < 2^50 and x, y < 2q.
//
// IFMA multiplies 52-bit words, so the reduction by 2^64 is done in two
// Montgomery steps, by 2^52 and then by 2^12, with qInv = -q^-1 mod 2^52:
//
//	x*y = hi*2^52 + lo                    (VPMADD52HUQ, VPMADD52LUQ)
//	m   = lo*qInv mod 2^52                lo + (m*q mod 2^52) is 0 or 2^52
//	u   = hi + [lo != 0] + (m*q >> 52)    = (x*y + m*q)/2^52 < 2q
//	m2  = u*qInv mod 2^12
//	v   = (u + m2*q)/2^12                 < q + q/2^11 < 2q
//	r   = v - q if v >= q else v          = x*y*2^-64 mod q in [0, q)
//
// u < 2q because x*y < 4q^2 < q*2^52; so r is fully reduced, the one word
// lattigo's MRed returns. The loop runs over the first len(p1)&^7 words and
// returns how many it did: it stops early, before writing anything for that
// vector, at the first vector with an input of 2q or more, which the Go side
// finishes with the generic code.
func mulMontIFMA(name string, mode int) {
	doc := func(text string) { Doc(strings.Split(text, "\n")...) }
	switch mode {
	case modeScalarThenAdd:
		TEXT(name, NOSPLIT, "func(p1 []uint64, scalar uint64, p2 []uint64, q, qInv uint64) int")
	default:
		TEXT(name, NOSPLIT, "func(p1, p2, p3 []uint64, q, qInv uint64) int")
	}
	Pragma("noescape")
	switch mode {
	case modePointwise:
		doc(name + " sets p3[i] = p1[i]*p2[i]*2^-64 mod q (lattigo's MRed) for the first\nvectors of 8 whose inputs are below 2q, and returns how many words it did.\nq < 2^50, qInv = -q^-1 mod 2^52.")
	case modePointwiseThenAdd:
		doc(name + " sets p3[i] = p3[i] + p1[i]*p2[i]*2^-64 mod q (lattigo's\nMulCoeffsMontgomeryThenAdd) for the first vectors of 8 whose inputs are\nbelow 2q, and returns how many words it did. q < 2^50, qInv = -q^-1 mod 2^52.")
	case modeScalarThenAdd:
		doc(name + " sets p2[i] = p2[i] + p1[i]*scalar*2^-64 mod q (lattigo's\nMulScalarMontgomeryThenAdd) for the first vectors of 8 whose inputs are\nbelow 2q, and returns how many words it did. q < 2^50, scalar < 2q,\nqInv = -q^-1 mod 2^52.")
	}

	xp := Load(Param("p1").Base(), GP64())
	n := Load(Param("p1").Len(), GP64())
	var yp, zp Register
	y := ZMM()
	if mode == modeScalarThenAdd {
		s := Load(Param("scalar"), GP64())
		VPBROADCASTQ(s, y)
		zp = Load(Param("p2").Base(), GP64())
	} else {
		yp = Load(Param("p2").Base(), GP64())
		zp = Load(Param("p3").Base(), GP64())
	}

	Comment("constants: q, 2q, qInv, 2^12-1")
	qg := Load(Param("q"), GP64())
	q := ZMM()
	VPBROADCASTQ(qg, q)
	twoQ := ZMM()
	VPADDQ(q, q, twoQ)
	qInv := ZMM()
	VPBROADCASTQ(Load(Param("qInv"), GP64()), qInv)
	mask12 := ZMM()
	m12 := GP64()
	MOVQ(U32(1<<12-1), m12)
	VPBROADCASTQ(m12, mask12)

	ANDQ(I8(-8), n)
	i := GP64()
	XORQ(i, i)

	Label(name + "_loop")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))

	x := ZMM()
	VMOVDQU64(Mem{Base: xp, Index: i, Scale: 8}, x)
	if mode != modeScalarThenAdd {
		VMOVDQU64(Mem{Base: yp, Index: i, Scale: 8}, y)
	}

	Comment("stop at a vector with an input of 2q or more")
	big := x
	if mode != modeScalarThenAdd {
		big = ZMM()
		VPMAXUQ(y, x, big)
	}
	VPCMPUQ(U8(5), twoQ, big, K1) // K1 = big >= 2q (predicate NLT)
	KORTESTW(K1, K1)              // VPCMPUQ zeroes the mask's upper bits
	JNZ(LabelRef(name + "_done"))

	Comment("x*y = hi*2^52 + lo")
	lo, hi := ZMM(), ZMM()
	VPXORQ(lo, lo, lo)
	VPXORQ(hi, hi, hi)
	VPMADD52LUQ(y, x, lo)
	VPMADD52HUQ(y, x, hi)

	Comment("m = lo*qInv mod 2^52; u = (x*y + m*q)/2^52")
	m := ZMM()
	VPXORQ(m, m, m)
	VPMADD52LUQ(qInv, lo, m)
	VPMADD52LUQ(q, m, lo) // lo + (m*q mod 2^52): 0 or 2^52
	VPSRLQ(U8(52), lo, lo)
	VPADDQ(lo, hi, hi)
	VPMADD52HUQ(q, m, hi) // u

	Comment("m2 = u*qInv mod 2^12; v = (u + m2*q)/2^12")
	m2, mh := ZMM(), ZMM()
	VPXORQ(m2, m2, m2)
	VPMADD52LUQ(qInv, hi, m2)
	VPANDQ(mask12, m2, m2)
	VPXORQ(mh, mh, mh)
	VPMADD52HUQ(q, m2, mh)
	VPMADD52LUQ(q, m2, hi) // u + (m2*q mod 2^52), a multiple of 2^12
	VPSRLQ(U8(12), hi, hi)
	VPSLLQ(U8(40), mh, mh)
	VPADDQ(mh, hi, hi) // v < 2q

	Comment("r = v mod q: min(v, v-q) as unsigned words")
	t := ZMM()
	VPSUBQ(q, hi, t)
	VPMINUQ(t, hi, hi)

	out := Mem{Base: zp, Index: i, Scale: 8}
	if mode != modePointwise {
		Comment("z = z + r mod q, as lattigo's CRed")
		z := ZMM()
		VMOVDQU64(out, z)
		VPADDQ(hi, z, z)
		VPSUBQ(q, z, t)
		VPMINUQ(t, z, hi)
	}
	VMOVDQU64(hi, out)

	ADDQ(I8(8), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	Store(i, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
