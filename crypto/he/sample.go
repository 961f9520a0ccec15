package he

import (
	"math"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

// gaussSigma and gaussBound are lattigo's rlwe.DefaultXe (σ = 3.2, samples
// cut at |x| ≤ 19.2, so |x| ≤ 19), which the presets use and the security
// levels in doc.go assume; TestSamplerDistributions checks them.
const (
	gaussSigma = rlwe.DefaultNoise
	gaussBound = 19
)

// gaussCDT is the cumulative distribution table of |X| for X the discrete
// Gaussian of standard deviation gaussSigma on [-gaussBound, gaussBound]:
// gaussCDT[k] is 2^63·P(|X| ≤ k) rounded. A uniform 63-bit r gives
// |X| = #{k : r ≥ gaussCDT[k]}, and an independent bit its sign (both
// signs of 0 are 0, so P(X = 0) is P(|X| = 0)), which makes the
// distribution exactly symmetric.
//
// The table is 2^63 minus the tail probabilities P(|X| > k), each summed in
// float64 from the far end, so every probability P(|X| = k) carries a
// relative error below 2^-35 (2^-63 of rounding on the smallest,
// P(|X| = 19) ≈ 2^-27.5; about 2^-50 on the central ones): far below what
// the relative-error (Rényi divergence) argument needs for the ~2^40 samples
// of a key's lifetime (Prest, ASIACRYPT 2017).
var gaussCDT = func() [gaussBound]uint64 {
	var w [gaussBound + 1]float64 // w[k] ∝ P(|X| = k)
	total := 0.0
	for k := range w {
		w[k] = math.Exp(-float64(k*k) / (2 * gaussSigma * gaussSigma))
		if k > 0 {
			w[k] *= 2
		}
		total += w[k]
	}
	var t [gaussBound]uint64
	tail := 0.0
	for k := gaussBound - 1; k >= 0; k-- {
		tail += w[k+1] // P(|X| > k)·total
		t[k] = 1<<63 - uint64(math.Round(math.Ldexp(tail/total, 63)))
	}
	return t
}()

// sampler draws the secret randomness of an encryption or a key-switch
// share: ternary polynomials (u) and discrete Gaussian ones (e), written as
// residues straight into every limb of a polynomial in the coefficient
// domain. Its randomness is a stream (AES-256-CTR or ChaCha8) keyed from
// crypto/rand; a sampler is not safe for concurrent use.
//
// The distributions are those of the presets' parameters, checked by
// TestSamplerDistributions:
//
//   - ternary: -1, 0, 1 each with probability 1/3 exactly, lattigo's
//     rlwe.DefaultXs (ring.Ternary{P: 2/3});
//   - Gaussian: the discrete Gaussian of σ = 3.2 on |x| ≤ 19 from gaussCDT.
//     lattigo's rlwe.DefaultXe draws round(|z|·σ) with a random sign
//     (z standard normal, cut at 19.2): the same support and a variance
//     larger by about 1/12; the security estimates assume either.
//
// Both draw a fixed amount of randomness per coefficient but the ternary
// rejection step, whose outcome is independent of the accepted values, and
// compare without branches, so that timing reveals nothing of the samples.
type sampler struct {
	rng   *stream
	small []int64  // N values, the sample before it is written to the limbs
	words []uint64 // N random words for the Gaussian
}

func newSampler(n int) (*sampler, error) {
	rng, err := newStream(true)
	if err != nil {
		return nil, err
	}
	return &sampler{rng: rng, small: make([]int64, n), words: make([]uint64, n)}, nil
}

// gaussian fills x with independent discrete Gaussian samples, one 64-bit
// uniform each: 63 bits for |x|, one for the sign, looked up in gaussCDT by
// crypto/kernel's SampleCDT (constant time; 10-14 times the scalar loop with
// AVX2 or AVX-512).
func (s *sampler) gaussian(x []int64) {
	for len(x) > 0 {
		r := s.words[:min(len(x), len(s.words))]
		s.rng.fill(r)
		kernel.SampleCDT(gaussCDT[:], r, x)
		x = x[len(r):]
	}
}

// ternary fills x with independent uniform values of {-1, 0, 1}: five per
// random byte below 3^5 = 243 (bytes 243..255 are rejected).
func (s *sampler) ternary(x []int64) {
	var r uint64
	left := 0 // unused bytes in r
	for j := 0; j < len(x); {
		if left == 0 {
			r, left = s.rng.Uint64(), 8
		}
		b := r & 0xff
		r >>= 8
		left--
		if b >= 243 {
			continue
		}
		for range min(5, len(x)-j) {
			x[j] = int64(b%3) - 1
			b /= 3
			j++
		}
	}
}

// ternaryPoly writes a fresh ternary polynomial to the first len(moduli) limbs
// of p (coefficient domain, residues in [0, q)).
func (s *sampler) ternaryPoly(moduli []uint64, p ring.Poly) {
	x := s.small[:p.N()]
	s.ternary(x)
	setSmall(moduli, x, p)
}

// gaussianPoly writes a fresh discrete Gaussian polynomial to the first
// len(moduli) limbs of p (coefficient domain, residues in [0, q)).
func (s *sampler) gaussianPoly(moduli []uint64, p ring.Poly) {
	x := s.small[:p.N()]
	s.gaussian(x)
	setSmall(moduli, x, p)
}

// setSmall writes x mod q to every limb; every |x[j]| is below every q.
func setSmall(moduli []uint64, x []int64, p ring.Poly) {
	for i, q := range moduli {
		row := p.Coeffs[i][:len(x)]
		for j, v := range x {
			row[j] = uint64(v) + q&uint64(v>>63) // v < 0: q + v
		}
	}
}
