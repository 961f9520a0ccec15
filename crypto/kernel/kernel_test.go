package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// ---- rings with NTT-friendly primes of chosen sizes, built once per test binary

type ringKey struct {
	typ  ring.Type
	logN int
	bits string
}

var (
	ringMu    sync.Mutex
	ringCache = map[ringKey]*ring.Ring{}
)

// testRing returns a standard lattigo ring of degree 2^logN whose i-th
// modulus is the largest NTT-friendly prime below 2^bitSizes[i] (lattigo's
// downstream prime generator), so a b-bit size gives a b-bit prime. Equal
// sizes get successive primes.
func testRing(tb testing.TB, logN int, bitSizes []int) *ring.Ring {
	return testRingOf(tb, ring.Standard, logN, bitSizes)
}

// ringTypes are the ring types every test runs on: mitai's CKKS presets use
// the conjugate-invariant one, whose NTT differs.
var ringTypes = []ring.Type{ring.Standard, ring.ConjugateInvariant}

// testRingOf is testRing for a ring type: a conjugate-invariant ring has its
// primes 1 mod 4N.
func testRingOf(tb testing.TB, typ ring.Type, logN int, bitSizes []int) *ring.Ring {
	tb.Helper()
	key := ringKey{typ, logN, fmt.Sprint(bitSizes)}
	ringMu.Lock()
	defer ringMu.Unlock()
	if r, ok := ringCache[key]; ok {
		return r
	}
	N := 1 << logN
	nthRoot := 2 * N
	if typ == ring.ConjugateInvariant {
		nthRoot = 4 * N
	}
	gens := map[int]*ring.NTTFriendlyPrimesGenerator{}
	moduli := make([]uint64, len(bitSizes))
	for i, b := range bitSizes {
		g, ok := gens[b]
		if !ok {
			gg := ring.NewNTTFriendlyPrimesGenerator(uint64(b), uint64(nthRoot))
			g = &gg
			gens[b] = g
		}
		q, err := g.NextDownstreamPrime()
		if err != nil {
			tb.Fatalf("prime of %d bits for N=%d: %v", b, N, err)
		}
		moduli[i] = q
	}
	r, err := ring.NewRingFromType(N, moduli, typ)
	if err != nil {
		tb.Fatalf("%s ring N=%d moduli %v: %v", typ, N, moduli, err)
	}
	ringCache[key] = r
	return r
}

// ---- input domains: what each operand of each routine accepts

type domain int

const (
	dReduced domain = iota // [0, q)
	dNegIn                 // [0, q]
	dLazy2Q                // [0, 2q): lazily reduced
	dAccum                 // [0, 2^62): a lazy accumulator
	dAny                   // any 64-bit word
)

func (d domain) edges(q uint64) []uint64 {
	switch d {
	case dReduced:
		return []uint64{0, 1, q - 1, q / 2}
	case dNegIn:
		return []uint64{0, 1, q - 1, q}
	case dLazy2Q:
		return []uint64{0, 1, q - 1, q, q + 1, 2*q - 1}
	case dAccum:
		return []uint64{0, q - 1, 2*q - 1, 1<<62 - 1}
	default:
		top := math.MaxUint64 / q * q // the largest multiple of q in 64 bits
		return []uint64{0, 1, q - 1, q, 2*q - 1, 4*q - 1, 8*q - 1, math.MaxUint64,
			top - 1, top, top + 1, 1<<52 - 1, 1 << 52, 1 << 63}
	}
}

func (d domain) random(rng *rand.Rand, q uint64) uint64 {
	switch d {
	case dReduced:
		return rng.Uint64N(q)
	case dNegIn:
		return rng.Uint64N(q + 1)
	case dLazy2Q:
		return rng.Uint64N(2 * q)
	case dAccum:
		return rng.Uint64N(1 << 62)
	default:
		return rng.Uint64()
	}
}

// fill fills v with random values of d, the edge values of d at the start, laid
// out so that with fill(operand k, stride len^k) all combinations of edges of
// two operands meet at some index.
func fill(rng *rand.Rand, v []uint64, d domain, q uint64, stride int) {
	e := d.edges(q)
	for i := range v {
		v[i] = d.random(rng, q)
	}
	for i := 0; i < len(v) && i < 512; i++ {
		v[i] = e[(i/stride)%len(e)]
	}
	// and a few edges at random places
	for range 8 {
		v[rng.IntN(len(v))] = e[rng.IntN(len(e))]
	}
}

// ---- the operations, each as lattigo runs it and as a variant runs it

type op struct {
	name    string
	in      []domain // domains of a, b, c (c is also the output)
	inPlace bool     // may also be run with c aliasing a
	lattigo func(s *ring.SubRing, a, b, c []uint64)
	kernel  func(k *Impl, s *ring.SubRing, a, b, c []uint64)
}

var ops = []op{
	{"NTT", []domain{dReduced}, true,
		func(s *ring.SubRing, a, _, c []uint64) { s.NTT(a, c) },
		func(k *Impl, s *ring.SubRing, a, _, c []uint64) { k.NTT(s, a, c) }},
	{"NTT/lazy-input", []domain{dLazy2Q}, true,
		func(s *ring.SubRing, a, _, c []uint64) { s.NTT(a, c) },
		func(k *Impl, s *ring.SubRing, a, _, c []uint64) { k.NTT(s, a, c) }},
	{"INTT", []domain{dLazy2Q}, true,
		func(s *ring.SubRing, a, _, c []uint64) { s.INTT(a, c) },
		func(k *Impl, s *ring.SubRing, a, _, c []uint64) { k.INTT(s, a, c) }},
	{"MulCoeffsMontgomery", []domain{dLazy2Q, dLazy2Q}, true,
		func(s *ring.SubRing, a, b, c []uint64) { s.MulCoeffsMontgomery(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.MulCoeffsMontgomery(s, a, b, c) }},
	{"MulCoeffsMontgomery/any-by-reduced", []domain{dAny, dReduced}, false,
		func(s *ring.SubRing, a, b, c []uint64) { s.MulCoeffsMontgomery(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.MulCoeffsMontgomery(s, a, b, c) }},
	{"MulCoeffsMontgomeryLazy", []domain{dLazy2Q, dLazy2Q}, true,
		func(s *ring.SubRing, a, b, c []uint64) { s.MulCoeffsMontgomeryLazy(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.MulCoeffsMontgomeryLazy(s, a, b, c) }},
	{"MulCoeffsMontgomeryThenAdd", []domain{dLazy2Q, dLazy2Q, dReduced}, false,
		func(s *ring.SubRing, a, b, c []uint64) { s.MulCoeffsMontgomeryThenAdd(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.MulCoeffsMontgomeryThenAdd(s, a, b, c) }},
	{"MulCoeffsMontgomeryLazyThenAddLazy", []domain{dLazy2Q, dLazy2Q, dAccum}, false,
		func(s *ring.SubRing, a, b, c []uint64) { s.MulCoeffsMontgomeryLazyThenAddLazy(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.MulCoeffsMontgomeryLazyThenAddLazy(s, a, b, c) }},
	{"MulScalarMontgomeryThenAdd", []domain{dAny, dReduced, dReduced}, false,
		// the scalar is b[7]: one of b's edge values, different per call
		func(s *ring.SubRing, a, b, c []uint64) { s.MulScalarMontgomeryThenAdd(a, b[7], c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.MulScalarMontgomeryThenAdd(s, a, b[7], c) }},
	{"Add", []domain{dReduced, dReduced}, true,
		func(s *ring.SubRing, a, b, c []uint64) { s.Add(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.Add(s, a, b, c) }},
	{"Sub", []domain{dReduced, dReduced}, true,
		func(s *ring.SubRing, a, b, c []uint64) { s.Sub(a, b, c) },
		func(k *Impl, s *ring.SubRing, a, b, c []uint64) { k.Sub(s, a, b, c) }},
	{"Neg", []domain{dNegIn}, true,
		func(s *ring.SubRing, a, _, c []uint64) { s.Neg(a, c) },
		func(k *Impl, s *ring.SubRing, a, _, c []uint64) { k.Neg(s, a, c) }},
	{"Reduce", []domain{dAny}, true,
		func(s *ring.SubRing, a, _, c []uint64) { s.Reduce(a, c) },
		func(k *Impl, s *ring.SubRing, a, _, c []uint64) { k.Reduce(s, a, c) }},
}

// allImpls returns every variant this machine can run.
func allImpls(tb testing.TB) []*Impl {
	var ks []*Impl
	for _, name := range Variants() {
		k, err := Get(name)
		if err != nil {
			tb.Fatal(err)
		}
		ks = append(ks, k)
	}
	return ks
}

// checkOp runs o on one limb with lattigo and with every variant, out of place
// and (where allowed) in place, and reports the first difference.
func checkOp(t *testing.T, o op, s *ring.SubRing, a, b, c []uint64, impls []*Impl) {
	t.Helper()
	n := len(a)
	want := slices.Clone(c)
	o.lattigo(s, slices.Clone(a), slices.Clone(b), want)
	var wantInPlace []uint64
	if o.inPlace {
		wantInPlace = slices.Clone(a)
		o.lattigo(s, wantInPlace, slices.Clone(b), wantInPlace)
	}
	for _, k := range impls {
		got := slices.Clone(c)
		a2, b2 := slices.Clone(a), slices.Clone(b)
		o.kernel(k, s, a2, b2, got)
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%s %s q=%d (%d bits) N=%d: coefficient %d: got %d, lattigo %d (inputs a=%d b=%d c=%d)",
				k.Name(), o.name, s.Modulus, bitLen(s.Modulus), n, i, got[i], want[i], a[i], at(b, i), c[i])
		}
		if !slices.Equal(a2, a) || !slices.Equal(b2, b) {
			t.Fatalf("%s %s changed an input", k.Name(), o.name)
		}
		if o.inPlace {
			got := slices.Clone(a)
			o.kernel(k, s, got, slices.Clone(b), got)
			if i := firstDiff(got, wantInPlace); i >= 0 {
				t.Fatalf("%s %s in place q=%d N=%d: coefficient %d: got %d, lattigo %d", k.Name(), o.name, s.Modulus, n, i, got[i], wantInPlace[i])
			}
		}
	}
}

func firstDiff(a, b []uint64) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func at(v []uint64, i int) uint64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

func bitLen(q uint64) int {
	n := 0
	for q > 0 {
		n++
		q >>= 1
	}
	return n
}

// bitsCycle returns limbs bit sizes starting at first and cycling through
// 30..61.
func bitsCycle(first, limbs int) []int {
	b := make([]int, limbs)
	for i := range b {
		b[i] = 30 + (first-30+i)%32
	}
	return b
}

// TestAgainstLattigo checks every operation of every variant against lattigo,
// bit for bit, for every N from 2^10 to 2^16, 1 to 20 limbs and every modulus
// size from 30 to 61 bits, on random inputs and on edge values; the NTTs
// also on conjugate-invariant rings (the other operations do not depend on
// the ring type). The (N, limbs) combinations are sampled so that the test
// stays within a few seconds.
func TestAgainstLattigo(t *testing.T) {
	t.Parallel()
	sampled := []struct{ logN, limbs, firstBits int }{
		{10, 16, 30}, // 30..45 bits
		{10, 16, 46}, // 46..61 bits
		{10, 1, 61},
		{10, 20, 40},
		{11, 20, 35},
		{11, 2, 50},
		{11, 7, 55},
		{12, 9, 42},
		{12, 1, 30},
		{12, 20, 48},
		{13, 6, 55},
		{13, 3, 49},
		{13, 13, 33},
		{14, 4, 58},
		{13, 2, 30}, // 30, 31 bits: the avx2 range
		{14, 1, 50},
		{14, 2, 30},
		{14, 8, 36},
		{15, 2, 31},
		{15, 1, 61},
		{15, 5, 45},
		{16, 1, 49},
		{16, 2, 60},
		{16, 3, 30},
	}
	type ringCase struct {
		logN int
		bits []int
	}
	var cases []ringCase
	for _, tc := range sampled {
		cases = append(cases, ringCase{tc.logN, bitsCycle(tc.firstBits, tc.limbs)})
	}
	for logN := 10; logN <= 16; logN++ { // the avx2 range, limbs as in the affine30 presets
		cases = append(cases, ringCase{logN, []int{30, 30, 30, 30, 31, 31}})
	}
	impls := allImpls(t)
	for _, typ := range ringTypes {
		for _, tc := range cases {
			bitSizes := tc.bits
			t.Run(fmt.Sprintf("%s/N=2^%d/bits=%v", typ, tc.logN, bitSizes), func(t *testing.T) {
				t.Parallel()
				r := testRingOf(t, typ, tc.logN, bitSizes)
				N := r.N()
				rng := rand.New(rand.NewPCG(uint64(tc.logN), uint64(len(bitSizes)*100+bitSizes[0])))
				a, b, c := make([]uint64, N), make([]uint64, N), make([]uint64, N)
				for _, o := range ops {
					if typ != ring.Standard && !isNTT(o) {
						continue
					}
					for _, s := range r.SubRings {
						q := s.Modulus
						fillOperands(rng, o, q, a, b, c)
						checkOp(t, o, s, a, b, c, impls)
					}
				}
			})
		}
	}
}

func isNTT(o op) bool { return strings.HasPrefix(o.name, "NTT") || strings.HasPrefix(o.name, "INTT") }

// fillOperands fills the operands of o with values of their domains, the edge
// values of operand k changing every (product of the edge counts of the
// operands before it) coefficients, so that every combination of edges meets.
func fillOperands(rng *rand.Rand, o op, q uint64, vs ...[]uint64) {
	stride := 1
	for k, v := range vs {
		d := dReduced
		if k < len(o.in) {
			d = o.in[k]
		}
		fill(rng, v, d, q, stride)
		stride *= len(d.edges(q))
	}
}

// TestSmallDegrees covers lattigo's smallest rings (N = 8 takes lattigo's
// non-unrolled NTT), of both types, and odd vector lengths for the pointwise
// operations.
func TestSmallDegrees(t *testing.T) {
	t.Parallel()
	impls := allImpls(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for logN := 3; logN <= 9; logN++ {
		for _, typ := range ringTypes {
			r := testRingOf(t, typ, logN, []int{30, 30, 31, 31, 40, 49, 50, 51, 61})
			for _, s := range r.SubRings {
				checkSmall(t, s, rng, impls, typ != ring.Standard)
			}
		}
	}
}

// checkSmall runs every operation on s (only the NTTs if nttOnly).
func checkSmall(t *testing.T, s *ring.SubRing, rng *rand.Rand, impls []*Impl, nttOnly bool) {
	t.Helper()
	for _, o := range ops {
		if nttOnly && !isNTT(o) {
			continue
		}
		n := s.N
		if !isNTT(o) {
			n = 1 + rng.IntN(s.N) // any length, not only multiples of 8
		}
		vs := [][]uint64{make([]uint64, n), make([]uint64, n), make([]uint64, n)}
		fillOperands(rng, o, s.Modulus, vs...)
		if len(vs[1]) < 8 { // MulScalarMontgomeryThenAdd reads b[7]
			vs[1] = append(vs[1], make([]uint64, 8-len(vs[1]))...)
		}
		if isNTT(o) || n%8 == 0 {
			checkOp(t, o, s, vs[0], vs[1], vs[2], impls)
			continue
		}
		// lattigo's vector loops need multiples of 8: compare with
		// the generic variant on odd lengths instead.
		want := slices.Clone(vs[2])
		o.kernel(genericImpl, s, vs[0], vs[1], want)
		for _, k := range impls {
			got := slices.Clone(vs[2])
			o.kernel(k, s, vs[0], vs[1], got)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s %s len %d: coefficient %d: got %d, generic %d", k.Name(), o.name, n, i, got[i], want[i])
			}
		}
	}
}

// TestPackageLevelUsesActive checks the package-level functions against the
// active variant's methods and lattigo.
func TestPackageLevelUsesActive(t *testing.T) {
	t.Parallel()
	r := testRing(t, 10, []int{50})
	s := r.SubRings[0]
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := make([]uint64, s.N), make([]uint64, s.N)
	fill(rng, a, dReduced, s.Modulus, 1)
	fill(rng, b, dReduced, s.Modulus, 4)
	check := func(name string, got, want []uint64) {
		t.Helper()
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%s: coefficient %d: got %d, lattigo %d", name, i, got[i], want[i])
		}
	}
	got, want := make([]uint64, s.N), make([]uint64, s.N)
	NTT(s, a, got)
	s.NTT(a, want)
	check("NTT", got, want)
	INTT(s, a, got)
	s.INTT(a, want)
	check("INTT", got, want)
	MulCoeffsMontgomery(s, a, b, got)
	s.MulCoeffsMontgomery(a, b, want)
	check("MulCoeffsMontgomery", got, want)
	MulCoeffsMontgomeryLazy(s, a, b, got)
	s.MulCoeffsMontgomeryLazy(a, b, want)
	check("MulCoeffsMontgomeryLazy", got, want)
	MulCoeffsMontgomeryThenAdd(s, a, b, got)
	s.MulCoeffsMontgomeryThenAdd(a, b, want)
	check("MulCoeffsMontgomeryThenAdd", got, want)
	MulCoeffsMontgomeryLazyThenAddLazy(s, a, b, got)
	s.MulCoeffsMontgomeryLazyThenAddLazy(a, b, want)
	check("MulCoeffsMontgomeryLazyThenAddLazy", got, want)
	Reduce(s, got, got)
	s.Reduce(want, want)
	check("Reduce", got, want)
	MulScalarMontgomeryThenAdd(s, a, b[9], got)
	s.MulScalarMontgomeryThenAdd(a, b[9], want)
	check("MulScalarMontgomeryThenAdd", got, want)
	Add(s, a, b, got)
	s.Add(a, b, want)
	check("Add", got, want)
	Sub(s, a, b, got)
	s.Sub(a, b, want)
	check("Sub", got, want)
	Neg(s, a, got)
	s.Neg(a, want)
	check("Neg", got, want)
}

func TestChooseAndSelect(t *testing.T) {
	names := Variants()
	if len(names) == 0 || names[0] != Generic {
		t.Fatalf("Variants() = %v, want generic first", names)
	}
	if k := choose("generic"); k.Name() != Generic {
		t.Fatalf("choose(generic) = %s", k.Name())
	}
	if k := choose(" GENERIC "); k.Name() != Generic {
		t.Fatalf("choose(GENERIC) = %s", k.Name())
	}
	if k := choose("no-such-variant"); k.Name() != Generic {
		t.Fatalf("choose(unknown) = %s, want the generic fallback", k.Name())
	}
	if k := choose(""); k.Name() != names[len(names)-1] {
		t.Fatalf("choose(\"\") = %s, want the best supported %s", k.Name(), names[len(names)-1])
	}
	for _, name := range []string{AVX2, AVX512} {
		k, err := Get(name)
		if err == nil {
			if !slices.Contains(names, name) || k.Name() != name {
				t.Fatalf("Get(%s) succeeded but Variants() = %v", name, names)
			}
			continue
		}
		if slices.Contains(names, name) {
			t.Fatalf("Get(%s): %v, but Variants() lists it", name, err)
		}
		if k := choose(name); k.Name() != Generic {
			t.Fatalf("forcing unavailable %s chose %s, want generic", name, k.Name())
		}
	}
	if _, err := Get("sse9"); err == nil || !strings.Contains(err.Error(), "unknown variant") {
		t.Fatalf("Get(sse9) error = %v", err)
	}
	prev := Active().Name()
	defer func() {
		if err := Select(prev); err != nil {
			t.Fatal(err)
		}
	}()
	for _, name := range names {
		if err := Select(name); err != nil {
			t.Fatal(err)
		}
		if Active().Name() != name {
			t.Fatalf("after Select(%s), Active() = %s", name, Active().Name())
		}
	}
	if err := Select("sse9"); err == nil {
		t.Fatal("Select(sse9) succeeded")
	}
}

// TestForcedVariant: with MITAI_KERNEL set (CI forces generic), the
// package runs that variant.
func TestForcedVariant(t *testing.T) {
	want := os.Getenv(EnvVar)
	if want == "" {
		t.Skip(EnvVar + " not set")
	}
	if _, err := Get(want); err != nil {
		// forcing a variant this CPU lacks must fall back to generic
		if got := Active().Name(); got != Generic {
			t.Fatalf("%s=%s cannot run here (%v), but the active variant is %s", EnvVar, want, err, got)
		}
		t.Skipf("%s=%s: %v; the generic fallback is active", EnvVar, want, err)
	}
	if got := Active().Name(); got != want {
		t.Fatalf("%s=%s, but the active variant is %s", EnvVar, want, got)
	}
}

// BenchmarkNTT times NTT and INTT of every variant on one limb of 30 bits
// (the avx2 range) and of 50 (the IFMA range) of both ring types, each call
// alternating with lattigo's on the same input, and reports medians of the
// per-call times: the variant's ns per butterfly (N/2 log2 N per transform)
// and its speedup over lattigo. Medians of alternating calls hold up on a
// shared machine, where timings of many calls in a row do not; ns/op counts
// both calls.
func BenchmarkNTT(b *testing.B) {
	for _, typ := range ringTypes {
		for _, bits := range []int{30, 50} {
			for logN := 12; logN <= 16; logN++ {
				benchNTT(b, testRingOf(b, typ, logN, []int{bits}).SubRings[0], typ, bits, logN)
			}
		}
	}
}

// benchNTT runs BenchmarkNTT's cases of one limb.
func benchNTT(b *testing.B, s *ring.SubRing, typ ring.Type, bits, logN int) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := make([]uint64, s.N)
	fill(rng, a, dReduced, s.Modulus, 1)
	out := make([]uint64, s.N)
	butterflies := float64(s.N / 2 * logN)
	for _, k := range allImpls(b) {
		for _, inverse := range []bool{false, true} {
			name, lattigo, variant := "NTT", func() { s.NTT(a, out) }, func() { k.NTT(s, a, out) }
			if inverse {
				name, lattigo, variant = "INTT", func() { s.INTT(a, out) }, func() { k.INTT(s, a, out) }
			}
			b.Run(fmt.Sprintf("%s/%s/%dbit/N=2^%d/%s", name, typ, bits, logN, k.Name()), func(b *testing.B) {
				var tl, tk []float64
				for b.Loop() {
					t0 := time.Now()
					lattigo()
					t1 := time.Now()
					variant()
					tl = append(tl, float64(t1.Sub(t0)))
					tk = append(tk, float64(time.Since(t1)))
				}
				ml, mk := medianOf(tl), medianOf(tk)
				b.ReportMetric(mk/butterflies, "ns/butterfly")
				b.ReportMetric(ml/mk, "speedup")
			})
		}
	}
}

func medianOf(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
