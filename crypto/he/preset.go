package he

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Preset is a named CKKS parameter set on the conjugate-invariant ring (real
// slots only: N values per ciphertext for ring degree N), with what it is for
// and how secure it is. Jobs and key sets name presets; nobody passes moduli
// around.
type Preset struct {
	// Name identifies the preset in jobs, key sets and on the wire.
	Name string
	// LogN is log2 of the ring degree N; a ciphertext holds N real values.
	LogN int
	// Q are the ciphertext primes, q0 first; P the key-switching primes
	// (none when no evaluation key is ever made).
	Q, P []uint64
	// Depth is the number of rescalings a circuit may use.
	Depth int
	// LogScale is log2 of the scale of fresh encryptions used by circuits
	// that multiply (0: the preset has no multiplicative circuit).
	LogScale int
	// Security is the security level per the HomomorphicEncryption.org
	// standard (ternary secret, error σ = 3.2) for this ring dimension and
	// log2(QP), with the table row it follows from.
	Security string
	// Use says which jobs the preset is for.
	Use string
	// Relinearization reports whether circuits on this preset multiply
	// ciphertexts, so that key generation must make a relinearization key.
	Relinearization bool

	// The affine circuit (sums of encrypted values) runs at AffineLevel with
	// scale 2^AffineLogScale; key-switch shares carry smudging noise of
	// standard deviation 2^LogSmudge. See NoiseBudget.
	AffineLevel, AffineLogScale, LogSmudge int
}

// The presets. The primes are NTT-friendly for the conjugate-invariant ring
// (q ≡ 1 mod 4N), found with lattigo's NTTFriendlyPrimesGenerator going down
// from 2^50 (2^55 for the two larger ones, 2^30 for affine30-ci14) and
// checked by TestPresets. Primes below 2^50 let the 52-bit SIMD kernels
// (AVX-512 IFMA) apply; primes below 2^30 the 32-bit ones (AVX2, whose
// multiply is 32×32 bits, with lazy values below 4q < 2^32).
var (
	// AffineCI14 is for affine circuits (sums of ciphertexts, plaintext
	// constants, no ciphertext multiplication): joint scorecard points and
	// log-odds. Two 50-bit primes, log2 Q = 100: values are encrypted at
	// scale 2^82 at level 1 and, after the key switch, decoded there
	// (Decryptor.Decrypt). Log-odds error std 2.3e-6 for three parties
	// (AffineNoise); measured maxima in the package documentation.
	AffineCI14 = &Preset{
		AffineLevel:    1,
		AffineLogScale: 82,
		LogSmudge:      55,
		Name:           "affine-ci14",
		LogN:           14,
		Q:              []uint64{0x3ffffffdf0001, 0x3ffffffd20001},
		Security:       "≥256-bit: n = 2^14, log2 QP = 100 ≤ 237 (HE standard, 256-bit row for n = 2^14)",
		Use:            "score: sums of encrypted partial log-odds, bands (oblivious table lookup), depth 0-1",
	}
	// Affine30CI14 is AffineCI14 built from four 30-bit primes instead of
	// two 50-bit ones, for servers whose SIMD multiply is 32 bits wide (AVX2
	// without IFMA). The same ring, security row, scale 2^82 and smudging
	// 2^55, hence the same precision (AffineNoise) and smudging margin:
	// values are encrypted at level 3 (log2 Q = 120, room for 2^35 at scale
	// 2^82 where the 50-bit preset has 2^15), and after the key switch
	// decoded there through 128-bit words (Encoder.Decode) rather than
	// lattigo's big.Int path, as affine-ci14's results are. Ciphertexts
	// at level 3 are 4 limbs of 64-bit words where affine-ci14's are 2: twice
	// the bytes on the wire. Measured (bench he, 3 × 200,000 rows): max
	// error of the log-odds 1.2e-5, probability 2.3e-6, points 3.4e-4;
	// affine-ci14's 1.1e-5, 2.4e-6 and 3.2e-4 (package documentation).
	Affine30CI14 = &Preset{
		AffineLevel:    3,
		AffineLogScale: 82,
		LogSmudge:      55,
		Name:           "affine30-ci14",
		LogN:           14,
		Q:              []uint64{0x3ffc0001, 0x3fed0001, 0x3fde0001, 0x3fd20001},
		Security:       "≥256-bit: n = 2^14, log2 QP = 120 ≤ 237 (HE standard, 256-bit row for n = 2^14)",
		Use:            "as affine-ci14, on servers without AVX-512 IFMA (AVX2 kernels for primes below 2^31)",
	}
	// AffineCI12 is AffineCI14 on a ring of degree 2^12: 4,096 values per
	// ciphertext, for small jobs (and fast tests). Same moduli size.
	AffineCI12 = &Preset{
		AffineLevel:    1,
		AffineLogScale: 82,
		LogSmudge:      55,
		Name:           "affine-ci12",
		LogN:           12,
		Q:              []uint64{0x3ffffffffc001, 0x3fffffffcc001},
		Security:       "128-bit: n = 2^12, log2 QP = 100 ≤ 109 (HE standard, 128-bit row for n = 2^12)",
		Use:            "as affine-ci14, for jobs of a few thousand rows",
	}
	// SigmoidCI14 evaluates a degree-31 Chebyshev approximation of the
	// logistic function on [-8, 8] on top of the affine circuit. Parties
	// encrypt their partial log-odds divided by 8 at the top level (scale
	// 2^50), so the sum is already in [-1, 1] and the polynomial takes five
	// levels (Paterson-Stockmeyer, degree 31 = 2^5 - 1), ending at level 0.
	// q0 has 55 bits so that the output (at most 1, at scale 2^50) fits
	// there; the five scale primes have 50 bits; one 55-bit key-switching
	// prime for the relinearization key.
	SigmoidCI14 = &Preset{
		Name:  "sigmoid-ci14",
		LogN:  14,
		Depth: 5,
		Q: []uint64{0x7fffffffe90001,
			0x3ffffffdf0001, 0x3ffffffd20001, 0x3ffffffcd0001, 0x3ffffffc70001, 0x3ffffffb80001},
		P:               []uint64{0x7fffffffbf0001},
		LogScale:        50,
		Relinearization: true,
		AffineLevel:     1,
		AffineLogScale:  82,
		LogSmudge:       55,
		Security:        "128-bit: n = 2^14, log2 QP = 360 ≤ 438 (HE standard, 128-bit row for n = 2^14)",
		Use:             "score with the probability computed under encryption (needs a relinearization key)",
	}
)

var presets = map[string]*Preset{
	AffineCI14.Name:   AffineCI14,
	Affine30CI14.Name: Affine30CI14,
	AffineCI12.Name:   AffineCI12,
	SigmoidCI14.Name:  SigmoidCI14,
}

// DefaultPreset is the preset of score jobs that do not name one.
const DefaultPreset = "affine-ci14"

// PresetByName returns the named preset.
func PresetByName(name string) (*Preset, error) {
	if p, ok := presets[name]; ok {
		return p, nil
	}
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("he: unknown parameter preset %q (have %v)", name, names)
}

// Presets returns all presets, sorted by name.
func Presets() []*Preset {
	out := make([]*Preset, 0, len(presets))
	for _, p := range presets {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Preset) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

// Slots is the number of real values one ciphertext holds.
func (p *Preset) Slots() int { return 1 << p.LogN }

// LogQP returns log2 of the product of all primes.
func (p *Preset) LogQP() float64 {
	var s float64
	for _, q := range append(slices.Clone(p.Q), p.P...) {
		s += log2(q)
	}
	return s
}

// MaxPrimeBits is the bit length of the largest prime.
func (p *Preset) MaxPrimeBits() int {
	m := 0
	for _, q := range append(slices.Clone(p.Q), p.P...) {
		m = max(m, bits.Len64(q))
	}
	return m
}

var (
	paramsMu    sync.Mutex
	paramsCache = map[string]hefloat.Parameters{}
)

// Params returns the lattigo parameters of the preset (built once).
func (p *Preset) Params() (hefloat.Parameters, error) {
	paramsMu.Lock()
	defer paramsMu.Unlock()
	if pp, ok := paramsCache[p.Name]; ok {
		return pp, nil
	}
	logScale := p.LogScale
	if logScale == 0 {
		logScale = encodeLogScale
	}
	pp, err := hefloat.NewParametersFromLiteral(hefloat.ParametersLiteral{
		LogN:            p.LogN,
		Q:               p.Q,
		P:               p.P,
		RingType:        ring.ConjugateInvariant,
		Xs:              rlwe.DefaultXs,
		Xe:              rlwe.DefaultXe,
		LogDefaultScale: logScale,
	})
	if err != nil {
		return hefloat.Parameters{}, fmt.Errorf("he: preset %s: %w", p.Name, err)
	}
	paramsCache[p.Name] = pp
	return pp, nil
}

// MustParams is Params for the presets of this package, which are checked
// by the tests.
func (p *Preset) MustParams() hefloat.Parameters {
	pp, err := p.Params()
	if err != nil {
		panic(err)
	}
	return pp
}
