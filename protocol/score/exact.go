package score

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/bignum"
	"golang.org/x/sync/errgroup"

	"github.com/mitai-dev/mitai/crypto/he"
)

// LogSmudgeProbability is log2 of the smudging σ of the key switch of the
// encrypted probability (scale 2^50): 2^26 keeps its error std near 2e-5
// for three parties. See the package documentation for what it hides.
const LogSmudgeProbability = 26

// worker holds one goroutine's lattigo objects (none is safe for
// concurrent use) and its CPU timer.
type worker struct {
	s       *session
	t       *timer
	enc     *he.Encoder
	encr    *he.Encryptor
	ks, ksP *he.KeySwitcher
	dec     *he.Decryptor
	eval    *hefloat.Evaluator
	poly    *hefloat.PolynomialEvaluator
	acc     *rlwe.Ciphertext // a partial sum (band lookup)
	pts     map[int]*rlwe.Plaintext
}

func (w *worker) encoder() *he.Encoder {
	if w.enc == nil {
		w.enc, _ = he.NewEncoder(w.s.preset) // the preset was checked
	}
	return w.enc
}

func (w *worker) encryptor(pk *rlwe.PublicKey) (*he.Encryptor, error) {
	if w.encr == nil {
		var err error
		if w.encr, err = he.NewEncryptor(w.s.preset, pk); err != nil {
			return nil, err
		}
	}
	return w.encr, nil
}

func (w *worker) keySwitcher() (*he.KeySwitcher, error) {
	if w.ks == nil {
		var err error
		if w.ks, err = he.NewKeySwitcher(w.s.preset, w.s.preset.LogSmudge); err != nil {
			return nil, err
		}
	}
	return w.ks, nil
}

func (w *worker) decryptor() (*he.Decryptor, error) {
	if w.dec == nil {
		var err error
		if w.dec, err = he.NewDecryptor(w.s.preset, w.s.rk.Secret); err != nil {
			return nil, err
		}
	}
	return w.dec, nil
}

// parallel runs fn(w, i) for i in [0, n) on up to Workers goroutines.
func (s *session) parallel(ctx context.Context, n int, fn func(w *worker, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(s.o.Workers, n) {
		g.Go(func() error {
			w := &worker{s: s, t: newTimer(&s.stats)}
			defer w.t.done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || gctx.Err() != nil {
					return gctx.Err()
				}
				if err := fn(w, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// contribution is one block of this party's encrypted contribution.
type contribution struct {
	c0, c1, low    []byte // c0 and c1 of the affine ciphertext; the sigmoid input
	h0, h1, hLow   [32]byte
	ready          chan struct{}
	share          []byte // the key-switch share message (contributors)
	digest, digstP [32]byte
}

// roots are a party's commitments: SHA-256 chains over its blocks'
// hashes, one per kind of part.
type roots struct{ c0, c1, low [32]byte }

func chain(tag string, hashes func(b int) [32]byte, n int) [32]byte {
	h := sha256.New()
	h.Write([]byte("mitai/v1/score/commit/" + tag + "\x00"))
	for b := range n {
		d := hashes(b)
		h.Write(d[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// exact runs the sum-and-switch flow (Exact and Noise releases).
func (s *session) exact(ctx context.Context, u []float64) (*Scores, error) {
	sig := s.o.Probability == ProbabilityEncrypted
	p := s.preset
	level, logScale := p.AffineLevel, p.AffineLogScale
	c1sum := make([]ring.Poly, s.blocks)
	var c0sum []ring.Poly
	if s.receiver {
		c0sum = make([]ring.Poly, s.blocks)
	}
	var lowSum []*rlwe.Ciphertext
	if sig {
		lowSum = make([]*rlwe.Ciphertext, s.blocks)
	}
	own := make([]contribution, s.blocks)
	locks := make([]sync.Mutex, s.blocks)

	// 1. Encrypt this party's blocks.
	err := s.parallel(ctx, s.blocks, func(w *worker, b int) error {
		lo, hi := he.BlockRange(b, s.rows, s.slots)
		ct, err := w.encrypt(u[lo:hi], level, logScale, s.o.KeySet.PublicKey)
		if err != nil {
			return err
		}
		c := &own[b]
		w.t.do(PhaseTransport, func() {
			c.c0, _ = s.codec.AppendMarshal(blockFrame(kindC0, b, ct.Value[0].BinarySize()), &ct.Value[0])
			c.c1, _ = s.codec.AppendMarshal(blockFrame(kindC1, b, ct.Value[1].BinarySize()), &ct.Value[1])
			c.h0, c.h1 = sha256.Sum256(blockPayload(c.c0)), sha256.Sum256(blockPayload(c.c1))
		})
		c1sum[b] = ct.Value[1]
		if s.receiver {
			c0sum[b] = ct.Value[0]
		}
		if sig {
			x := make([]float64, hi-lo)
			for i, v := range u[lo:hi] {
				x[i] = v / SigmoidInterval
			}
			lct, err := w.encrypt(x, s.params.MaxLevel(), p.LogScale, s.o.KeySet.PublicKey)
			if err != nil {
				return err
			}
			w.t.do(PhaseTransport, func() {
				c.low, _ = s.codec.AppendMarshal(blockFrame(kindLow, b, lct.BinarySize()), lct)
				c.hLow = sha256.Sum256(blockPayload(c.low))
			})
			lowSum[b] = lct
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.stats.Ciphertexts = s.blocks
	if sig {
		s.stats.Ciphertexts *= 2
	}

	// 2. Commit to every part before seeing anybody's: a party cannot
	// choose its contribution to cancel another's.
	mine := roots{
		c0:  chain("c0", func(b int) [32]byte { return own[b].h0 }, s.blocks),
		c1:  chain("c1", func(b int) [32]byte { return own[b].h1 }, s.blocks),
		low: chain("low", func(b int) [32]byte { return own[b].hLow }, s.blocks),
	}
	if err := s.net.Broadcast(ctx, kindCommit, append(append(mine.c0[:], mine.c1[:]...), mine.low[:]...)); err != nil {
		return nil, err
	}
	commits := map[string]roots{}
	var cmu sync.Mutex
	err = s.net.RecvAll(ctx, kindCommit, 96, func(from string, b []byte) error {
		if len(b) != 96 {
			return fmt.Errorf("score: commitment of %d bytes from %s", len(b), from)
		}
		var r roots
		copy(r.c0[:], b)
		copy(r.c1[:], b[32:])
		copy(r.low[:], b[64:])
		cmu.Lock()
		commits[from] = r
		cmu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 3. Reveal: c1 to everybody, c0 to the receiver only, the sigmoid input
	// to everybody; receive the same from every peer and add it up.
	g, gctx := errgroup.WithContext(ctx)
	for _, peer := range s.others {
		g.Go(func() error {
			for b := range s.blocks {
				if err := s.net.SendFrame(gctx, peer, own[b].c1); err != nil {
					return err
				}
				if peer == s.o.Receiver {
					if err := s.net.SendFrame(gctx, peer, own[b].c0); err != nil {
						return err
					}
				}
				if sig {
					if err := s.net.SendFrame(gctx, peer, own[b].low); err != nil {
						return err
					}
				}
			}
			return nil
		})
		g.Go(func() error {
			return s.receiveParts(gctx, peer, commits[peer], c1sum, c0sum, lowSum, locks)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for b := range own {
		own[b].c0, own[b].c1, own[b].low = nil, nil, nil
	}

	// 4. Key-switch shares of the sums toward the receiver's key.
	sk, err := s.o.Secret.KeySwitchKey(s.o.KeySet, s.parties)
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	for b := range own {
		own[b].ready = make(chan struct{})
	}
	meta := s.codec.Meta(he.Scale(logScale))
	var (
		shares, sharesP []*mhe.PublicKeySwitchShare
		pcts            []*rlwe.Ciphertext
	)
	if s.receiver {
		shares = make([]*mhe.PublicKeySwitchShare, s.blocks)
		if sig {
			sharesP = make([]*mhe.PublicKeySwitchShare, s.blocks)
			pcts = make([]*rlwe.Ciphertext, s.blocks)
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.parallel(gctx, s.blocks, func(w *worker, b int) error {
			ks, err := w.keySwitcher()
			if err != nil {
				return err
			}
			// Only c1 enters a share; c0 is the receiver's business.
			ct := &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: []ring.Poly{c1sum[b], c1sum[b]}, MetaData: &meta}}
			var sh *mhe.PublicKeySwitchShare
			w.t.do(PhaseKeySwitch, func() { sh = ks.Share(sk, s.pkR, ct) })
			c := &own[b]
			w.t.do(PhaseTransport, func() {
				c.digest = s.codec.DigestPoly(&c1sum[b])
				if !s.receiver {
					size := 32 + sh.BinarySize()
					if sig {
						size *= 2
					}
					f := append(blockFrame(kindShare, b, size), c.digest[:]...)
					c.share, _ = s.codec.AppendMarshal(f, sh)
				}
			})
			if s.receiver {
				shares[b] = sh
			}
			if sig {
				pct, err := w.sigmoid(lowSum[b])
				if err != nil {
					return err
				}
				if w.ksP == nil {
					if w.ksP, err = he.NewKeySwitcher(p, LogSmudgeProbability); err != nil {
						return err
					}
				}
				var shP *mhe.PublicKeySwitchShare
				w.t.do(PhaseKeySwitch, func() { shP = w.ksP.Share(sk, s.pkR, pct) })
				w.t.do(PhaseTransport, func() {
					c.digstP = s.codec.DigestPoly(&pct.Value[1])
					if !s.receiver {
						c.share = append(c.share, c.digstP[:]...)
						c.share, _ = s.codec.AppendMarshal(c.share, shP)
					}
				})
				if s.receiver {
					sharesP[b], pcts[b] = shP, pct
				}
			}
			close(c.ready)
			return nil
		})
	})
	if !s.receiver {
		// Send the shares in block order as they are ready.
		g.Go(func() error {
			for b := range s.blocks {
				select {
				case <-own[b].ready:
				case <-gctx.Done():
					return gctx.Err()
				}
				if err := s.net.SendFrame(gctx, s.o.Receiver, own[b].share); err != nil {
					return err
				}
				own[b].share = nil
			}
			return nil
		})
		return nil, g.Wait()
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// 5. The receiver adds every partner's share to its own, switches the
	// sums to its result key and decrypts.
	g, gctx = errgroup.WithContext(ctx)
	for _, peer := range s.partners {
		g.Go(func() error {
			return s.receiveShares(gctx, peer, own, shares, sharesP, locks)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	z := make([]float64, s.rows)
	var prob []float64
	if sig {
		prob = make([]float64, s.rows)
	}
	err = s.parallel(ctx, s.blocks, func(w *worker, b int) error {
		lo, hi := he.BlockRange(b, s.rows, s.slots)
		ks, err := w.keySwitcher()
		if err != nil {
			return err
		}
		dec, err := w.decryptor()
		if err != nil {
			return err
		}
		ct := &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: []ring.Poly{c0sum[b], c1sum[b]}, MetaData: &meta}}
		var out *rlwe.Ciphertext
		if err := w.t.doErr(PhaseKeySwitch, func() (err error) { out, err = ks.Switch(ct, shares[b]); return }); err != nil {
			return err
		}
		if err := w.t.doErr(PhaseDecrypt, func() error { return dec.Decrypt(out, z[lo:hi]) }); err != nil {
			return err
		}
		if sig {
			if err := w.t.doErr(PhaseKeySwitch, func() (err error) { out, err = ks.Switch(pcts[b], sharesP[b]); return }); err != nil {
				return err
			}
			if err := w.t.doErr(PhaseDecrypt, func() error { return dec.Decrypt(out, prob[lo:hi]) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.scores(z, prob)
}

// encrypt encodes values at level and scale 2^logScale and encrypts them
// under pk.
func (w *worker) encrypt(values []float64, level, logScale int, pk *rlwe.PublicKey) (*rlwe.Ciphertext, error) {
	if w.pts == nil {
		w.pts = map[int]*rlwe.Plaintext{}
	}
	pt := w.pts[level]
	if pt == nil {
		pt = hefloat.NewPlaintext(w.s.params, level)
		w.pts[level] = pt
	}
	if err := w.t.doErr(PhaseEncode, func() error { return w.encoder().EncodeTo(values, logScale, pt) }); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	encr, err := w.encryptor(pk)
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	var ct *rlwe.Ciphertext
	if err := w.t.doErr(PhaseEncrypt, func() (err error) { ct, err = encr.EncryptNew(pt); return }); err != nil {
		return nil, fmt.Errorf("score: encrypt: %w", err)
	}
	return ct, nil
}

// sigmoidPoly is the Chebyshev interpolant of the logistic function of
// degree SigmoidDegree on [-SigmoidInterval, SigmoidInterval], in the
// Chebyshev basis of [-1, 1] (the parties encrypt z/8).
var sigmoidPoly = sync.OnceValue(func() hefloat.Polynomial {
	const prec = 128
	interval := bignum.Interval{A: *bignum.NewFloat(-1, prec), B: *bignum.NewFloat(1, prec), Nodes: SigmoidDegree}
	f := func(x float64) float64 { return sigmoid(SigmoidInterval * x) }
	return hefloat.NewPolynomial(bignum.ChebyshevApproximation(f, interval))
})

// SigmoidApprox evaluates the polynomial the encrypted probability uses,
// in plaintext (for error analysis).
func SigmoidApprox(z float64) float64 {
	p := sigmoidPoly()
	v, _ := p.Evaluate(z / SigmoidInterval)[0].Float64()
	return v
}

// sigmoid evaluates the probability polynomial on the summed sigmoid input.
func (w *worker) sigmoid(ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	s := w.s
	if w.poly == nil {
		w.eval = hefloat.NewEvaluator(s.params, rlwe.NewMemEvaluationKeySet(s.o.KeySet.RelinKey))
		w.poly = hefloat.NewPolynomialEvaluator(s.params, w.eval)
	}
	var out *rlwe.Ciphertext
	err := w.t.doErr(PhaseEvaluate, func() (err error) {
		out, err = w.poly.Evaluate(ct, sigmoidPoly(), s.params.DefaultScale())
		return
	})
	if err != nil {
		return nil, fmt.Errorf("score: evaluate the sigmoid: %w", err)
	}
	return out, nil
}

// receiveParts receives a peer's revealed parts, checks them against its
// commitment and adds them to the sums.
func (s *session) receiveParts(ctx context.Context, peer string, commit roots, c1sum, c0sum []ring.Poly, lowSum []*rlwe.Ciphertext, locks []sync.Mutex) error {
	t := newTimer(&s.stats)
	defer t.done()
	p := s.preset
	level := p.AffineLevel
	polySize := s.params.RingQ().AtLevel(level).NewPoly().BinarySize()
	lowSize := s.codec.CiphertextSize(s.params.MaxLevel())
	hashes := map[byte][]([32]byte){}
	recvPart := func(kind byte, b int, size int) ([]byte, error) {
		msg, err := s.net.Recv(ctx, peer, kind, 4+size)
		if err != nil {
			return nil, err
		}
		body, err := splitBlockHeader(msg, b, fmt.Sprintf("%s's %s", peer, kindNames[kind]))
		if err != nil {
			return nil, err
		}
		var d [32]byte
		t.do(PhaseTransport, func() { d = sha256.Sum256(body) })
		hashes[kind] = append(hashes[kind], d)
		return body, nil
	}
	addPoly := func(dst []ring.Poly, b int, body []byte, what string) error {
		return t.doErr(PhaseTransport, func() error {
			locks[b].Lock()
			defer locks[b].Unlock()
			if err := s.codec.AddPoly(dst[b], body, level, what); err != nil {
				return fmt.Errorf("score: %s from %s: %w", what, peer, err)
			}
			return nil
		})
	}
	for b := range s.blocks {
		body, err := recvPart(kindC1, b, polySize)
		if err != nil {
			return err
		}
		if err := addPoly(c1sum, b, body, "ciphertext part c1"); err != nil {
			return err
		}
		if s.receiver {
			if body, err = recvPart(kindC0, b, polySize); err != nil {
				return err
			}
			if err := addPoly(c0sum, b, body, "ciphertext part c0"); err != nil {
				return err
			}
		}
		if lowSum != nil {
			if body, err = recvPart(kindLow, b, lowSize); err != nil {
				return err
			}
			err := t.doErr(PhaseTransport, func() error {
				ct, err := s.codec.UnmarshalCiphertext(body, s.params.MaxLevel(), he.Scale(p.LogScale))
				if err != nil {
					return fmt.Errorf("score: sigmoid input from %s: %w", peer, err)
				}
				locks[b].Lock()
				defer locks[b].Unlock()
				r := s.params.RingQ().AtLevel(ct.Level())
				r.Add(lowSum[b].Value[0], ct.Value[0], lowSum[b].Value[0])
				r.Add(lowSum[b].Value[1], ct.Value[1], lowSum[b].Value[1])
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	check := func(kind byte, tag string, want [32]byte) error {
		h := hashes[kind]
		if got := chain(tag, func(b int) [32]byte { return h[b] }, len(h)); got != want {
			return fmt.Errorf("score: %s's %s do not match its commitment", peer, kindNames[kind])
		}
		return nil
	}
	if err := check(kindC1, "c1", commit.c1); err != nil {
		return err
	}
	if s.receiver {
		if err := check(kindC0, "c0", commit.c0); err != nil {
			return err
		}
	}
	if lowSum != nil {
		return check(kindLow, "low", commit.low)
	}
	return nil
}

// receiveShares receives a partner's key-switch shares (receiver) and adds
// them to the receiver's own.
func (s *session) receiveShares(ctx context.Context, peer string, own []contribution, shares, sharesP []*mhe.PublicKeySwitchShare, locks []sync.Mutex) error {
	t := newTimer(&s.stats)
	defer t.done()
	level := s.preset.AffineLevel
	shareSize := (&mhe.PublicKeySwitchShare{Element: *rlwe.NewElement(s.params, 1, level)}).BinarySize()
	sizeP := 0
	if sharesP != nil {
		sizeP = 32 + (&mhe.PublicKeySwitchShare{Element: *rlwe.NewElement(s.params, 1, 0)}).BinarySize()
	}
	for b := range s.blocks {
		msg, err := s.net.Recv(ctx, peer, kindShare, 4+32+shareSize+sizeP)
		if err != nil {
			return err
		}
		body, err := splitBlockHeader(msg, b, fmt.Sprintf("%s's key-switch share", peer))
		if err != nil {
			return err
		}
		if len(body) != 32+shareSize+sizeP {
			return fmt.Errorf("score: %s's key-switch share for block %d: %d bytes, want %d", peer, b, len(body), 32+shareSize+sizeP)
		}
		if !bytes.Equal(body[:32], own[b].digest[:]) {
			return fmt.Errorf("score: %s switched another sum than ours in block %d (the contributions it received differ from ours)", peer, b)
		}
		err = t.doErr(PhaseKeySwitch, func() error {
			// Checked and added in one pass; a refused share adds nothing.
			locks[b].Lock()
			defer locks[b].Unlock()
			if err := s.codec.AddKeySwitchShare(shares[b], body[32:32+shareSize], level); err != nil {
				return fmt.Errorf("score: key-switch share from %s: %w", peer, err)
			}
			if sharesP == nil {
				return nil
			}
			rest := body[32+shareSize:]
			if !bytes.Equal(rest[:32], own[b].digstP[:]) {
				return fmt.Errorf("score: %s's encrypted sigmoid differs from ours in block %d (non-deterministic evaluation across parties?)", peer, b)
			}
			if err := s.codec.AddKeySwitchShare(sharesP[b], rest[32:], 0); err != nil {
				return fmt.Errorf("score: probability key-switch share from %s: %w", peer, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// scores turns the decrypted log-odds (and probabilities) into the result.
func (s *session) scores(z, prob []float64) (*Scores, error) {
	sc := &Scores{Release: s.mode, LogOdds: z, Points: make([]float64, len(z))}
	for i, v := range z {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("score: row %d decrypted to %v", i, v)
		}
		sc.Points[i] = s.o.Scorecard.Points(v)
	}
	switch s.o.Probability {
	case ProbabilityPlain:
		sc.Probability = make([]float64, len(z))
		for i, v := range z {
			sc.Probability[i] = sigmoid(v)
		}
	case ProbabilityEncrypted:
		for i, v := range prob {
			prob[i] = min(max(v, 0), 1)
		}
		sc.Probability = prob
	}
	for _, p := range s.partners {
		if r := s.hellos[p].release(); r.Mode == Noise {
			if sc.NoiseScales == nil {
				sc.NoiseScales = map[string]float64{}
			}
			sc.NoiseScales[p] = 2 * r.Bound / r.Epsilon
		}
	}
	return sc, nil
}
