package he

import (
	"fmt"
	"math"
	mrand "math/rand/v2"

	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

// MaxLogSmudge bounds the standard deviation of smudging noise: samples are
// cut at 16σ and must fit an int64.
const MaxLogSmudge = 58

// Smudger adds wide Gaussian noise ("smudging" or "noise flooding") to
// polynomials, to hide the noise of a ciphertext that a key-switch share
// or a re-randomised result would otherwise reveal to the receiver.
//
// lattigo's Gaussian sampler is exact only for samples below the smallest
// prime (2^49.99 for the 50-bit presets, 2^29.99 for affine30-ci14), which
// caps its flooding near 2^45 (2^25).
// Smudger reaches σ = 2^58: a sample is a discrete Gaussian of step 2^t
// (t = logSigma-40, so the coarse part is an exact float64 integer) plus an
// independent uniform integer in [-2^(t-1), 2^(t-1)), cut at 16σ. Its
// density is smooth at every scale above 2^t relative to σ, which is what
// the Rényi-divergence argument for smudging needs (a shift by the hidden
// noise, at most 2^14 here, changes it by a factor 1+O(2^14·x/σ²)). The
// randomness is a stream (AES-256-CTR or ChaCha8) keyed from crypto/rand.
//
// A Smudger is not safe for concurrent use.
type Smudger struct {
	logSigma int
	t        uint
	coarse   float64     // σ / 2^t
	cut      float64     // 16σ / 2^t
	rng      *mrand.Rand // for NormFloat64
	src      *stream     // rng's source, for uniforms without the interface call
	buf      ring.Poly
	x        []int64
	r        *ring.Ring
}

// NewSmudger returns a smudger for polynomials of ring r (at any level)
// with standard deviation 2^logSigma.
func NewSmudger(r *ring.Ring, logSigma int) (*Smudger, error) {
	if logSigma < 1 || logSigma > MaxLogSmudge {
		return nil, fmt.Errorf("he: smudging σ = 2^%d outside 2^1..2^%d", logSigma, MaxLogSmudge)
	}
	src, err := newStream(true)
	if err != nil {
		return nil, err
	}
	t := max(0, logSigma-40)
	s := &Smudger{
		logSigma: logSigma,
		t:        uint(t),
		coarse:   math.Exp2(float64(logSigma - t)),
		rng:      mrand.New(src),
		src:      src,
		buf:      r.NewPoly(),
		x:        make([]int64, r.N()),
		r:        r,
	}
	s.cut = 16 * s.coarse
	return s, nil
}

// sample returns one noise value.
func (s *Smudger) sample() int64 {
	var c float64
	for {
		c = math.Round(s.rng.NormFloat64() * s.coarse)
		if math.Abs(c) <= s.cut {
			break
		}
	}
	x := int64(c) << s.t
	if s.t > 0 {
		x += int64(s.src.Uint64()&(1<<s.t-1)) - 1<<(s.t-1)
	}
	return x
}

// add adds a fresh noise value to every x[j].
func (s *Smudger) add(x []int64) {
	for j := range x {
		x[j] += s.sample()
	}
}

// AddNTT adds fresh noise to p, a polynomial in the NTT domain at the
// given level (p's rows are the first level+1 primes).
func (s *Smudger) AddNTT(level int, p ring.Poly) { s.addPoly(level, p, true) }

// addPoly adds fresh noise to p at level, in the NTT domain or not.
func (s *Smudger) addPoly(level int, p ring.Poly, ntt bool) {
	x := s.x[:s.r.N()]
	clear(x)
	s.add(x)
	subs := s.r.SubRings[:level+1]
	setSigned(subs, x, s.buf)
	for i, sub := range subs {
		if ntt {
			nttLimb(sub, s.buf.Coeffs[i])
		}
		kernel.Add(sub, p.Coeffs[i], s.buf.Coeffs[i], p.Coeffs[i])
	}
}

// setSigned writes x mod q to the limbs of p, one per SubRing, in [0, q),
// without branches on the values: |x| reduced by kernel.Reduce, then
// negated where x < 0.
func setSigned(subs []*ring.SubRing, x []int64, p ring.Poly) {
	for i, sub := range subs {
		row := p.Coeffs[i][:len(x)]
		for j, v := range x {
			m := uint64(v >> 63)
			row[j] = (uint64(v) ^ m) - m // |v|; -2^63 cannot occur (|v| ≤ 2^62)
		}
		kernel.Reduce(sub, row, row)
		q := sub.Modulus
		for j, v := range x {
			r := row[j]
			neg := uint64(v>>63) & -((-r) >> 63) // v < 0 and r != 0
			row[j] = r ^ ((r ^ (q - r)) & neg)
		}
	}
}
