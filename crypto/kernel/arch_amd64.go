//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

// archImpls returns the assembly variants built for amd64, in increasing
// order of preference. Each one reports from golang.org/x/sys/cpu whether this
// CPU (and OS) can run it.
func archImpls() []*Impl {
	return []*Impl{avx2Impl, avx512Impl}
}

// avx512Impl is the AVX-512 variant. It accelerates, with IFMA (52-bit
// multiply-add) and for moduli below 2^50, the NTT and INTT of both ring types
// for N >= 16 (ntt_amd64.go) and the Montgomery products whose result is fully
// reduced (MulCoeffsMontgomery, MulCoeffsMontgomeryThenAdd,
// MulScalarMontgomeryThenAdd) and the lazy ones (lazy.go in _asm); with AVX-512F/DQ, Add, Sub, Neg and Reduce for
// every modulus (avx512ops_amd64.go); everything else is the generic code.
var avx512Impl = &Impl{
	name:      AVX512,
	supported: func() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512IFMA },
	f: preferAVX2Below31(func() funcs { // for q < 2^31, see preferAVX2Below31
		f := genericFuncs
		f.mulMont = mulLoop(ifmaMaxModulus, 8, withIFMAQInv(mulMontIFMA), mulMontGeneric)
		f.mulMontThenAdd = mulLoop(ifmaMaxModulus, 8, withIFMAQInv(mulMontThenAddIFMA), mulMontThenAddGeneric)
		f.mulMontLazy = mulLoop(ifmaMaxModulus, 8, mulMontLazyIFMA, mulMontLazyGeneric)
		f.mulMontLazyThenAddLazy = mulLoop(ifmaMaxModulus, 8, mulMontLazyThenAddLazyIFMA, mulMontLazyThenAddLazyGeneric)
		f.mulScalarMontThenAdd = mulScalarMontThenAddAVX512
		f.add = addAVX512
		f.sub = subAVX512
		f.neg = negAVX512
		f.reduce = reduceAVX512
		f.sampleCDT = sampleCDTAVX512
		f.ntt, f.intt = nttAVX512, inttAVX512
		f.nttCI, f.inttCI = nttCIAVX512, inttCIAVX512
		return f
	}()),
}

// ifmaMaxModulus bounds the moduli of the IFMA path: q < 2^50 keeps x*y < 4q^2
// below q*2^52 for inputs below 2q, which is what makes its Montgomery steps
// by 2^52 and 2^12 end fully reduced (see _asm/ifma.go).
const ifmaMaxModulus = 1 << 50

// ifmaQInv returns -q^-1 mod 2^52 from lattigo's MRedConstant q^-1 mod 2^64.
func ifmaQInv(mrc uint64) uint64 { return -mrc & (1<<52 - 1) }

// withIFMAQInv adapts the IFMA loops that take -q^-1 mod 2^52 to lattigo's
// MRedConstant.
func withIFMAQInv(loop func(p1, p2, p3 []uint64, q, qInv uint64) int) func(p1, p2, p3 []uint64, q, mrc uint64) int {
	return func(p1, p2, p3 []uint64, q, mrc uint64) int { return loop(p1, p2, p3, q, ifmaQInv(mrc)) }
}

// mulLoop makes a pointwise Montgomery operation of an assembly loop: the loop
// runs over the vectors it accepts and the generic code over the rest (the
// tail, and a vector with an input above the loop's bound, which lattigo's
// x*y < q*2^64 allows), resume words at a time before the loop is tried again,
// so that mostly large inputs cost one refused call per resume words; moduli
// of maxQ or more go to the generic code whole.
func mulLoop(maxQ uint64, resume int, loop func(p1, p2, p3 []uint64, q, mrc uint64) int, generic func(p1, p2, p3 []uint64, q, mrc uint64)) func(p1, p2, p3 []uint64, q, mrc uint64) {
	return func(p1, p2, p3 []uint64, q, mrc uint64) {
		if q >= maxQ {
			generic(p1, p2, p3, q, mrc)
			return
		}
		n := len(p1)
		p2, p3 = p2[:n], p3[:n]
		for i := 0; i < n; {
			i += loop(p1[i:], p2[i:], p3[i:], q, mrc)
			if i < n {
				j := min(i+resume, n)
				generic(p1[i:j], p2[i:j], p3[i:j], q, mrc)
				i = j
			}
		}
	}
}

func mulScalarMontThenAddAVX512(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64) {
	if q >= ifmaMaxModulus || scalar >= 2*q {
		mulScalarMontThenAddGeneric(p1, scalar, p2, q, mrc)
		return
	}
	n := len(p1)
	p2 = p2[:n]
	qInv := ifmaQInv(mrc)
	for i := 0; i < n; {
		i += mulScalarMontThenAddIFMA(p1[i:], scalar, p2[i:], q, qInv)
		if i < n {
			j := min(i+8, n)
			mulScalarMontThenAddGeneric(p1[i:j], scalar, p2[i:j], q, mrc)
			i = j
		}
	}
}
