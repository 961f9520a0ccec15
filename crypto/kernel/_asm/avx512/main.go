// Command avx512 generates crypto/kernel's AVX-512 Add, Sub, Neg and Reduce
// loops and its table sampler (SampleCDT) with avo.
//
// Run from crypto/kernel: go generate (see gen.go there), which runs
//
//	cd _asm && go run ./avx512 -out ../avx512_amd64.s -stubs ../avx512_stub_amd64.go -pkg kernel
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

	loop("addZMM", "func(p1, p2, p3 []uint64, q uint64)",
		"addZMM sets p3[i] = p1[i] + p2[i], less q if that is at least q, for the\nfirst len(p1)&^7 words: lattigo's Add, equal to it for every input word.",
		[]string{"p1", "p2"}, "p3", []string{"q"},
		func(in, c []VecVirtual) VecVirtual {
			x, y, q := in[0], in[1], c[0]
			VPADDQ(y, x, x)
			return cred(x, q)
		})

	loop("subZMM", "func(p1, p2, p3 []uint64, q uint64)",
		"subZMM sets p3[i] = p1[i] + q - p2[i], less q if that is at least q, for\nthe first len(p1)&^7 words: lattigo's Sub, equal to it for every input word.",
		[]string{"p1", "p2"}, "p3", []string{"q"},
		func(in, c []VecVirtual) VecVirtual {
			x, y, q := in[0], in[1], c[0]
			VPADDQ(q, x, x)
			VPSUBQ(y, x, x)
			return cred(x, q)
		})

	loop("negZMM", "func(p1, p2 []uint64, q uint64)",
		"negZMM sets p2[i] = q - p1[i] for the first len(p1)&^7 words: lattigo's\nNeg, equal to it for every input word.",
		[]string{"p1"}, "p2", []string{"q"},
		func(in, c []VecVirtual) VecVirtual {
			x, q := in[0], c[0]
			VPSUBQ(x, q, x)
			return x
		})

	loop("reduceZMM", "func(p1, p2 []uint64, q, qInvF uint64)",
		"reduceZMM sets p2[i] = p1[i] mod q for the first len(p1)&^7 words, any\n64-bit p1[i], for 2^20 <= q < 2^62. qInvF holds the bits of a float64\nbelow 1/q by a relative 2^-48 (see reduceQInvF).",
		[]string{"p1"}, "p2", []string{"q", "qInvF"},
		reduceVec)

	cdt()

	Generate()
}

// cdt writes cdtZMM, SampleCDT's loop: each table entry is broadcast from
// memory into one compare per vector (mask = m >= c) and a masked add of
// one; the sign is applied as (a ^ s) - s with s = r >> 63 arithmetic. Four
// vectors per iteration share each entry's load.
func cdt() {
	const name = "cdtZMM"
	TEXT(name, NOSPLIT, "func(table, r []uint64, x []int64)")
	Pragma("noescape")
	Doc(name+" sets x[i] = ±#{k : r[i] mod 2^63 >= table[k]}, negative when r[i]'s",
		"top bit is set, for the first len(r)&^7 words; table entries in [1, 2^63).",
		"No branch or address depends on r.")
	tab := Load(Param("table").Base(), GP64())
	nt := Load(Param("table").Len(), GP64())
	rp := Load(Param("r").Base(), GP64())
	n := Load(Param("r").Len(), GP64())
	xp := Load(Param("x").Base(), GP64())
	low, ones := ZMM(), ZMM()
	t := GP64()
	MOVQ(U64(1<<63-1), t)
	VPBROADCASTQ(t, low)
	MOVQ(U64(1), t)
	VPBROADCASTQ(t, ones)
	n32 := GP64()
	MOVQ(n, n32)
	ANDQ(I32(-32), n32)
	ANDQ(I8(-8), n)
	i := GP64()
	XORQ(i, i)

	block := func(label string, vectors int, limit Register) {
		Label(label)
		CMPQ(i, limit)
		JAE(LabelRef(label + "_end"))
		masks := []Register{K1, K2, K3, K4}
		r, m, a := make([]VecVirtual, vectors), make([]VecVirtual, vectors), make([]VecVirtual, vectors)
		for u := range vectors {
			r[u], m[u], a[u] = ZMM(), ZMM(), ZMM()
			VMOVDQU64(Mem{Base: rp, Index: i, Scale: 8, Disp: 64 * u}, r[u])
			VPANDQ(low, r[u], m[u])
			VPXORQ(a[u], a[u], a[u])
		}
		k := GP64()
		XORQ(k, k)
		Label(label + "_table")
		CMPQ(k, nt)
		JAE(LabelRef(label + "_sign"))
		for u := range vectors {
			VPCMPQ_BCST(U8(5), Mem{Base: tab, Index: k, Scale: 8}, m[u], masks[u]) // m >= c (NLT)
		}
		for u := range vectors {
			VPADDQ(ones, a[u], masks[u], a[u])
		}
		INCQ(k)
		JMP(LabelRef(label + "_table"))
		Label(label + "_sign")
		for u := range vectors {
			VPSRAQ(U8(63), r[u], r[u])
			VPXORQ(r[u], a[u], a[u])
			VPSUBQ(r[u], a[u], a[u])
			VMOVDQU64(a[u], Mem{Base: xp, Index: i, Scale: 8, Disp: 64 * u})
		}
		ADDQ(U8(8*vectors), i)
		JMP(LabelRef(label))
		Label(label + "_end")
	}
	block(name+"_loop4", 4, n32)
	block(name+"_loop1", 1, n)
	VZEROUPPER()
	RET()
}

// cred returns min(x, x-q) as unsigned words: x-q if x >= q, else x (x-q
// wraps above x). It is lattigo's CRed for every 64-bit x.
func cred(x, q VecVirtual) VecVirtual {
	t := ZMM()
	VPSUBQ(q, x, t)
	VPMINUQ(t, x, x)
	return x
}

// reduceVec computes a mod q with a quotient estimated in double precision:
//
//	e = float(a) * qInvF          a/q - 1 < e <= a/q
//	m = trunc(e)                  floor(a/q) - 1 <= m <= floor(a/q)
//	r = a - m*q (mod 2^64)        in [0, 2q), exact
//	r = min(r, r - q)             in [0, q)
//
// qInvF is 1/q lowered by a relative 2^-48: the five roundings, of 2^-53 each
// (three computing qInvF, then float(a) and the product), raise it by less,
// so e is at most a/q and more than (a/q)*(1 - 2^-47) > a/q - 2^17/q, which is
// above a/q - 1 for q >= 2^20. (AVX-512 has no 64x64 high multiply, which
// lattigo's Barrett reduction needs.)
func reduceVec(in, c []VecVirtual) VecVirtual {
	a, q, qInvF := in[0], c[0], c[1]
	e := ZMM()
	VCVTUQQ2PD(a, e)
	VMULPD(qInvF, e, e)
	VCVTTPD2UQQ(e, e)
	VPMULLQ(q, e, e)
	VPSUBQ(e, a, a)
	return cred(a, q)
}

// loop emits a function that applies body to the first len(first input)&^7
// words of its inputs, 32 words per iteration and then 8, and stores the
// results to out. consts are uint64 parameters broadcast to every lane. body
// may overwrite its inputs' registers.
func loop(name, sig, doc string, ins []string, out string, consts []string, body func(in, c []VecVirtual) VecVirtual) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(strings.Split(doc, "\n")...)

	n := Load(Param(ins[0]).Len(), GP64())
	var inp []Register
	for _, p := range ins {
		inp = append(inp, Load(Param(p).Base(), GP64()))
	}
	outp := Load(Param(out).Base(), GP64())
	var c []VecVirtual
	for _, p := range consts {
		v := ZMM()
		VPBROADCASTQ(Load(Param(p), GP64()), v)
		c = append(c, v)
	}

	const unroll = 4
	i := GP64()
	XORQ(i, i)
	n32 := GP64()
	MOVQ(n, n32)
	ANDQ(I32(-8*unroll), n32)
	ANDQ(I8(-8), n)

	Comment("32 words per iteration: independent vectors hide the latencies")
	Label(name + "_loop4")
	CMPQ(i, n32)
	JAE(LabelRef(name + "_loop1"))
	var vs [unroll][]VecVirtual
	for u := range unroll {
		for _, p := range inp {
			v := ZMM()
			VMOVDQU64(Mem{Base: p, Index: i, Scale: 8, Disp: 64 * u}, v)
			vs[u] = append(vs[u], v)
		}
	}
	var rs [unroll]VecVirtual
	for u := range unroll {
		rs[u] = body(vs[u], c)
	}
	for u := range unroll {
		VMOVDQU64(rs[u], Mem{Base: outp, Index: i, Scale: 8, Disp: 64 * u})
	}
	ADDQ(I8(8*unroll), i)
	JMP(LabelRef(name + "_loop4"))

	Label(name + "_loop1")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	var v1 []VecVirtual
	for _, p := range inp {
		v := ZMM()
		VMOVDQU64(Mem{Base: p, Index: i, Scale: 8}, v)
		v1 = append(v1, v)
	}
	VMOVDQU64(body(v1, c), Mem{Base: outp, Index: i, Scale: 8})
	ADDQ(I8(8), i)
	JMP(LabelRef(name + "_loop1"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}
