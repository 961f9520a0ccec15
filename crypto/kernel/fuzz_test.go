package kernel

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// FuzzKernels runs one operation on one limb with lattigo and with every
// variant this machine can run, and requires the same words. The fuzzer picks
// the operation, the degree (2^3..2^10; logN's top bit picks a
// conjugate-invariant ring), the modulus size (30..61 bits) and
// the coefficients: data gives them 8 bytes each, folded into the operation's
// accepted input range (so 0xff.. bytes reach q-1, 2q-1 and the like), and
// seed fills what data does not cover. The seed corpus is in
// testdata/fuzz/FuzzKernels; run it longer with
//
//	go test ./crypto/kernel -run '^$' -fuzz FuzzKernels -fuzztime 60s
func FuzzKernels(f *testing.F) {
	f.Add(uint8(0), uint8(7), uint8(20), uint64(1), []byte{})
	f.Add(uint8(3), uint8(3), uint8(31), uint64(2), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(0), uint8(0x80+4), uint8(19), uint64(3), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(2), uint8(0x80+7), uint8(20), uint64(4), []byte{})
	// every operation with 30- and 31-bit primes (the avx2 range), N = 2^4 and
	// 2^7, the first words at the top of their range
	for i := range ops {
		for qBits := range uint8(2) {
			f.Add(uint8(i), 1+3*qBits, qBits, uint64(i), bytes.Repeat([]byte{0xff}, 8*int(5+qBits)))
		}
	}
	impls := allImpls(f)
	f.Fuzz(func(t *testing.T, opIndex, logN, qBits uint8, seed uint64, data []byte) {
		o := ops[int(opIndex)%len(ops)]
		ln := 3 + int(logN)%8
		bitSize := 30 + int(qBits)%32
		typ := ring.Standard
		if logN&0x80 != 0 {
			typ = ring.ConjugateInvariant
		}
		r := testRingOf(t, typ, ln, []int{bitSize})
		s := r.SubRings[0]
		q := s.Modulus
		rng := rand.New(rand.NewPCG(seed, uint64(opIndex)))
		vs := [][]uint64{make([]uint64, s.N), make([]uint64, s.N), make([]uint64, s.N)}
		for k, v := range vs {
			d := dReduced
			if k < len(o.in) {
				d = o.in[k]
			}
			for i := range v {
				if len(data) >= 8 {
					v[i] = fold(binary.LittleEndian.Uint64(data), d, q)
					data = data[8:]
				} else {
					v[i] = d.random(rng, q)
				}
			}
		}
		checkOp(t, o, s, vs[0], vs[1], vs[2], impls)
	})
}

// fold maps a word into d's range, keeping the top of the range reachable:
// x mod (bound) where bound is the size of d.
func fold(x uint64, d domain, q uint64) uint64 {
	switch d {
	case dReduced:
		return x % q
	case dNegIn:
		return x % (q + 1)
	case dLazy2Q:
		return x % (2 * q)
	case dAccum:
		return x >> 2
	default:
		return x
	}
}
