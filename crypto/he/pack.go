package he

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// encodeLogScale is the largest scale at which lattigo's 64-bit path
// encodes every value Encode accepts (|v| < 2^22). Encode picks the
// largest scale the actual values allow, up to 2^61/max|v|, and reaches
// larger scales by multiplying the plaintext by an exact power of two: one
// scalar multiplication instead of a big-number conversion per
// coefficient, with a rounding error of 2^-61 relative to the largest
// value. The rounding error is a deterministic function of the values, so
// keeping it far below the smudging noise matters as much as precision.
const encodeLogScale = 40

// Blocks is the number of ciphertexts that hold rows values, slots a
// ciphertext.
func Blocks(rows, slots int) int { return (rows + slots - 1) / slots }

// BlockRange is the half-open range of rows that block b holds.
func BlockRange(b, rows, slots int) (lo, hi int) {
	lo = b * slots
	return lo, min(lo+slots, rows)
}

// Scale returns the exact scale 2^logScale.
func Scale(logScale int) rlwe.Scale {
	return rlwe.NewScale(new(big.Float).SetMantExp(big.NewFloat(1), logScale))
}

func logScale(s rlwe.Scale) float64 {
	f, _ := s.Value.Float64()
	return math.Log2(f)
}

// Encoder packs a block of at most Slots() aligned rows of one column into
// a plaintext: value i goes to slot i, unused slots are zero. It is not
// safe for concurrent use; ShallowCopy gives another for a worker.
type Encoder struct {
	preset *Preset
	params hefloat.Parameters
	enc    *hefloat.Encoder
	buf    []float64
	cbuf   []complex128
	ibuf   []int64
	// maxStep is the largest s with 2^s below every prime: EncodeTo scales
	// up by 2^s at a time.
	maxStep int
	// crt[level] decodes plaintexts at level through 128-bit words (nil
	// where the moduli product is wider; level 0 is lattigo's 64-bit path).
	crt    []*crtDecoder
	poly   ring.Poly
	crtBuf []uint64
}

// NewEncoder returns an encoder for the preset.
func NewEncoder(p *Preset) (*Encoder, error) {
	pp, err := p.Params()
	if err != nil {
		return nil, err
	}
	e := &Encoder{preset: p, params: pp, enc: hefloat.NewEncoder(pp), maxStep: 63, crt: make([]*crtDecoder, pp.MaxLevel()+1)}
	for _, q := range pp.Q() {
		e.maxStep = min(e.maxStep, bits.Len64(q)-1)
	}
	for level := 1; level <= pp.MaxLevel(); level++ {
		e.crt[level] = newCRTDecoder(pp.Q()[:level+1])
	}
	e.alloc()
	return e, nil
}

func (e *Encoder) alloc() {
	n := e.params.MaxSlots()
	e.buf, e.cbuf, e.ibuf = make([]float64, n), make([]complex128, n), make([]int64, n)
	e.poly = e.params.RingQ().NewPoly()
	e.crtBuf = make([]uint64, 2*(e.params.MaxLevel()+1))
}

// ShallowCopy returns an encoder that shares read-only tables with e.
func (e *Encoder) ShallowCopy() *Encoder {
	c := &Encoder{preset: e.preset, params: e.params, enc: e.enc.ShallowCopy(), maxStep: e.maxStep, crt: e.crt}
	c.alloc()
	return c
}

// Params returns the lattigo parameters.
func (e *Encoder) Params() hefloat.Parameters { return e.params }

// MaxValue is the largest absolute value that Encode accepts at level and
// scale 2^logScale: the encoded value must stay below a quarter of the
// modulus at that level, and, at scales up to 2^40, inside lattigo's
// 64-bit encoding path.
func (e *Encoder) MaxValue(level, logScale int) float64 {
	logQ := 0.0
	for _, q := range e.params.Q()[:level+1] {
		logQ += log2(q)
	}
	m := math.Exp2(math.Floor(logQ) - 2 - float64(logScale))
	if logScale < encodeLogScale {
		m = min(m, math.Exp2(float64(61-logScale)))
	} else {
		m = min(m, math.Exp2(61-encodeLogScale))
	}
	return m
}

// Encode packs values (at most Slots()) into a new plaintext at level with
// scale 2^logScale. A value that is not finite or exceeds MaxValue is an
// error naming its index.
func (e *Encoder) Encode(values []float64, level, logScale int) (*rlwe.Plaintext, error) {
	pt := hefloat.NewPlaintext(e.params, level)
	if err := e.EncodeTo(values, logScale, pt); err != nil {
		return nil, err
	}
	return pt, nil
}

// EncodeTo is Encode into pt, at pt's level.
func (e *Encoder) EncodeTo(values []float64, logScale int, pt *rlwe.Plaintext) error {
	if len(values) > len(e.buf) {
		return fmt.Errorf("he: %d values, more than the %d slots of a ciphertext", len(values), len(e.buf))
	}
	level := pt.Level()
	if level > e.params.MaxLevel() {
		return fmt.Errorf("he: level %d above the preset's maximum %d", level, e.params.MaxLevel())
	}
	limit := e.MaxValue(level, logScale)
	for i, v := range values {
		if math.IsNaN(v) || math.Abs(v) > limit {
			return fmt.Errorf("he: value %d is %v, outside ±%g (level %d, scale 2^%d)", i, v, limit, level, logScale)
		}
	}
	maxAbs := 0.0
	for _, v := range values {
		maxAbs = max(maxAbs, math.Abs(v))
	}
	encScale := logScale
	if maxAbs > 0 {
		_, exp := math.Frexp(maxAbs) // maxAbs < 2^exp
		encScale = min(logScale, 61-exp)
	} else {
		encScale = min(logScale, 61)
	}
	up := logScale - encScale
	pt.Scale = Scale(encScale)
	pt.LogDimensions = e.params.LogMaxDimensions()
	pt.IsBatched = true
	pt.IsNTT = true
	if err := e.embed(values, encScale, pt); err != nil {
		return err
	}
	if up > 0 {
		rq := e.params.RingQ().AtLevel(level)
		for up > 0 { // multiply by 2^up in steps below every prime
			s := min(up, e.maxStep)
			rq.MulScalar(pt.Value, 1<<s, pt.Value)
			up -= s
		}
		pt.Scale = Scale(logScale)
	}
	return nil
}

// embed is lattigo's encoding of real values on the conjugate-invariant
// ring with all N slots (inverse canonical embedding by lattigo's IFFT,
// then coefficient i = round(Re(IFFT)[i]·2^logScale) in every prime, then
// the NTT), without lattigo's per-coefficient conversion, which allocates:
// every |coefficient·2^logScale| here is below 2^62 (EncodeTo picks the
// scale so), so an int64 holds it exactly. TestEmbedMatchesLattigo checks
// that the plaintexts are identical to lattigo's Encode.
func (e *Encoder) embed(values []float64, logScale int, pt *rlwe.Plaintext) error {
	for i, v := range values {
		e.cbuf[i] = complex(v, 0)
	}
	clear(e.cbuf[len(values):])
	if err := e.enc.IFFT(e.cbuf, e.params.LogMaxSlots()); err != nil {
		return fmt.Errorf("he: encode: %w", err)
	}
	scale := math.Exp2(float64(logScale))
	for i, c := range e.cbuf {
		x := real(c) * scale
		if x >= 0 {
			e.ibuf[i] = int64(x + 0.5)
		} else {
			e.ibuf[i] = -int64(-x + 0.5)
		}
	}
	subs := e.params.RingQ().SubRings[:pt.Level()+1]
	setSigned(subs, e.ibuf, pt.Value)
	for i, s := range subs {
		nttLimb(s, pt.Value.Coeffs[i])
	}
	return nil
}

// Decode unpacks the first len(out) slots of pt. Above level 0, where
// lattigo converts every coefficient through a big.Int, a plaintext whose
// moduli product fits 128 bits is decoded by the same arithmetic in
// machine words (decodeCRT), to the same bits.
func (e *Encoder) Decode(pt *rlwe.Plaintext, out []float64) error {
	if len(out) > len(e.buf) {
		return fmt.Errorf("he: %d values wanted, a ciphertext has %d slots", len(out), len(e.buf))
	}
	var err error
	if l := pt.Level(); l > 0 && l < len(e.crt) && e.crt[l] != nil && pt.IsBatched && pt.LogDimensions == e.params.LogMaxDimensions() {
		err = e.decodeCRT(e.crt[l], pt)
	} else {
		err = e.enc.Decode(pt, e.buf)
	}
	if err != nil {
		return fmt.Errorf("he: decode: %w", err)
	}
	copy(out, e.buf)
	return nil
}

func log2(q uint64) float64 { return math.Log2(float64(q)) }
