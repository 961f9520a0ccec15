package score

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sort"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"golang.org/x/sync/errgroup"

	"github.com/mitai-dev/mitai/crypto/he"
)

// Scales and noise of the band lookup (see the package documentation). The
// receiver encrypts its table at scale 2^50 under its own result key, at the
// preset's AffineLevel; the partner multiplies by 0/1 masks encoded at scale
// 2^44 (product 2^94, and |table| ≤ 8 keeps 2^97 below the modulus at that
// level: 2^100 or 2^120 for the affine presets), then adds a fresh encryption
// of zero under the receiver's key and Gaussian noise of standard deviation
// 2^-6 in every slot. That noise is 16 standard deviations below the 0.25 a
// band index may be off before rounding fails, and it is what hides, from
// the receiver, everything in the decrypted value that depends on the
// partner's masks besides the selected entry: the masks' encoding rounding
// (about 2^-32 per slot) and the table's encryption noise carried through
// the masks (about 2^-32 too), TestNoiseMargins measures both.
const (
	LogTableScale = 50
	LogMaskScale  = 44
	LogBandNoise  = -6
)

// bandIndex returns the band of points: the number of cut points ≤ points.
func bandIndex(cuts []float64, points float64) int {
	return sort.Search(len(cuts), func(i int) bool { return cuts[i] > points })
}

// bandLevels returns the partner's quantization: level v stands for the
// partial log-odds -bound + v·step.
func bandLevels(r Release) (levels int, step float64) {
	levels = r.Levels
	if levels == 0 {
		levels = DefaultLevels
	}
	return levels, 2 * r.Bound / float64(levels-1)
}

// bandsReceiver: for every row r and every level v of the partner's
// quantized partial score, the receiver encrypts T_v[r] = band(points(u_R[r]
// + value(v))) (centered) under its own result key; the partner picks
// T_{v_P[r]}[r] obliviously and returns it re-randomised; the receiver
// decrypts the band and nothing else.
func (s *session) bandsReceiver(ctx context.Context, u []float64) (*Scores, error) {
	partner := s.partners[0]
	r := s.hellos[partner].release()
	levels, step := bandLevels(r)
	cuts := s.o.Bands
	center := len(cuts) / 2
	bands := make([]int, s.rows)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for b := range s.blocks {
			lo, hi := he.BlockRange(b, s.rows, s.slots)
			tables := make([][]byte, levels)
			err := s.parallel(gctx, levels, func(w *worker, v int) error {
				vals := make([]float64, hi-lo)
				w.t.do(PhasePlain, func() {
					shift := -r.Bound + float64(v)*step
					for i := range vals {
						vals[i] = float64(bandIndex(cuts, s.o.Scorecard.Points(u[lo+i]+shift)) - center)
					}
				})
				ct, err := w.encrypt(vals, s.preset.AffineLevel, LogTableScale, s.pkR)
				if err != nil {
					return err
				}
				w.t.do(PhaseTransport, func() { tables[v], _ = s.codec.AppendMarshal(blockFrame(kindTable, b*levels+v, ct.BinarySize()), ct) })
				return nil
			})
			if err != nil {
				return err
			}
			s.stats.Ciphertexts += levels
			for _, t := range tables {
				if err := s.net.SendFrame(gctx, partner, t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	g.Go(func() error {
		t := newTimer(&s.stats)
		defer t.done()
		dec, err := he.NewDecryptor(s.preset, s.rk.Secret)
		if err != nil {
			return err
		}
		level := s.preset.AffineLevel
		size := s.codec.CiphertextSize(level)
		out := make([]float64, s.slots)
		for b := range s.blocks {
			msg, err := s.net.Recv(gctx, partner, kindResult, 4+size)
			if err != nil {
				return err
			}
			body, err := splitBlockHeader(msg, b, partner+"'s band lookup result")
			if err != nil {
				return err
			}
			var ct *rlwe.Ciphertext
			if err := t.doErr(PhaseTransport, func() (err error) {
				ct, err = s.codec.UnmarshalCiphertext(body, level, he.Scale(LogTableScale+LogMaskScale))
				return
			}); err != nil {
				return fmt.Errorf("score: band lookup result from %s: %w", partner, err)
			}
			lo, hi := he.BlockRange(b, s.rows, s.slots)
			if err := t.doErr(PhaseDecrypt, func() error { return dec.Decrypt(ct, out[:hi-lo]) }); err != nil {
				return err
			}
			for i, x := range out[:hi-lo] {
				k := math.Round(x)
				band := int(k) + center
				if math.Abs(x-k) > 0.25 || band < 0 || band > len(cuts) {
					return fmt.Errorf("score: row %d: the band lookup decrypted to %v, not a band (noise overflow or a malformed lookup)", lo+i, x)
				}
				bands[lo+i] = band
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &Scores{Release: Bands, Bands: bands, Cuts: append([]float64(nil), cuts...)}, nil
}

// bandsPartner: the partner quantizes its clamped partial log-odds to one
// of the levels, and for each block adds up table ciphertext v times the 0/1
// mask of its rows at level v, re-randomises the sum (a fresh encryption of
// zero under the receiver's key plus smudging noise) and returns it.
func (s *session) bandsPartner(ctx context.Context, u []float64) error {
	r := s.release
	levels, step := bandLevels(r)
	q := make([]int, s.rows)
	for i, x := range u {
		q[i] = min(max(int(math.Round((x+r.Bound)/step)), 0), levels-1)
	}
	level := s.preset.AffineLevel
	size := s.codec.CiphertextSize(level)
	rq := s.params.RingQ().AtLevel(level)
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return err
	}
	noise := mrand.New(mrand.NewChaCha8(seed))
	noiseStd := math.Exp2(LogBandNoise)
	enc, err := he.NewEncoder(s.preset)
	if err != nil {
		return err
	}
	meta := s.codec.Meta(he.Scale(LogTableScale + LogMaskScale))
	t := newTimer(&s.stats)
	defer t.done()
	encr, err := he.NewEncryptor(s.preset, s.pkR)
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	for b := range s.blocks {
		lo, hi := he.BlockRange(b, s.rows, s.slots)
		tables := make([]*rlwe.Ciphertext, levels)
		for v := range levels {
			msg, err := s.net.Recv(ctx, s.o.Receiver, kindTable, 4+size)
			if err != nil {
				return err
			}
			body, err := splitBlockHeader(msg, b*levels+v, "the receiver's band table")
			if err != nil {
				return err
			}
			if err := t.doErr(PhaseTransport, func() (err error) {
				tables[v], err = s.codec.UnmarshalCiphertext(body, level, he.Scale(LogTableScale))
				return
			}); err != nil {
				return fmt.Errorf("score: band table from %s: %w", s.o.Receiver, err)
			}
		}
		// Σ_v table_v ⊙ mask_v, in parallel over v with one partial sum per worker.
		var (
			mu   sync.Mutex
			accs []*rlwe.Ciphertext
		)
		err := s.parallel(ctx, levels, func(w *worker, v int) error {
			mask := make([]float64, hi-lo)
			for i := range mask {
				if q[lo+i] == v {
					mask[i] = 1
				}
			}
			var pt *rlwe.Plaintext
			if err := w.t.doErr(PhaseEncode, func() (err error) { pt, err = w.encoder().Encode(mask, level, LogMaskScale); return }); err != nil {
				return err
			}
			w.t.do(PhaseEvaluate, func() {
				if w.acc == nil {
					w.acc = rlwe.NewCiphertext(s.params, 1, level)
					*w.acc.MetaData = meta
					mu.Lock()
					accs = append(accs, w.acc)
					mu.Unlock()
				}
				rq.MForm(pt.Value, pt.Value)
				rq.MulCoeffsMontgomeryThenAdd(tables[v].Value[0], pt.Value, w.acc.Value[0])
				rq.MulCoeffsMontgomeryThenAdd(tables[v].Value[1], pt.Value, w.acc.Value[1])
			})
			return nil
		})
		if err != nil {
			return err
		}
		var sum *rlwe.Ciphertext
		t.do(PhaseEvaluate, func() {
			for _, acc := range accs {
				if sum == nil {
					sum = acc
					continue
				}
				rq.Add(sum.Value[0], acc.Value[0], sum.Value[0])
				rq.Add(sum.Value[1], acc.Value[1], sum.Value[1])
			}
		})
		if sum == nil {
			return fmt.Errorf("score: no band lookup for block %d", b)
		}
		// Re-randomise: a fresh encryption of zero under the receiver's key
		// hides how the table ciphertexts were combined, and the slot noise
		// hides what the masks leave in the low bits.
		if err := t.doErr(PhaseEncrypt, func() error {
			eta := make([]float64, s.slots)
			for i := range eta {
				eta[i] = noise.NormFloat64() * noiseStd
			}
			pt, err := enc.Encode(eta, level, LogTableScale+LogMaskScale)
			if err != nil {
				return err
			}
			z, err := encr.EncryptNew(pt)
			if err != nil {
				return err
			}
			rq.Add(sum.Value[0], z.Value[0], sum.Value[0])
			rq.Add(sum.Value[1], z.Value[1], sum.Value[1])
			return nil
		}); err != nil {
			return err
		}
		var out []byte
		t.do(PhaseTransport, func() { out, _ = s.codec.AppendMarshal(blockFrame(kindResult, b, sum.BinarySize()), sum) })
		if err := s.net.SendFrame(ctx, s.o.Receiver, out); err != nil {
			return err
		}
	}
	return nil
}
