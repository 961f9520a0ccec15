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
	mulMontLazyIFMA("mulMontLazyIFMA", false)
	mulMontLazyIFMA("mulMontLazyThenAddLazyIFMA", true)
	nttRoutines()
	Generate()
}

const (
	modePointwise        = iota // p3 = x*y*2^-64 mod q
	modePointwiseThenAdd        // p3 = p3 + x*y*2^-64 mod q
	modeScalarThenAdd           // p2 = p2 + x*scalar*2^-64 mod q
)

// mulMontIFMA emits one loop of lattigo's Montgomery product x*y*2^-64 mod q,
// 32 lanes per iteration with AVX-512 IFMA, for q < 2^50 and x, y < 2q.
//
// IFMA multiplies 52-bit words, so the reduction by 2^64 is done in two
// Montgomery steps, by 2^52 and then by 2^12, in signed form:
//
//	x*y = hi*2^52 + lo                    (VPMADD52HUQ, VPMADD52LUQ)
//	m   = lo*q^-1 mod 2^52                so m*q = t*2^52 + lo exactly
//	u   = hi - t = (x*y - m*q)/2^52       in (-q, q): hi < q and t < q
//	m2  = -u*q^-1 mod 2^12                (u*qInv*2^52 mod 2^64) >> 52, VPMULLQ
//	v   = (u + m2*q) >> 12 (arithmetic)   in (-q/2^12, q); m2*q < 2^62, VPMULLQ
//	r   = v + q if v < 0 else v           = x*y*2^-64 mod q in [0, q)
//
// hi < q because x*y < 4q^2 < q*2^52; so r is fully reduced, the one word
// lattigo's MRed returns. Six multiplies per vector (IFMA and VPMULLQ share
// the multiply pipes), the bound on the loop's speed once the data is in L2;
// the low words cancel exactly, so no carry is needed. With a scalar,
// the loop takes it out of Montgomery form once (its product with 1) and
// multiplies by it in Shoup form, three multiplies per vector. The loop runs
// over the first len(p1)&^7 words and returns how many it did: it stops
// early, before writing anything for that vector, at the first vector with an
// input of 2q or more, which the Go side finishes with the generic code.
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
	var scalar VecVirtual
	if mode == modeScalarThenAdd {
		scalar = ZMM()
		VPBROADCASTQ(Load(Param("scalar"), GP64()), scalar)
		zp = Load(Param("p2").Base(), GP64())
	} else {
		yp = Load(Param("p2").Base(), GP64())
		zp = Load(Param("p3").Base(), GP64())
	}

	Comment("constants: q, 2q, q^-1 mod 2^52, -q^-1 mod 2^12 in the top 12 bits")
	qg := Load(Param("q"), GP64())
	q := ZMM()
	VPBROADCASTQ(qg, q)
	twoQ := ZMM()
	VPADDQ(q, q, twoQ)
	qInvG := Load(Param("qInv"), GP64())
	qInvTop := ZMM() // VPMULLQ by it leaves (x*qInv mod 2^12) in the top bits
	g := GP64()
	MOVQ(qInvG, g)
	SHLQ(U8(52), g)
	VPBROADCASTQ(g, qInvTop)
	NEGQ(qInvG) // IFMA reads the low 52 bits: q^-1 mod 2^52
	qInvPos := ZMM()
	VPBROADCASTQ(qInvG, qInvPos)

	ANDQ(I8(-8), n)
	last := GP64() // the loop of 4 vectors runs while i <= n-32
	MOVQ(n, last)
	SUBQ(I8(32), last)
	i := GP64()
	XORQ(i, i)

	// mont returns x*y*2^-64 mod q in [0, q), overwriting x.
	mont := func(x, y VecVirtual) VecVirtual {
		lo, hi, m := ZMM(), ZMM(), ZMM()
		VPXORQ(lo, lo, lo)
		VPXORQ(hi, hi, hi)
		VPMADD52LUQ(y, x, lo)
		VPMADD52HUQ(y, x, hi)
		VPXORQ(m, m, m)
		VPMADD52LUQ(qInvPos, lo, m)
		t := x
		VPXORQ(t, t, t)
		VPMADD52HUQ(q, m, t)
		VPSUBQ(t, hi, hi) // u
		VPMULLQ(qInvTop, hi, m)
		VPSRLQ(U8(52), m, m)
		VPMULLQ(q, m, m)
		VPADDQ(m, hi, hi)
		VPSRAQ(U8(12), hi, hi) // v
		VPADDQ(q, hi, t)
		VPMINUQ(t, hi, hi) // v + q is below v as unsigned words only when v < 0
		return hi
	}
	mul := mont
	if mode == modeScalarThenAdd {
		Comment("Shoup form: s = scalar*2^-64 mod q (the product with 1), sh = floor(s*2^52/q)")
		one := ZMM()
		MOVQ(U32(1), g)
		VPBROADCASTQ(g, one)
		sv := mont(scalar, one)
		VMOVQ(sv.AsX(), g)
		MOVQ(g, RDX)
		SHRQ(U8(12), RDX)
		MOVQ(g, RAX)
		SHLQ(U8(52), RAX)
		DIVQ(qg) // s < q, so the quotient fits
		sh := ZMM()
		VPBROADCASTQ(RAX, sh)
		negQ := ZMM() // 2^52 - q: IFMA adds, and -q*qt = (2^52-q)*qt mod 2^52
		MOVQ(U64(1<<52), g)
		SUBQ(qg, g)
		VPBROADCASTQ(g, negQ)
		mask52 := ZMM()
		MOVQ(U64(1<<52-1), g)
		VPBROADCASTQ(g, mask52)
		// x*s mod q in [0, q) for x < 2^52: x*s - qt*q is in [0, 2q) with
		// qt = floor(x*sh/2^52), so its low 52 bits are all of it.
		mul = func(x, _ VecVirtual) VecVirtual {
			qt, r := ZMM(), ZMM()
			VPXORQ(qt, qt, qt)
			VPMADD52HUQ(sh, x, qt)
			VPXORQ(r, r, r)
			VPMADD52LUQ(sv, x, r)
			VPMADD52LUQ(negQ, qt, r)
			VPANDQ(mask52, r, r)
			VPSUBQ(q, r, x)
			VPMINUQ(x, r, r)
			return r
		}
	}
	// finish stores r, first adding it to the output word mod q (lattigo's
	// CRed) in the ThenAdd modes.
	finish := func(r VecVirtual, out Mem) {
		if mode != modePointwise {
			z, t := ZMM(), ZMM()
			VMOVDQU64(out, z)
			VPADDQ(r, z, z)
			VPSUBQ(q, z, t)
			VPMINUQ(t, z, r)
		}
		VMOVDQU64(r, out)
	}
	load := func(u int) (x, y VecVirtual) {
		x = ZMM()
		VMOVDQU64(Mem{Base: xp, Index: i, Scale: 8, Disp: 64 * u}, x)
		if mode == modeScalarThenAdd {
			return x, scalar
		}
		y = ZMM()
		VMOVDQU64(Mem{Base: yp, Index: i, Scale: 8, Disp: 64 * u}, y)
		return x, y
	}

	Comment("4 vectors per iteration, their inputs checked against 2q at once;")
	Comment("a block that fails goes one vector at a time, to stop at the right one")
	Label(name + "_loop4")
	CMPQ(i, last)
	JG(LabelRef(name + "_loop1"))
	var xs, ys [4]VecVirtual
	for u := range 4 {
		xs[u], ys[u] = load(u)
	}
	big := ZMM()
	VPMAXUQ(xs[1], xs[0], big)
	VPMAXUQ(xs[2], big, big)
	VPMAXUQ(xs[3], big, big)
	if mode != modeScalarThenAdd {
		for _, y := range ys {
			VPMAXUQ(y, big, big)
		}
	}
	VPCMPUQ(U8(5), twoQ, big, K1) // K1 = big >= 2q (predicate NLT)
	KORTESTW(K1, K1)              // VPCMPUQ zeroes the mask's upper bits
	JNZ(LabelRef(name + "_loop1"))
	var rs [4]VecVirtual
	for u := range 4 {
		rs[u] = mul(xs[u], ys[u])
	}
	for u := range 4 {
		finish(rs[u], Mem{Base: zp, Index: i, Scale: 8, Disp: 64 * u})
	}
	ADDQ(I8(32), i)
	JMP(LabelRef(name + "_loop4"))

	Label(name + "_loop1")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	x, y := load(0)
	big = x
	if mode != modeScalarThenAdd {
		big = ZMM()
		VPMAXUQ(y, x, big)
	}
	VPCMPUQ(U8(5), twoQ, big, K1)
	KORTESTW(K1, K1)
	JNZ(LabelRef(name + "_done"))
	finish(mul(x, y), Mem{Base: zp, Index: i, Scale: 8})
	ADDQ(I8(8), i)
	JMP(LabelRef(name + "_loop4"))

	Label(name + "_done")
	Store(i, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
