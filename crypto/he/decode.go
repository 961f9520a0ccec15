package he

import (
	"math"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// crtDecoder maps the coefficients of a plaintext at a level above 0 to
// their centered values as float64, as lattigo's decoder does through a
// big.Int per coefficient, but with Garner's mixed-radix CRT in 64-bit
// words: the moduli product at the level must be below 2^128, so that a
// coefficient fits two words. The float64 is the correctly rounded value
// of the centered integer, exactly what big.Float.Float64 gives lattigo,
// so the decoded slots are bit for bit lattigo's (TestDecodeMatchesLattigo).
type crtDecoder struct {
	q    []uint64
	bred [][]uint64
	// qmod[j][i] = q_i mod q_j and inv[j] = (q_0···q_{j-1})^-1 mod q_j,
	// for i < j.
	qmod     [][]uint64
	inv      []uint64
	half     [2]uint64 // (q_0···q_level) >> 1, high word first
	qHi, qLo uint64    // q_0···q_level
}

// newCRTDecoder returns a decoder for the moduli q (one level's chain), or
// nil if their product does not fit 128 bits.
func newCRTDecoder(q []uint64) *crtDecoder {
	n := 0
	for _, qi := range q {
		n += bits.Len64(qi)
	}
	if n > 128 || len(q) < 2 {
		return nil
	}
	d := &crtDecoder{q: q, bred: make([][]uint64, len(q)), qmod: make([][]uint64, len(q)), inv: make([]uint64, len(q))}
	for j, qj := range q {
		d.bred[j] = ring.BRedConstant(qj)
		m := uint64(1)
		for i := range j {
			d.qmod[j] = append(d.qmod[j], q[i]%qj)
			m = ring.BRed(m, q[i]%qj, qj, d.bred[j])
		}
		d.inv[j] = ring.ModExp(m, qj-2, qj)
	}
	d.qHi, d.qLo = 0, 1
	for _, qi := range q {
		d.qHi, d.qLo = mul128(d.qHi, d.qLo, qi)
	}
	d.half = [2]uint64{d.qHi >> 1, d.qLo>>1 | d.qHi<<63}
	return d
}

// mul128 returns (hi·2^64 + lo)·q mod 2^128.
func mul128(hi, lo, q uint64) (uint64, uint64) {
	h, l := bits.Mul64(lo, q)
	return hi*q + h, l
}

// centered returns the centered value of the coefficient with residues
// r[j] mod q_j (r[j] < q_j), correctly rounded to float64; v (len(r)
// words) is scratch for the mixed-radix digits.
func (d *crtDecoder) centered(r, v []uint64) float64 {
	v[0] = r[0]
	for j := 1; j < len(d.q); j++ {
		qj, u := d.q[j], d.bred[j]
		// x mod q_j for x = v_0 + q_0·(v_1 + q_1·(… v_{j-1})), by Horner.
		x := ring.BRedAdd(v[j-1], qj, u)
		for i := j - 2; i >= 0; i-- {
			x = ring.BRed(x, d.qmod[j][i], qj, u) + ring.BRedAdd(v[i], qj, u)
			if x >= qj {
				x -= qj
			}
		}
		t := r[j] + qj - x
		if t >= qj {
			t -= qj
		}
		v[j] = ring.BRed(t, d.inv[j], qj, u)
	}
	hi, lo := uint64(0), v[len(v)-1]
	for i := len(v) - 2; i >= 0; i-- {
		hi, lo = mul128(hi, lo, d.q[i])
		var c uint64
		lo, c = bits.Add64(lo, v[i], 0)
		hi += c
	}
	if hi > d.half[0] || hi == d.half[0] && lo >= d.half[1] {
		var b uint64
		lo, b = bits.Sub64(d.qLo, lo, 0)
		hi = d.qHi - hi - b
		return -u128Float(hi, lo)
	}
	return u128Float(hi, lo)
}

// u128Float returns hi·2^64 + lo rounded to the nearest float64 (ties to
// even): the bits below the top 64 are folded into a sticky bit, far
// below the 53 bits kept, so the one rounding of the conversion is the
// correct one.
func u128Float(hi, lo uint64) float64 {
	if hi == 0 {
		return float64(lo)
	}
	s := uint(bits.Len64(hi))
	top := hi<<(64-s) | lo>>s
	if lo<<(64-s) != 0 {
		top |= 1
	}
	return math.Ldexp(float64(top), int(s))
}

// decodeCRT is lattigo's decoding (hefloat.Encoder.Decode without
// rounding: coefficients centered and divided by the scale, the
// conjugate-invariant fold, the FFT) of pt at a level above 0 through d
// instead of big.Int, into e.buf. pt holds all N slots.
func (e *Encoder) decodeCRT(d *crtDecoder, pt *rlwe.Plaintext) error {
	level := pt.Level()
	rq := e.params.RingQ().AtLevel(level)
	buf := ring.Poly{Coeffs: e.poly.Coeffs[:level+1]}
	if pt.IsNTT {
		for j, s := range rq.SubRings[:level+1] {
			inttLimb(s, pt.Value.Coeffs[j], buf.Coeffs[j])
		}
	} else {
		buf.CopyLvl(level, pt.Value)
	}
	scale := pt.Scale.Float64()
	r, v := e.crtBuf[:level+1], e.crtBuf[level+1:2*level+2]
	for i := range e.cbuf {
		for j := range r {
			r[j] = buf.Coeffs[j][i]
		}
		e.cbuf[i] = complex(d.centered(r, v)/scale, 0)
	}
	// [X]/(X^N+1) to [X+X^-1]/(X^N+1), as lattigo does for real slots.
	for i := 1; i < len(e.cbuf); i++ {
		e.cbuf[i] -= complex(0, real(e.cbuf[len(e.cbuf)-i]))
	}
	if err := e.enc.FFT(e.cbuf, e.params.LogMaxSlots()); err != nil {
		return err
	}
	for i, c := range e.cbuf {
		e.buf[i] = real(c)
	}
	return nil
}
