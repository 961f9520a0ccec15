//go:build amd64 && !purego

package kernel

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestAVX2Loops calls the AVX2 Montgomery loops directly, so that a loop that
// wrongly stops early (leaving the work to the generic fallback) fails: each
// must do every block of 8 below the first with an input of 2^32 or more, and
// equal the generic code there, on moduli up to 2^31 and inputs up to 2^32-1.
func TestAVX2Loops(t *testing.T) {
	if !avx2Impl.supported() {
		t.Skip("no AVX2")
	}
	t.Parallel()
	type loop struct {
		name string
		asm  func(p1, p2, p3 []uint64, q, mrc uint64) int
		gen  func(p1, p2, p3 []uint64, q, mrc uint64)
		acc  bool // p3 is an input in [0, q)
	}
	loops := []loop{
		{"mulMont", mulMontAVX2, mulMontGeneric, false},
		{"mulMontLazy", mulMontLazyAVX2, mulMontLazyGeneric, false},
		{"mulMontThenAdd", mulMontThenAddAVX2, mulMontThenAddGeneric, true},
		{"mulMontLazyThenAddLazy", mulMontLazyThenAddLazyAVX2, mulMontLazyThenAddLazyGeneric, true},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 203
	for _, bits := range []int{17, 30, 31} {
		q := testRing(t, 4, []int{bits}).SubRings[0].Modulus
		mrc := testRing(t, 4, []int{bits}).SubRings[0].MRedConstant
		edges := []uint64{0, 1, q - 1, q, 2*q - 1, 1<<32 - 1}
		x, y, z := make([]uint64, n), make([]uint64, n), make([]uint64, n)
		for i := range n {
			x[i], y[i], z[i] = rng.Uint64N(1<<32), rng.Uint64N(2*q), rng.Uint64N(q)
			if i < len(edges)*len(edges) {
				x[i], y[i] = edges[i%len(edges)], edges[i/len(edges)]
			}
		}
		for _, l := range loops {
			want, got := slices.Clone(z), slices.Clone(z)
			l.gen(x, y, want, q, mrc)
			if did := l.asm(x, y, got, q, mrc); did != n&^7 {
				t.Fatalf("%s q=%d: did %d words, want %d", l.name, q, did, n&^7)
			}
			if i := firstDiff(got[:n&^7], want[:n&^7]); i >= 0 {
				t.Fatalf("%s q=%d: word %d (x=%d y=%d): got %d, generic %d", l.name, q, i, x[i], y[i], got[i], want[i])
			}
			x2 := slices.Clone(x)
			x2[101] = 1 << 32
			if did := l.asm(x2, y, slices.Clone(z), q, mrc); did != 96 {
				t.Fatalf("%s q=%d: with a 2^32 input at 101, did %d words, want 96", l.name, q, did)
			}
		}
		s := y[7] % q
		want, got := slices.Clone(z), slices.Clone(z)
		mulScalarMontThenAddGeneric(x, s, want, q, mrc)
		sn := mred(s, 1, q, mrc)
		if did := mulScalarMontThenAddAVX2(x, sn, shoup32(sn, q), got, q); did != n&^7 {
			t.Fatalf("mulScalarMontThenAdd q=%d: did %d words", q, did)
		}
		if i := firstDiff(got[:n&^7], want[:n&^7]); i >= 0 {
			t.Fatalf("mulScalarMontThenAdd q=%d: word %d: got %d, generic %d", q, i, got[i], want[i])
		}
	}
}

// TestAVX2NTTDefers checks that the AVX2 transforms leave to the generic code
// the roots tables they do not handle: the conjugate-invariant ring's 2N
// roots (NthRoot = 4N), whatever the generic code then does with them.
func TestAVX2NTTDefers(t *testing.T) {
	if !avx2Impl.supported() {
		t.Skip("no AVX2")
	}
	t.Parallel()
	r, err := ring.NewRingConjugateInvariant(64, []uint64{testRing(t, 7, []int{30}).SubRings[0].Modulus})
	if err != nil {
		t.Fatal(err)
	}
	s := r.SubRings[0]
	rng := rand.New(rand.NewPCG(7, 8))
	p := make([]uint64, s.N)
	fill(rng, p, dReduced, s.Modulus, 1)
	if len(s.RootsForward) != 2*s.N {
		t.Fatalf("conjugate-invariant ring has %d roots for N=%d", len(s.RootsForward), s.N)
	}
	for _, inverse := range []bool{false, true} {
		want, got := make([]uint64, s.N), make([]uint64, s.N)
		if inverse {
			genericFuncs.intt(p, want, s.N, s.Modulus, s.MRedConstant, s.NInv, s.RootsBackward)
			avx2Impl.f.intt(p, got, s.N, s.Modulus, s.MRedConstant, s.NInv, s.RootsBackward)
		} else {
			genericFuncs.ntt(p, want, s.N, s.Modulus, s.MRedConstant, s.BRedConstant[0], s.RootsForward)
			avx2Impl.f.ntt(p, got, s.N, s.Modulus, s.MRedConstant, s.BRedConstant[0], s.RootsForward)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("inverse=%v: the avx2 transform did not defer to generic on 2N roots", inverse)
		}
	}
}
