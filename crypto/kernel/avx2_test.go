//go:build amd64 && !purego

package kernel

import (
	"math/rand/v2"
	"reflect"
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

// TestAVX2CINTT checks that the avx2 variant runs its own conjugate-invariant
// transforms, not the generic fallback, wherever they apply (q < 2^31, N >=
// 16): that they are wired in and accept these rings, the folding loops
// called directly against the generic fold on random and edge inputs, and
// the variant's NTT and INTT against lattigo's.
func TestAVX2CINTT(t *testing.T) {
	if !avx2Impl.supported() {
		t.Skip("no AVX2")
	}
	t.Parallel()
	addr := func(f any) uintptr { return reflect.ValueOf(f).Pointer() }
	if addr(avx2Impl.f.nttCI) != addr(nttCIAVX2) || addr(avx2Impl.f.inttCI) != addr(inttCIAVX2) {
		t.Fatal("the avx2 variant's conjugate-invariant NTT or INTT is not nttCIAVX2, inttCIAVX2")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, bits := range []int{30, 31} {
		for logN := 4; logN <= 16; logN++ {
			r := testRingOf(t, ring.ConjugateInvariant, logN, []int{bits, bits})
			for _, s := range r.SubRings {
				checkAVX2CI(t, s, rng)
			}
		}
	}
}

func checkAVX2CI(t *testing.T, s *ring.SubRing, rng *rand.Rand) {
	n, q, mrc := s.N, s.Modulus, s.MRedConstant
	if !avx2NTTApplies(n, q, s.RootsForward, true) || !avx2NTTApplies(n, q, s.RootsBackward, true) {
		t.Fatalf("q=%d N=%d: the avx2 conjugate-invariant transforms refuse the ring", q, n)
	}
	x := make([]uint64, n)
	fill(rng, x, dLazy2Q, q, 1)
	for i, e := range []uint64{0, 1, q - 1, q, 2*q - 1} {
		x[1+i], x[n-1-2*i], x[n/2-i] = e, e, e
	}
	const unset = 1 << 63
	fold := slices.Clone(x)
	ciFold(x, fold, n, q, mrc, s.RootsForward[1])
	ft := getNTTTables(s.RootsForward, n, q, mrc, 0, true)
	got := make([]uint64, n)
	got[0] = unset
	ciFoldAVX2(x, got, &ft.last, q)
	for j := range n {
		if j == 0 && got[0] != unset || j > 0 && (got[j] >= 2*q || got[j]%q != fold[j]%q) {
			t.Fatalf("ciFoldAVX2 q=%d N=%d: word %d: got %d, generic %d (mod q)", q, n, j, got[j], fold[j]%q)
		}
	}
	bt := getNTTTables(s.RootsBackward, n, q, mrc, s.NInv, true)
	ciFold(x, fold, n, q, mrc, s.RootsBackward[1])
	got[0] = unset
	ciFoldScaleAVX2(x, got, &bt.last, q)
	for j := range n {
		want := uint64(unset)
		if j > 0 {
			want = mred(fold[j], s.NInv, q, mrc)
		}
		if got[j] != want {
			t.Fatalf("ciFoldScaleAVX2 q=%d N=%d: word %d: got %d, want %d", q, n, j, got[j], want)
		}
	}

	for _, inverse := range []bool{false, true} {
		want, got, inPlace := make([]uint64, n), make([]uint64, n), slices.Clone(x)
		if inverse {
			s.INTT(x, want)
			avx2Impl.INTT(s, x, got)
			avx2Impl.INTT(s, inPlace, inPlace)
		} else {
			s.NTT(x, want)
			avx2Impl.NTT(s, x, got)
			avx2Impl.NTT(s, inPlace, inPlace)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("inverse=%v q=%d N=%d: word %d: got %d, lattigo %d", inverse, q, n, i, got[i], want[i])
		}
		if i := firstDiff(inPlace, want); i >= 0 {
			t.Fatalf("inverse=%v q=%d N=%d in place: word %d: got %d, lattigo %d", inverse, q, n, i, inPlace[i], want[i])
		}
	}
}

// ciFold is the first stage of lattigo's conjugate-invariant NTT and the last
// of its INTT: (x_j, x_k) -> (x_j + 2q - w*x_k, x_k + 2q - w*x_j) for
// 1 <= j <= n/2, k = n-j, w*x lazy Montgomery products; x_0 is copied.
// Inputs below 2q give outputs below 4q.
func ciFold(p1, p2 []uint64, n int, q, mrc, w uint64) {
	twoQ := 2 * q
	for j, k := 1, n-1; j < k; j, k = j+1, k-1 {
		x, y := p1[j], p1[k]
		p2[j], p2[k] = x+twoQ-mredLazy(y, w, q, mrc), y+twoQ-mredLazy(x, w, q, mrc)
	}
	h := n >> 1
	p2[h] = p1[h] + twoQ - mredLazy(p1[h], w, q, mrc)
	p2[0] = p1[0]
}
