package kernel

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// Names of the variants. Which of them a binary can run depends on the
// architecture it was built for and on the CPU: see Variants.
const (
	Generic = "generic"
	AVX2    = "avx2"
	AVX512  = "avx512"
)

// EnvVar is the environment variable that forces a variant at init
// (MITAI_KERNEL=generic|avx2|avx512).
const EnvVar = "MITAI_KERNEL"

// funcs is the dispatch table of one variant: the per-limb loops with lattigo's
// constants passed as plain words.
type funcs struct {
	ntt                    func(p1, p2 []uint64, n int, q, mrc, bred uint64, roots []uint64)
	intt                   func(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64)
	nttCI                  func(p1, p2 []uint64, n int, q, mrc, bred uint64, roots []uint64)
	inttCI                 func(p1, p2 []uint64, n int, q, mrc, nInv uint64, roots []uint64)
	mulMont                func(p1, p2, p3 []uint64, q, mrc uint64)
	mulMontLazy            func(p1, p2, p3 []uint64, q, mrc uint64)
	mulMontThenAdd         func(p1, p2, p3 []uint64, q, mrc uint64)
	mulMontLazyThenAddLazy func(p1, p2, p3 []uint64, q, mrc uint64)
	mulScalarMontThenAdd   func(p1 []uint64, scalar uint64, p2 []uint64, q, mrc uint64)
	add                    func(p1, p2, p3 []uint64, q uint64)
	sub                    func(p1, p2, p3 []uint64, q uint64)
	neg                    func(p1, p2 []uint64, q uint64)
	reduce                 func(p1, p2 []uint64, q, bred uint64)
	sampleCDT              func(table, r []uint64, x []int64)
}

// Impl is one variant: every operation of the package, implemented one way.
// Its methods are safe for concurrent use; they only read the SubRing.
type Impl struct {
	name      string
	supported func() bool
	f         funcs
}

// Name returns the variant's name (Generic, AVX2 or AVX512).
func (k *Impl) Name() string { return k.name }

// NTT writes to p2 the forward NTT of p1 (s.N coefficients), exactly as s.NTT
// does: the standard negacyclic transform, or the conjugate-invariant one when
// s.NthRoot is 4N (a ring.ConjugateInvariant ring). p1 must be in [0, 2q); p2
// is in [0, q). p1 and p2 may be the same slice.
func (k *Impl) NTT(s *ring.SubRing, p1, p2 []uint64) {
	f := k.f.ntt
	if conjugateInvariant(s, p1, p2) {
		f = k.f.nttCI
	}
	f(p1[:s.N], p2[:s.N], s.N, s.Modulus, s.MRedConstant, s.BRedConstant[0], s.RootsForward)
}

// INTT writes to p2 the inverse NTT of p1 (s.N coefficients), exactly as s.INTT
// does, for either ring type (see NTT). p1 must be in [0, 2q); p2 is in [0, q).
// p1 and p2 may be the same slice.
func (k *Impl) INTT(s *ring.SubRing, p1, p2 []uint64) {
	f := k.f.intt
	if conjugateInvariant(s, p1, p2) {
		f = k.f.inttCI
	}
	f(p1[:s.N], p2[:s.N], s.N, s.Modulus, s.MRedConstant, s.NInv, s.RootsBackward)
}

// MulCoeffsMontgomery sets p3[i] = p1[i]*p2[i]*2^-64 mod q in [0, q), for i <
// len(p1), as s.MulCoeffsMontgomery. It needs p1[i]*p2[i] < q*2^64 (for example
// both in [0, 2q)).
func (k *Impl) MulCoeffsMontgomery(s *ring.SubRing, p1, p2, p3 []uint64) {
	n := len(p1)
	k.f.mulMont(p1, p2[:n], p3[:n], s.Modulus, s.MRedConstant)
}

// MulCoeffsMontgomeryLazy sets p3[i] to p1[i]*p2[i]*2^-64 mod q in [0, 2q), as
// s.MulCoeffsMontgomeryLazy. It needs p1[i]*p2[i] < q*2^64.
func (k *Impl) MulCoeffsMontgomeryLazy(s *ring.SubRing, p1, p2, p3 []uint64) {
	n := len(p1)
	k.f.mulMontLazy(p1, p2[:n], p3[:n], s.Modulus, s.MRedConstant)
}

// MulCoeffsMontgomeryThenAdd sets p3[i] = p3[i] + p1[i]*p2[i]*2^-64 mod q, as
// s.MulCoeffsMontgomeryThenAdd. It needs p1[i]*p2[i] < q*2^64 and p3[i] in
// [0, q); the result is in [0, q).
func (k *Impl) MulCoeffsMontgomeryThenAdd(s *ring.SubRing, p1, p2, p3 []uint64) {
	n := len(p1)
	k.f.mulMontThenAdd(p1, p2[:n], p3[:n], s.Modulus, s.MRedConstant)
}

// MulCoeffsMontgomeryLazyThenAddLazy adds to p3[i] the lazy Montgomery product
// of p1[i] and p2[i] (in [0, 2q)), without reduction, as
// s.MulCoeffsMontgomeryLazyThenAddLazy. It needs p1[i]*p2[i] < q*2^64; the
// caller keeps p3[i] from overflowing 64 bits.
func (k *Impl) MulCoeffsMontgomeryLazyThenAddLazy(s *ring.SubRing, p1, p2, p3 []uint64) {
	n := len(p1)
	k.f.mulMontLazyThenAddLazy(p1, p2[:n], p3[:n], s.Modulus, s.MRedConstant)
}

// MulScalarMontgomeryThenAdd sets p2[i] = p2[i] + p1[i]*scalarMont*2^-64 mod q,
// as s.MulScalarMontgomeryThenAdd. scalarMont is in Montgomery form (below q);
// p1[i] must be below 2^64 and p2[i] in [0, q); the result is in [0, q).
func (k *Impl) MulScalarMontgomeryThenAdd(s *ring.SubRing, p1 []uint64, scalarMont uint64, p2 []uint64) {
	n := len(p1)
	k.f.mulScalarMontThenAdd(p1, scalarMont, p2[:n], s.Modulus, s.MRedConstant)
}

// Add sets p3[i] = p1[i] + p2[i] mod q, as s.Add. Inputs in [0, q), output in
// [0, q).
func (k *Impl) Add(s *ring.SubRing, p1, p2, p3 []uint64) {
	n := len(p1)
	k.f.add(p1, p2[:n], p3[:n], s.Modulus)
}

// Sub sets p3[i] = p1[i] - p2[i] mod q, as s.Sub. Inputs in [0, q), output in
// [0, q).
func (k *Impl) Sub(s *ring.SubRing, p1, p2, p3 []uint64) {
	n := len(p1)
	k.f.sub(p1, p2[:n], p3[:n], s.Modulus)
}

// Neg sets p2[i] = q - p1[i], as s.Neg. Input in [0, q]; output in [0, q] (0
// maps to q, as in lattigo).
func (k *Impl) Neg(s *ring.SubRing, p1, p2 []uint64) {
	n := len(p1)
	k.f.neg(p1, p2[:n], s.Modulus)
}

// Reduce sets p2[i] = p1[i] mod q in [0, q) for any 64-bit p1[i], as s.Reduce.
func (k *Impl) Reduce(s *ring.SubRing, p1, p2 []uint64) {
	n := len(p1)
	k.f.reduce(p1, p2[:n], s.Modulus, s.BRedConstant[0])
}

// conjugateInvariant reports whether s is a conjugate-invariant SubRing
// (NthRoot 4N, root tables of 2N) rather than a standard one (2N, N), and
// panics if the sizes fit neither: a caller's bug, not a peer's input.
func conjugateInvariant(s *ring.SubRing, p1, p2 []uint64) bool {
	root := int(s.NthRoot)
	ci := root == 4*s.N
	if len(p1) < s.N || len(p2) < s.N || s.N < 8 || s.N&(s.N-1) != 0 ||
		(!ci && root != 2*s.N) || len(s.RootsForward) < root/2 || len(s.RootsBackward) < root/2 {
		panic(fmt.Sprintf("kernel: NTT of degree %d needs len(p1)=%d, len(p2)=%d >= N, N a power of two >= 8, NthRoot %d = 2N or 4N and the SubRing's NTT tables (%d, %d) of NthRoot/2",
			s.N, len(p1), len(p2), s.NthRoot, len(s.RootsForward), len(s.RootsBackward)))
	}
	return ci
}

// registry lists every variant built into this binary, generic first, then
// in increasing order of preference.
var registry = append([]*Impl{genericImpl}, archImpls()...)

var genericImpl = &Impl{name: Generic, supported: func() bool { return true }, f: genericFuncs}

var active atomic.Pointer[Impl]

func init() {
	active.Store(choose(os.Getenv(EnvVar)))
}

// choose returns the variant to use at init: the forced one if it can run
// here, else generic when a variant was forced, else the best supported one.
func choose(forced string) *Impl {
	forced = strings.ToLower(strings.TrimSpace(forced))
	if forced != "" {
		k, err := Get(forced)
		if err == nil {
			return k
		}
		slog.Warn("kernel: ignoring "+EnvVar+", using the generic variant", "value", forced, "err", err)
		return genericImpl
	}
	return Best()
}

// Best returns the variant the CPU features choose: the most preferred one
// this binary and CPU can run.
func Best() *Impl {
	best := genericImpl
	for _, k := range registry {
		if k.supported() {
			best = k
		}
	}
	return best
}

// Variants returns the names of the variants this binary and CPU can run,
// generic first, then in increasing order of preference.
func Variants() []string {
	var names []string
	for _, k := range registry {
		if k.supported() {
			names = append(names, k.name)
		}
	}
	return names
}

// Get returns the variant of that name, or an error if it is unknown, not built
// into this binary, or not supported by this CPU.
func Get(name string) (*Impl, error) {
	for _, k := range registry {
		if k.name == name {
			if !k.supported() {
				return nil, fmt.Errorf("kernel: variant %q is not supported by this CPU (variants here: %s)", name, strings.Join(Variants(), ", "))
			}
			return k, nil
		}
	}
	switch name {
	case AVX2, AVX512:
		return nil, fmt.Errorf("kernel: variant %q is not built into this binary (variants here: %s)", name, strings.Join(Variants(), ", "))
	}
	return nil, fmt.Errorf("kernel: unknown variant %q (known: %s, %s, %s)", name, Generic, AVX2, AVX512)
}

// Select makes the named variant the one the package-level functions use.
func Select(name string) error {
	k, err := Get(name)
	if err != nil {
		return err
	}
	active.Store(k)
	return nil
}

// Active returns the variant the package-level functions use.
func Active() *Impl { return active.Load() }

// NTT calls the active variant's NTT.
func NTT(s *ring.SubRing, p1, p2 []uint64) { Active().NTT(s, p1, p2) }

// INTT calls the active variant's INTT.
func INTT(s *ring.SubRing, p1, p2 []uint64) { Active().INTT(s, p1, p2) }

// MulCoeffsMontgomery calls the active variant's MulCoeffsMontgomery.
func MulCoeffsMontgomery(s *ring.SubRing, p1, p2, p3 []uint64) {
	Active().MulCoeffsMontgomery(s, p1, p2, p3)
}

// MulCoeffsMontgomeryLazy calls the active variant's MulCoeffsMontgomeryLazy.
func MulCoeffsMontgomeryLazy(s *ring.SubRing, p1, p2, p3 []uint64) {
	Active().MulCoeffsMontgomeryLazy(s, p1, p2, p3)
}

// MulCoeffsMontgomeryThenAdd calls the active variant's MulCoeffsMontgomeryThenAdd.
func MulCoeffsMontgomeryThenAdd(s *ring.SubRing, p1, p2, p3 []uint64) {
	Active().MulCoeffsMontgomeryThenAdd(s, p1, p2, p3)
}

// MulCoeffsMontgomeryLazyThenAddLazy calls the active variant's
// MulCoeffsMontgomeryLazyThenAddLazy.
func MulCoeffsMontgomeryLazyThenAddLazy(s *ring.SubRing, p1, p2, p3 []uint64) {
	Active().MulCoeffsMontgomeryLazyThenAddLazy(s, p1, p2, p3)
}

// MulScalarMontgomeryThenAdd calls the active variant's MulScalarMontgomeryThenAdd.
func MulScalarMontgomeryThenAdd(s *ring.SubRing, p1 []uint64, scalarMont uint64, p2 []uint64) {
	Active().MulScalarMontgomeryThenAdd(s, p1, scalarMont, p2)
}

// Add calls the active variant's Add.
func Add(s *ring.SubRing, p1, p2, p3 []uint64) { Active().Add(s, p1, p2, p3) }

// Sub calls the active variant's Sub.
func Sub(s *ring.SubRing, p1, p2, p3 []uint64) { Active().Sub(s, p1, p2, p3) }

// Neg calls the active variant's Neg.
func Neg(s *ring.SubRing, p1, p2 []uint64) { Active().Neg(s, p1, p2) }

// Reduce calls the active variant's Reduce.
func Reduce(s *ring.SubRing, p1, p2 []uint64) { Active().Reduce(s, p1, p2) }
