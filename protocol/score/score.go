package score

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/mhe"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/protocol"
	"github.com/mitai-dev/mitai/protocol/internal/mesh"
)

const version = 1

// Message kinds.
const (
	kindHello byte = iota + 1
	kindReceiverKey
	kindCommit
	kindC1
	kindC0
	kindLow
	kindShare
	kindTable
	kindResult
	kindDone
)

var kindNames = map[byte]string{
	kindHello: "hello", kindReceiverKey: "receiver key", kindCommit: "commitment", kindC1: "ciphertext (c1)",
	kindC0: "ciphertext (c0)", kindLow: "sigmoid input ciphertext", kindShare: "key-switch share",
	kindTable: "band table ciphertext", kindResult: "band lookup result", kindDone: "outcome",
}

// ErrRefused reports that a party's policy refused the job.
var ErrRefused = errors.New("score: a party's policy refuses this job")

// Scores is what the receiver learns.
type Scores struct {
	// Release is the effective release: Exact, Noise (a partner added noise
	// to its part) or Bands.
	Release ReleaseMode
	// LogOdds, Points and Probability per row (nil in Bands mode;
	// Probability nil with ProbabilityNone).
	LogOdds, Points, Probability []float64
	// Bands per row (Bands mode only): i means Points in [Cuts[i-1], Cuts[i]).
	Bands []int
	Cuts  []float64
	// NoiseScales are the Laplace scales (log-odds) of the partners that
	// added noise.
	NoiseScales map[string]float64
}

// RunReceiver runs the receiver's role (the bank): it contributes its own
// partial log-odds (with its model's intercept) and is the only party that
// learns the scores. conns holds one connection to every other party.
func RunReceiver(ctx context.Context, self string, conns map[string]protocol.Conn, block *Block, opts Options) (*Scores, *Stats, error) {
	s, err := newSession(ctx, self, conns, block, opts, true)
	if err != nil {
		return nil, statsOf(s), err
	}
	sc, err := s.run(ctx)
	s.finish()
	if err != nil {
		return nil, &s.stats, err
	}
	return sc, &s.stats, nil
}

// RunContributor runs a contributing party's role (a bureau, a telco): it
// contributes its partial log-odds, helps switch the joint result to the
// receiver's key, and learns nothing but the row count and its peers'
// job parameters.
func RunContributor(ctx context.Context, self string, conns map[string]protocol.Conn, block *Block, opts Options) (*Stats, error) {
	s, err := newSession(ctx, self, conns, block, opts, false)
	if err != nil {
		return statsOf(s), err
	}
	_, err = s.run(ctx)
	s.finish()
	return &s.stats, err
}

func statsOf(s *session) *Stats {
	if s == nil {
		return &Stats{}
	}
	return &s.stats
}

// session is one party's state.
type session struct {
	self     string
	o        Options
	net      *mesh.Net
	meters   []*protocol.Meter
	start    time.Time
	receiver bool
	parties  []string // sorted
	others   []string // sorted
	partners []string // everybody but the receiver, sorted
	block    *Block
	preset   *he.Preset
	params   hefloat.Parameters
	codec    *he.Codec
	rows     int
	slots    int
	blocks   int
	hellos   map[string]hello
	mode     ReleaseMode     // the effective release
	release  Release         // this party's own release (contributors)
	rk       *he.ReceiverKey // receiver only
	pkR      *rlwe.PublicKey
	stats    Stats
}

type releaseMsg struct {
	Mode         string  `json:"mode"`
	Bound        float64 `json:"bound,omitempty"`
	Epsilon      float64 `json:"epsilon,omitempty"`
	MinBandWidth float64 `json:"min_band_width,omitempty"`
	Levels       int     `json:"levels,omitempty"`
}

type hello struct {
	Version      int         `json:"version"`
	Job          string      `json:"job"`
	Party        string      `json:"party"`
	Receiver     string      `json:"receiver"`
	Parties      []string    `json:"parties"`
	KeySet       string      `json:"key_set"`
	Rows         int         `json:"rows"`
	Order        string      `json:"order"`
	Scorecard    [3]float64  `json:"scorecard"`
	Bands        []float64   `json:"bands"`
	Probability  int         `json:"probability"`
	SigmoidBound float64     `json:"sigmoid_bound,omitempty"`
	Release      *releaseMsg `json:"release,omitempty"`
}

func newSession(ctx context.Context, self string, conns map[string]protocol.Conn, block *Block, opts Options, receiver bool) (s *session, err error) {
	s = &session{self: self, start: time.Now(), receiver: receiver, block: block}
	s.stats.Party = self
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = 2 * time.Minute
	}
	peers := map[string]protocol.Conn{}
	for p, c := range conns {
		m := protocol.NewMeter(c)
		s.meters = append(s.meters, m)
		peers[p] = m
	}
	s.net = &mesh.Net{Tag: "score", Self: self, Peers: peers, Idle: idle, Names: kindNames}
	defer func() {
		if err != nil {
			s.abort(err)
		}
	}()
	o, err := opts.withDefaults(self)
	if err != nil {
		return s, err
	}
	if receiver != (o.Receiver == self) {
		if receiver {
			return s, fmt.Errorf("score: %s runs the receiver role, but the job's receiver is %s", self, o.Receiver)
		}
		return s, fmt.Errorf("score: %s is the job's receiver and must run the receiver role", self)
	}
	if block == nil {
		return s, errors.New("score: no feature block")
	}
	s.o, s.preset = o, o.KeySet.Preset
	if err := s.net.Check(o.Parties); err != nil {
		return s, err
	}
	s.parties = slices.Sorted(slices.Values(o.Parties))
	s.others = s.net.Others()
	for _, p := range s.parties {
		if p != o.Receiver {
			s.partners = append(s.partners, p)
		}
	}
	if s.params, err = s.preset.Params(); err != nil {
		return s, err
	}
	if s.codec, err = he.NewCodec(s.preset); err != nil {
		return s, err
	}
	s.slots = s.preset.Slots()
	s.rows = block.Rows()
	if s.rows < 1 || s.rows > MaxRows {
		return s, fmt.Errorf("score: %d rows, want 1 to %d", s.rows, MaxRows)
	}
	s.blocks = he.Blocks(s.rows, s.slots)
	s.stats.Rows, s.stats.Blocks = s.rows, s.blocks
	if !receiver {
		s.release = o.Policy.MultiParty
		if len(s.parties) == 2 {
			s.release = o.Policy.TwoParty
		}
	}
	if err := s.exchangeHellos(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// abort tells the peers why this party stops (unless a peer stopped first).
func (s *session) abort(err error) {
	if s.net == nil || errors.Is(err, mesh.ErrAborted) {
		return
	}
	var in *InputError
	reason := err.Error()
	if errors.As(err, &in) {
		// Input errors quote the party's data: they stay in its own log.
		reason = fmt.Sprintf("score: %s's input could not be used (see its log)", s.self)
	}
	s.net.AbortAll(reason)
}

func (s *session) finish() {
	s.stats.Wall = time.Since(s.start)
	for _, m := range s.meters {
		s.stats.BytesSent += m.BytesSent()
		s.stats.BytesReceived += m.BytesReceived()
	}
}

func (s *session) hello() hello {
	o := s.o
	h := hello{
		Version: version, Job: o.JobID, Party: s.self, Receiver: o.Receiver, Parties: s.parties,
		KeySet: o.KeySet.ID(), Rows: s.rows, Order: hex.EncodeToString(s.block.OrderDigest[:]),
		Scorecard:   [3]float64{o.Scorecard.PDO, o.Scorecard.Base, o.Scorecard.Odds},
		Bands:       o.Bands,
		Probability: int(o.Probability), SigmoidBound: o.SigmoidBound,
	}
	if h.Bands == nil {
		h.Bands = []float64{}
	}
	if !s.receiver {
		r := s.release
		h.Release = &releaseMsg{Mode: r.Mode.String(), Bound: r.Bound, Epsilon: r.Epsilon, MinBandWidth: r.MinBandWidth, Levels: r.Levels}
	}
	return h
}

func (s *session) exchangeHellos(ctx context.Context) error {
	mine := s.hello()
	b, _ := json.Marshal(mine)
	if err := s.net.Broadcast(ctx, kindHello, b); err != nil {
		return err
	}
	s.hellos = map[string]hello{s.self: mine}
	got := make(map[string]hello)
	err := s.net.RecvAll(ctx, kindHello, 64<<10, func(from string, b []byte) error {
		var h hello
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&h); err != nil {
			return fmt.Errorf("score: malformed hello from %s: %w", from, err)
		}
		if err := s.compareHello(from, h, mine); err != nil {
			return err
		}
		s.stats.mu.Lock()
		got[from] = h
		s.stats.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	for p, h := range got {
		s.hellos[p] = h
	}
	return s.resolve()
}

func (s *session) compareHello(from string, h, mine hello) error {
	switch {
	case h.Version != mine.Version:
		return fmt.Errorf("score: %s speaks version %d, we speak %d", from, h.Version, mine.Version)
	case h.Party != from:
		return fmt.Errorf("score: the hello on our connection with %s is signed %q", from, h.Party)
	case h.Job != mine.Job:
		return fmt.Errorf("score: %s runs job %q, we run %q", from, h.Job, mine.Job)
	case h.Receiver != mine.Receiver:
		return fmt.Errorf("score: %s says the receiver is %s, we say %s", from, h.Receiver, mine.Receiver)
	case !slices.Equal(h.Parties, mine.Parties):
		return fmt.Errorf("score: %s has parties %v, we have %v", from, h.Parties, mine.Parties)
	case h.KeySet != mine.KeySet:
		return fmt.Errorf("score: %s uses key set %.16s..., we use %.16s...", from, h.KeySet, mine.KeySet)
	case h.Rows != mine.Rows:
		return fmt.Errorf("score: %s has %d aligned rows, we have %d", from, h.Rows, mine.Rows)
	case h.Order != mine.Order:
		return fmt.Errorf("score: %s's rows are in another order (order digest %.16s..., ours %.16s...)", from, h.Order, mine.Order)
	case h.Scorecard != mine.Scorecard:
		return fmt.Errorf("score: %s uses scorecard %v, we use %v", from, h.Scorecard, mine.Scorecard)
	case !slices.Equal(h.Bands, mine.Bands):
		return fmt.Errorf("score: %s uses bands %v, we use %v", from, h.Bands, mine.Bands)
	case h.Probability != mine.Probability:
		return fmt.Errorf("score: %s computes the probability in mode %d, we in mode %d", from, h.Probability, mine.Probability)
	case (from == s.o.Receiver) != (h.Release == nil):
		return fmt.Errorf("score: %s's hello does not fit its role", from)
	}
	if h.Probability == int(ProbabilityEncrypted) && !(h.SigmoidBound > 0 && h.SigmoidBound <= SigmoidInterval) {
		return fmt.Errorf("score: %s's sigmoid bound %v", from, h.SigmoidBound)
	}
	if h.Release != nil {
		m, err := ParseReleaseMode(h.Release.Mode)
		if err != nil {
			return fmt.Errorf("score: %s: %w", from, err)
		}
		r := Release{Mode: m, Bound: h.Release.Bound, Epsilon: h.Release.Epsilon, MinBandWidth: h.Release.MinBandWidth, Levels: h.Release.Levels}
		if err := r.check(); err != nil {
			return fmt.Errorf("score: %s's release: %w", from, err)
		}
	}
	return nil
}

func (h hello) release() Release {
	m, _ := ParseReleaseMode(h.Release.Mode)
	r := Release{Mode: m, Bound: h.Release.Bound, Epsilon: h.Release.Epsilon, MinBandWidth: h.Release.MinBandWidth, Levels: h.Release.Levels}
	if r.Mode == Bands && r.Levels == 0 {
		r.Levels = DefaultLevels
	}
	return r
}

// resolve decides the job's effective release from every partner's, the
// same way at every party.
func (s *session) resolve() error {
	k := len(s.parties)
	s.mode = Exact
	if s.o.Probability == ProbabilityEncrypted {
		total := 0.0
		for _, p := range s.parties {
			total += s.hellos[p].SigmoidBound
		}
		if total > SigmoidInterval+1e-9 {
			return fmt.Errorf("score: the parties' sigmoid bounds add up to %v, more than the interval ±%d of the encrypted sigmoid", total, SigmoidInterval)
		}
	}
	for _, p := range s.partners {
		r := s.hellos[p].release()
		switch r.Mode {
		case Refuse:
			situation := "exact scoring with one partner, where the receiver could subtract its own part and learn ours per row"
			if k > 2 {
				situation = "this multi-party scoring job"
			}
			return fmt.Errorf("%w: %s's policy refuses %s", ErrRefused, p, situation)
		case Bands:
			if k != 2 {
				return fmt.Errorf("%w: %s releases only bands, which mitai supports with exactly two parties", ErrRefused, p)
			}
			if len(s.o.Bands) == 0 {
				return fmt.Errorf("%w: %s releases only score bands, and the job defines none", ErrRefused, p)
			}
			for i := 1; i < len(s.o.Bands); i++ {
				if w := s.o.Bands[i] - s.o.Bands[i-1]; w < r.MinBandWidth {
					return fmt.Errorf("%w: %s releases bands at least %v points wide, the job's band %d is %v wide", ErrRefused, p, r.MinBandWidth, i, w)
				}
			}
			if s.o.Probability == ProbabilityEncrypted {
				return fmt.Errorf("%w: %s releases only bands; the encrypted probability is not available", ErrRefused, p)
			}
			s.mode = Bands
		case Noise:
			s.mode = Noise
		}
	}
	return nil
}

func (s *session) run(ctx context.Context) (sc *Scores, err error) {
	defer func() {
		if err != nil {
			s.abort(err)
		}
	}()
	// The receiver's result key pair: fresh per run, separate from its
	// share of the collective key; its public part goes to every partner.
	if s.receiver {
		var seed [32]byte
		if _, err := rand.Read(seed[:]); err != nil {
			return nil, err
		}
		if s.rk, err = he.NewReceiverKey(s.preset, seed); err != nil {
			return nil, err
		}
		defer s.rk.Erase()
		s.pkR = s.rk.Public
		b, err := s.rk.MarshalPublic()
		if err != nil {
			return nil, err
		}
		if err := s.net.Broadcast(ctx, kindReceiverKey, b); err != nil {
			return nil, err
		}
	} else {
		b, err := s.net.Recv(ctx, s.o.Receiver, kindReceiverKey, 32+mhe.NewPublicKeyGenProtocol(s.params).AllocateShare().BinarySize())
		if err != nil {
			return nil, err
		}
		if s.pkR, err = s.codec.UnmarshalReceiverPublic(b); err != nil {
			return nil, fmt.Errorf("score: receiver key from %s: %w", s.o.Receiver, err)
		}
	}
	u, err := s.partial()
	if err != nil {
		return nil, err
	}
	if s.mode == Bands {
		if s.receiver {
			sc, err = s.bandsReceiver(ctx, u)
		} else {
			err = s.bandsPartner(ctx, u)
		}
	} else {
		sc, err = s.exact(ctx, u)
	}
	if err != nil {
		return nil, err
	}
	// Everybody ends with the receiver's outcome: it tells the partners once
	// it holds every score; a partner that hears anything else fails.
	if s.receiver {
		return sc, s.net.Broadcast(ctx, kindDone, nil)
	}
	if _, err := s.net.Recv(ctx, s.o.Receiver, kindDone, 0); err != nil {
		return nil, err
	}
	return nil, nil
}

// partial computes this party's contribution per row: its partial log-odds
// (the receiver's with the intercept), then its policy (clamping, noise).
func (s *session) partial() ([]float64, error) {
	t := newTimer(&s.stats)
	defer t.done()
	var u []float64
	err := t.doErr(PhasePlain, func() error {
		var err error
		if u, err = s.o.Model.Partial(s.block, s.receiver, s.o.Clamp); err != nil {
			return err
		}
		if s.o.Probability == ProbabilityEncrypted {
			clampAll(u, s.o.SigmoidBound)
		}
		if s.receiver {
			return nil
		}
		switch s.release.Mode {
		case Bands:
			clampAll(u, s.release.Bound)
		case Noise:
			clampAll(u, s.release.Bound)
			return addLaplace(u, 2*s.release.Bound/s.release.Epsilon, s.o.NoiseKey, s.o.JobID)
		}
		return nil
	})
	return u, err
}

func clampAll(u []float64, b float64) {
	for i, x := range u {
		u[i] = min(max(x, -b), b)
	}
}

// blockFrame starts a message of the given kind about block b, with room
// for size payload bytes.
func blockFrame(kind byte, b, size int) []byte {
	f := mesh.Frame(kind, 4+size)
	return binary.BigEndian.AppendUint32(f, uint32(b))
}

// blockPayload is the payload of a frame made by blockFrame.
func blockPayload(frame []byte) []byte { return frame[5:] }

func splitBlockHeader(p []byte, want int, what string) ([]byte, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("score: %s: short message", what)
	}
	if got := int(binary.BigEndian.Uint32(p)); got != want {
		return nil, fmt.Errorf("score: %s for block %d, expected block %d", what, got, want)
	}
	return p[4:], nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
