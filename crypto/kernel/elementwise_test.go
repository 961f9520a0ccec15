package kernel

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestReduceAroundMultiples checks every variant's Reduce against lattigo's
// BRedAdd on the words where a quotient estimate goes wrong first: k*q-2 ..
// k*q+2 for k from 0 to the largest multiple below 2^64, the top words of
// 2^64 and powers of two, for odd moduli of every size from 2^15 to 2^62
// (primes and not), on a length that is not a multiple of 8.
func TestReduceAroundMultiples(t *testing.T) {
	t.Parallel()
	impls := allImpls(t)
	rng := rand.New(rand.NewPCG(5, 6))
	var moduli []uint64
	for b := 15; b <= 62; b++ {
		moduli = append(moduli, 1<<b+1, 1<<(b+1)-1, (1<<b+rng.Uint64N(1<<b))|1)
	}
	for _, b := range []int{30, 40, 49, 50, 51, 55, 61} {
		moduli = append(moduli, testRing(t, 10, []int{b}).SubRings[0].Modulus)
	}
	for _, q := range moduli {
		s, err := ring.NewSubRing(8, q)
		if err != nil {
			t.Fatal(err)
		}
		var a []uint64
		top := math.MaxUint64 / q
		for _, k := range []uint64{0, 1, 2, 3, top, top - 1, top / 2, top / 3, 1 << 20, rng.Uint64N(top)} {
			for d := -2; d <= 2; d++ {
				if hi, lo := bits.Mul64(k, q); hi == 0 && (d >= 0 || lo >= uint64(-d)) {
					a = append(a, lo+uint64(d))
				}
			}
		}
		for j := range 64 {
			a = append(a, math.MaxUint64-uint64(j), 1<<j, 1<<j-1)
		}
		for len(a)%8 != 5 {
			a = append(a, rng.Uint64())
		}
		want := make([]uint64, len(a))
		for i, x := range a {
			want[i] = ring.BRedAdd(x, q, s.BRedConstant)
		}
		for _, k := range impls {
			got := make([]uint64, len(a))
			k.Reduce(s, a, got)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s Reduce q=%d (%d bits): %d mod q: got %d, lattigo %d", k.Name(), q, bitLen(q), a[i], got[i], want[i])
			}
		}
	}
}
