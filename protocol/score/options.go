package score

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mitai-dev/mitai/crypto/he"
)

// ReleaseMode is what a contributing party lets the receiver learn about the
// joint score.
type ReleaseMode int

// The release modes.
const (
	// Refuse: the party does not take part.
	Refuse ReleaseMode = iota
	// Exact: the receiver learns the exact joint score (up to the stated
	// CKKS error).
	Exact
	// Bands: the receiver learns only which score band each row falls in
	// (two-party jobs only).
	Bands
	// Noise: the party adds Laplace noise to its own partial log-odds, so
	// that the receiver's view of it is ε-differentially private per row.
	Noise
)

var releaseNames = map[ReleaseMode]string{Refuse: "refuse", Exact: "exact", Bands: "bands", Noise: "noise"}

func (m ReleaseMode) String() string {
	if s, ok := releaseNames[m]; ok {
		return s
	}
	return fmt.Sprintf("release(%d)", int(m))
}

// ParseReleaseMode parses "refuse", "exact", "bands" or "noise".
func ParseReleaseMode(s string) (ReleaseMode, error) {
	for m, n := range releaseNames {
		if strings.EqualFold(s, n) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("score: unknown release mode %q (want refuse, exact, bands or noise)", s)
}

// Release is a policy's answer for one situation.
type Release struct {
	Mode ReleaseMode
	// Bound, for Bands and Noise: the party's partial log-odds are clamped to
	// [-Bound, Bound] before anything else (the sensitivity of the noise, the
	// range of the band lookup).
	Bound float64
	// Epsilon, for Noise: the Laplace scale is 2·Bound/Epsilon.
	Epsilon float64
	// MinBandWidth, for Bands: the narrowest band (in scorecard points) the
	// party accepts; narrow bands are an exact score by another name.
	MinBandWidth float64
	// Levels, for Bands: the party's clamped partial log-odds are rounded to
	// one of Levels equally spaced values before the lookup (0 means 64);
	// the receiver's bands are exact for the rounded score. The lookup costs
	// Levels ciphertexts per block of rows.
	Levels int
}

// Policy is a contributing party's policy for score jobs: what it releases
// when it is the receiver's only partner (where the receiver can subtract
// its own part from an exact score and learn this party's per row), and
// when there are other partners too.
type Policy struct {
	TwoParty   Release
	MultiParty Release
}

// DefaultPolicy refuses exact two-party scoring and allows exact scoring
// with two or more partners.
var DefaultPolicy = Policy{TwoParty: Release{Mode: Refuse}, MultiParty: Release{Mode: Exact}}

// Check reports a malformed policy.
func (p Policy) Check() error {
	if err := p.TwoParty.check(); err != nil {
		return err
	}
	return p.MultiParty.check()
}

// DefaultLevels is the default number of quantization levels of Bands.
const DefaultLevels = 64

// MaxLevels bounds Release.Levels.
const MaxLevels = 1024

func (r Release) check() error {
	switch r.Mode {
	case Refuse, Exact:
		return nil
	case Noise:
		if !(r.Bound > 0 && r.Bound <= MaxContribution) || !(r.Epsilon > 0 && finite(r.Epsilon)) {
			return fmt.Errorf("score: noise release needs 0 < bound ≤ %d and ε > 0 (have %v, %v)", MaxContribution, r.Bound, r.Epsilon)
		}
	case Bands:
		if !(r.Bound > 0 && r.Bound <= MaxContribution) || !(r.MinBandWidth >= 0 && finite(r.MinBandWidth)) {
			return fmt.Errorf("score: bands release needs 0 < bound ≤ %d and a minimum band width ≥ 0", MaxContribution)
		}
		if r.Levels != 0 && (r.Levels < 2 || r.Levels > MaxLevels) {
			return fmt.Errorf("score: bands release with %d levels, want 2 to %d", r.Levels, MaxLevels)
		}
	default:
		return fmt.Errorf("score: unknown release mode %d", r.Mode)
	}
	return nil
}

// Scorecard maps log-odds of default z to points: points = Offset −
// Factor·z, Factor = PDO/ln 2, Offset = Base − Factor·ln(Odds): a row
// whose odds (good:bad) are Odds scores Base, and doubling the odds adds
// PDO points.
type Scorecard struct {
	PDO, Base, Odds float64
}

// DefaultScorecard: 600 points at odds 50:1, 20 points to double the odds.
// Factor = 28.8539, Offset = 487.1229.
var DefaultScorecard = Scorecard{PDO: 20, Base: 600, Odds: 50}

// Factor is PDO / ln 2.
func (s Scorecard) Factor() float64 { return s.PDO / math.Ln2 }

// Offset is Base − Factor·ln(Odds).
func (s Scorecard) Offset() float64 { return s.Base - s.Factor()*math.Log(s.Odds) }

// Points maps log-odds of default to points.
func (s Scorecard) Points(z float64) float64 { return s.Offset() - s.Factor()*z }

func (s Scorecard) check() error {
	if !(s.PDO > 0 && finite(s.PDO)) || !finite(s.Base) || !(s.Odds > 0 && finite(s.Odds)) {
		return fmt.Errorf("score: scorecard needs PDO > 0, finite base and odds > 0 (have %+v)", s)
	}
	return nil
}

// Probability says whether and how the receiver gets the probability of
// default.
type Probability int

const (
	// ProbabilityPlain (the default): the receiver computes 1/(1+e^-z) from
	// the decrypted log-odds. Exact, free, and it reveals nothing more than
	// the log-odds do (the logistic function is a bijection).
	ProbabilityPlain Probability = iota
	// ProbabilityNone: no probability in the result.
	ProbabilityNone
	// ProbabilityEncrypted: every party evaluates a degree-31 Chebyshev
	// approximation of the logistic function on [-8, 8] under encryption
	// (preset sigmoid-ci14, with its relinearization key) and the receiver
	// decrypts the probability; the log-odds still come from the affine
	// circuit. Every party clamps its partial log-odds to
	// ±Options.SigmoidBound so that the sum stays inside [-8, 8]. Slower and
	// less precise than ProbabilityPlain; its smudging margin is smaller (see
	// the package documentation). For comparison and for circuits that need
	// it, not the default.
	ProbabilityEncrypted
)

// SigmoidInterval is the half-width of the interval of the encrypted
// sigmoid approximation, and SigmoidDegree its degree.
const (
	SigmoidInterval = 8
	SigmoidDegree   = 31
)

// Options configure one party's run. Every party passes the same JobID,
// Receiver, Parties, KeySet, Scorecard, Bands and Probability; the hello
// exchange checks that they do.
type Options struct {
	JobID string
	// Receiver is the party that learns the scores (the bank).
	Receiver string
	// Parties are all participants, the receiver included, in any order.
	Parties []string
	// KeySet is the collective key set the job names; Secret is this party's
	// share of it.
	KeySet *he.KeySet
	Secret *he.SecretShare
	// Model is this party's model block; Block its features.
	Model *Model
	// Clamp clamps out-of-range feature values into the model's range
	// instead of failing.
	Clamp bool
	// Scorecard maps log-odds to points; zero means DefaultScorecard.
	Scorecard Scorecard
	// Bands are the cut points (in points, ascending) of the score bands a
	// Bands release returns; needed when a partner releases only bands.
	// Row band i (0..len(Bands)) holds points in [Bands[i-1], Bands[i]).
	Bands []float64
	// Probability selects how the probability is computed.
	Probability Probability
	// SigmoidBound (ProbabilityEncrypted only): this party's partial
	// log-odds are clamped to ±SigmoidBound; the bounds of all parties must
	// add up to at most SigmoidInterval.
	SigmoidBound float64
	// Policy is this party's policy (ignored for the receiver); zero value
	// means DefaultPolicy.
	Policy *Policy
	// NoiseKey, for a Noise release: the noise of row r is drawn from a
	// stream keyed by HKDF(NoiseKey, job id), so that a retried job gets the
	// same noise and cannot be averaged away. Nil means fresh randomness
	// (crypto/rand) on every run.
	NoiseKey []byte
	// IdleTimeout bounds the wait for any one message; 0 means 2 minutes.
	IdleTimeout time.Duration
	// Workers is the number of goroutines for ciphertext work; 0 means
	// GOMAXPROCS.
	Workers int
}

// MaxRows bounds the rows of one job.
const MaxRows = 1 << 28

// MaxBands bounds the number of bands (len(Bands)+1).
const MaxBands = 16

func (o Options) withDefaults(self string) (Options, error) {
	if o.JobID == "" || len(o.JobID) > 200 {
		return o, errors.New("score: job id must be 1 to 200 bytes")
	}
	if o.KeySet == nil || o.Secret == nil {
		return o, errors.New("score: a key set and this party's secret share are required")
	}
	if o.Model == nil {
		return o, errors.New("score: a model is required")
	}
	if o.Model.Party != self {
		return o, fmt.Errorf("score: the model is party %s's, we are %s", o.Model.Party, self)
	}
	if o.Secret.Party != self {
		return o, fmt.Errorf("score: the secret share is party %s's, we are %s", o.Secret.Party, self)
	}
	if o.Secret.KeySet != o.KeySet.Digest() {
		return o, fmt.Errorf("score: our secret share belongs to key set %x..., the job names %s", o.Secret.KeySet[:8], o.KeySet.ID()[:16])
	}
	if !slices.Contains(o.Parties, o.Receiver) {
		return o, fmt.Errorf("score: receiver %q is not among the parties %v", o.Receiver, o.Parties)
	}
	for _, p := range o.Parties {
		if _, ok := slices.BinarySearch(o.KeySet.Parties, p); !ok {
			return o, fmt.Errorf("score: party %s holds no share of key set %s (its parties: %v)", p, o.KeySet.ID()[:16], o.KeySet.Parties)
		}
	}
	if ks := o.KeySet; ks.Threshold == len(ks.Parties) && len(o.Parties) != len(ks.Parties) {
		return o, fmt.Errorf("score: key set %s is %d-of-%d: all of %v must take part, the job has %v", ks.ID()[:16], ks.Threshold, len(ks.Parties), ks.Parties, o.Parties)
	} else if len(o.Parties) < ks.Threshold {
		return o, fmt.Errorf("score: key set %s needs %d of its parties, the job has %d", ks.ID()[:16], ks.Threshold, len(o.Parties))
	}
	if o.Scorecard == (Scorecard{}) {
		o.Scorecard = DefaultScorecard
	}
	if err := o.Scorecard.check(); err != nil {
		return o, err
	}
	if len(o.Bands)+1 > MaxBands {
		return o, fmt.Errorf("score: %d bands, at most %d", len(o.Bands)+1, MaxBands)
	}
	for i, c := range o.Bands {
		if !finite(c) || i > 0 && c <= o.Bands[i-1] {
			return o, fmt.Errorf("score: band cut points must be finite and ascending: %v", o.Bands)
		}
	}
	switch o.Probability {
	case ProbabilityPlain, ProbabilityNone:
	case ProbabilityEncrypted:
		if !o.KeySet.Preset.Relinearization || o.KeySet.RelinKey == nil {
			return o, fmt.Errorf("score: the encrypted probability needs a key set with a relinearization key (preset sigmoid-ci14); key set %s is %s", o.KeySet.ID()[:16], o.KeySet.Preset.Name)
		}
		if !(o.SigmoidBound > 0 && o.SigmoidBound <= SigmoidInterval) {
			return o, fmt.Errorf("score: the encrypted probability needs 0 < SigmoidBound ≤ %d", SigmoidInterval)
		}
	default:
		return o, fmt.Errorf("score: unknown probability mode %d", o.Probability)
	}
	if o.Policy == nil {
		p := DefaultPolicy
		o.Policy = &p
	}
	if err := o.Policy.Check(); err != nil {
		return o, err
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}
