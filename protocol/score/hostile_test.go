package score

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/protocol"
)

// TestScoreBadInput: bad data or options at one party end the job at every
// party with an error, and the receiver releases nothing.
func TestScoreBadInput(t *testing.T) {
	t.Parallel()
	names := []string{"bank", "bureau", "telco"}
	other := keys(t, "affine-ci12", []string{"bank", "bureau", "registry", "telco"}, 0)
	for _, tc := range []struct {
		name  string
		tweak func(p *testParty, o *Options)
		// want: the error of the party that was tweaked (telco); the others
		// must fail too.
		want string
	}{
		{"fewer rows", func(p *testParty, o *Options) {
			for j := range p.block.Data {
				p.block.Data[j] = p.block.Data[j][:len(p.block.Data[j])-1]
			}
		}, "aligned rows"},
		{"another row order", func(p *testParty, o *Options) { p.block.OrderDigest[0] ^= 1 }, "another order"},
		{"model column missing from the data", func(p *testParty, o *Options) { p.block.Columns[1] = "nope" }, "does not match its data"},
		{"extra column in the data", func(p *testParty, o *Options) {
			p.block.Columns = append(p.block.Columns, "extra")
			p.block.Data = append(p.block.Data, make([]float64, len(p.block.Data[0])))
		}, "not in the model"},
		{"NaN", func(p *testParty, o *Options) { p.block.Data[1][17] = math.NaN() }, `row 17, column "telco_f1"`},
		{"out of range", func(p *testParty, o *Options) { p.block.Data[0][5] = 1e12 }, `row 5, column "telco_f0"`},
		{"infinite", func(p *testParty, o *Options) { p.block.Data[0][6] = math.Inf(-1) }, `row 6, column "telco_f0"`},
		{"intercept in a partner's model", func(p *testParty, o *Options) { p.model.Intercept = 1 }, "only the receiver"},
		{"another key set", func(p *testParty, o *Options) {
			o.KeySet, o.Secret = other["telco"].KeySet, other["telco"].Secret
		}, "key set"},
		{"a secret share of another key set", func(p *testParty, o *Options) { o.Secret = other["telco"].Secret }, "belongs to key set"},
		{"another job", func(p *testParty, o *Options) { o.JobID = "other" }, "runs job"},
		{"another scorecard", func(p *testParty, o *Options) { o.Scorecard = Scorecard{PDO: 40, Base: 600, Odds: 50} }, "scorecard"},
		{"another receiver", func(p *testParty, o *Options) { o.Receiver = "bureau" }, "receiver"},
		{"the encrypted sigmoid on an affine key set", func(p *testParty, o *Options) {
			o.Probability, o.SigmoidBound = ProbabilityEncrypted, 2
		}, "relinearization key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parties := synth(names, "bank", 500, 3, 9)
			res := run(t, "affine-ci12", parties, "bank", func(p *testParty, o *Options) {
				if p.name == "telco" {
					tc.tweak(p, o)
				}
			})
			if res.scores != nil {
				t.Fatal("the receiver released scores")
			}
			if err := res.errs["telco"]; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("telco: %v, want an error containing %q", err, tc.want)
			}
			for _, n := range []string{"bank", "bureau"} {
				if res.errs[n] == nil {
					t.Fatalf("%s succeeded", n)
				}
				// Input errors quote rows: peers hear only that the input
				// could not be used.
				if strings.Contains(tc.want, "row") && strings.Contains(res.errs[n].Error(), "row ") {
					t.Fatalf("%s saw telco's data in an error: %v", n, res.errs[n])
				}
			}
		})
	}
}

// TestScoreClampAndMissing: clamping and the model's missing value make the
// bad values of TestScoreBadInput usable, and the result equals the
// plaintext computation on the clamped values.
func TestScoreClampAndMissing(t *testing.T) {
	t.Parallel()
	names := []string{"bank", "bureau", "telco"}
	parties := synth(names, "bank", 500, 3, 10)
	tp := parties[2]
	tp.block.Data[0][5] = 1e12
	tp.block.Data[1][17] = math.NaN()
	fill := 3.0
	tp.model.Features[1].Missing = &fill
	res := run(t, "affine-ci12", parties, "bank", func(p *testParty, o *Options) { o.Clamp = true })
	res.failed(t)
	var want []float64
	for _, p := range parties {
		u, err := p.model.Partial(p.block, p.name == "bank", true)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = make([]float64, len(u))
		}
		for i := range u {
			want[i] += u[i]
		}
	}
	check(t, res.scores, want, he.AffineCI12.AffineNoise(3).Bound)
	if f := tp.model.Features[0]; math.Abs(res.scores.LogOdds[5]-want[5]) > 1e-4 || *f.Max != f.Center+10*f.Scale {
		t.Fatal("row 5 was not clamped to the model's max")
	}
}

// tamper is a Conn whose outgoing messages pass through fn (nil drops
// the message); crash closes all of the party's connections.
type tamper struct {
	protocol.Conn
	fn    func(msg []byte, crash func()) []byte
	crash func()
}

func (c tamper) Send(ctx context.Context, msg []byte) error {
	// Messages may be shared between peers (a frame is sent to several):
	// tamper with a copy.
	if m := c.fn(bytes.Clone(msg), c.crash); m != nil {
		return c.Conn.Send(ctx, m)
	}
	return nil
}

// runTampered runs a 3-party job in which telco's messages to bank pass
// through fn.
func runTampered(t *testing.T, fn func(msg []byte, crash func()) []byte) outcome {
	return runTamperedOn(t, []string{"bank", "bureau", "telco"}, "telco", "bank", fn, nil)
}

// runTamperedOn runs a job among names in which from's messages to `to` pass
// through fn; tweak adjusts each party's options.
func runTamperedOn(t *testing.T, names []string, from, to string, fn func(msg []byte, crash func()) []byte, tweak func(name string, o *Options)) outcome {
	t.Helper()
	parties := synth(names, "bank", 300, 2, 11)
	ks := keys(t, "affine-ci12", names, 0)
	m, closeAll := protocol.PipeMesh(names)
	defer closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := outcome{stats: map[string]*Stats{}, errs: map[string]error{}}
	done := make(chan struct{})
	type res struct {
		name string
		sc   *Scores
		err  error
	}
	results := make(chan res, len(names))
	for _, p := range parties {
		go func() {
			o := Options{JobID: "j", Receiver: "bank", Parties: names, KeySet: ks[p.name].KeySet, Secret: ks[p.name].Secret,
				Model: p.model, IdleTimeout: 2 * time.Second}
			if p.name == from {
				// The tampering party waits longer than its victim, so that
				// when it falls silent the victim's idle timeout fires before
				// the tamperer's own gives up and closes its streams.
				o.IdleTimeout = 10 * time.Second
			}
			if tweak != nil {
				tweak(p.name, &o)
			}
			conns := map[string]protocol.Conn{}
			for q, c := range m[p.name] {
				conns[q] = c
			}
			if p.name == from {
				conns[to] = tamper{m[from][to], fn, func() {
					for _, c := range m[from] {
						c.Close()
					}
				}}
			}
			var r res
			r.name = p.name
			if p.name == "bank" {
				r.sc, _, r.err = RunReceiver(ctx, p.name, conns, p.block, o)
			} else {
				_, r.err = RunContributor(ctx, p.name, conns, p.block, o)
			}
			if r.err != nil {
				for _, c := range m[p.name] {
					c.Close()
				}
			}
			results <- r
		}()
	}
	go func() {
		for range names {
			r := <-results
			out.errs[r.name] = r.err
			if r.sc != nil {
				out.scores = r.sc
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the job ended only by the test deadline")
	}
	return out
}

// onKind applies fn to the n-th message of the given kind (counting from 0).
func onKind(kind byte, n int, fn func(payload []byte) []byte) func([]byte, func()) []byte {
	var seen atomic.Int32
	return func(msg []byte, _ func()) []byte {
		if len(msg) > 0 && msg[0] == kind && int(seen.Add(1)-1) == n {
			return fn(msg)
		}
		return msg
	}
}

func TestScoreHostileContributor(t *testing.T) {
	t.Parallel()
	params := he.AffineCI12.MustParams()
	for _, tc := range []struct {
		name string
		fn   func([]byte, func()) []byte
		want string
	}{
		{"garbage c1", onKind(kindC1, 0, func(m []byte) []byte {
			for i := 5; i < len(m); i++ {
				m[i] = 0xa5
			}
			return m
		}), "header byte"},
		{"c1 at the wrong level", onKind(kindC1, 0, func(m []byte) []byte {
			p := params.RingQ().AtLevel(0).NewPoly()
			b, _ := p.MarshalBinary()
			return append(m[:5], b...)
		}), "bytes, want"},
		{"c1 of the wrong ring size", onKind(kindC1, 0, func(m []byte) []byte {
			p := he.AffineCI14.MustParams().RingQ().AtLevel(1).NewPoly()
			b, _ := p.MarshalBinary()
			return append(m[:5], b...)
		}), "more than the limit"},
		{"truncated c0", onKind(kindC0, 0, func(m []byte) []byte { return m[:len(m)-8] }), "bytes, want"},
		{"unreduced coefficient", onKind(kindC0, 0, func(m []byte) []byte {
			binary.LittleEndian.PutUint64(m[len(m)-8:], math.MaxUint64)
			return m
		}), "not reduced"},
		{"altered after the commitment", onKind(kindC1, 0, func(m []byte) []byte {
			m[len(m)-8] ^= 1 // still a reduced coefficient, another ciphertext
			return m
		}), "do not match its commitment"},
		{"wrong block index", onKind(kindC1, 0, func(m []byte) []byte {
			m[4] = 7
			return m
		}), "expected block 0"},
		{"another sum key-switched", onKind(kindShare, 0, func(m []byte) []byte {
			m[5] ^= 1
			return m
		}), "switched another sum"},
		{"garbage share", onKind(kindShare, 0, func(m []byte) []byte {
			for i := 5 + 32; i < len(m); i++ {
				m[i] = 0xff
			}
			return m
		}), "key-switch share from telco"},
		{"hello of another party", onKind(kindHello, 0, func(m []byte) []byte {
			var h hello
			_ = json.Unmarshal(m[1:], &h)
			h.Party = "bureau"
			b, _ := json.Marshal(h)
			return append([]byte{kindHello}, b...)
		}), "signed"},
		{"falls silent after committing", func() func([]byte, func()) []byte {
			var gone atomic.Bool
			return func(m []byte, _ func()) []byte {
				if m[0] == kindC1 {
					gone.Store(true)
				}
				if gone.Load() {
					return nil
				}
				return m
			}
		}(), "sent nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runTampered(t, tc.fn)
			if res.scores != nil {
				t.Fatal("the receiver released scores")
			}
			if err := res.errs["bank"]; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("bank: %v, want an error containing %q", err, tc.want)
			}
			if res.errs["bureau"] == nil && tc.name != "another sum key-switched" && tc.name != "garbage share" {
				t.Fatal("bureau succeeded although the receiver failed before the shares")
			}
		})
	}
}

// TestScoreDropout: a party whose node dies mid-job (its connections
// close) ends the job at everybody, and the receiver releases nothing.
func TestScoreDropout(t *testing.T) {
	t.Parallel()
	for _, when := range []byte{kindCommit, kindC1, kindC0, kindShare} {
		t.Run(kindNames[when], func(t *testing.T) {
			t.Parallel()
			res := runTampered(t, func(m []byte, crash func()) []byte {
				if m[0] == when {
					crash()
					return nil
				}
				return m
			})
			if res.scores != nil {
				t.Fatal("the receiver released scores")
			}
			// bank blames telco, or bureau when bureau saw telco go first
			// and closed its own connections.
			if err := res.errs["bank"]; err == nil || !strings.Contains(err.Error(), "telco") && !strings.Contains(err.Error(), "bureau closed") {
				t.Fatalf("bank: %v", err)
			}
			if when != kindShare && res.errs["bureau"] == nil {
				t.Fatal("bureau succeeded")
			}
		})
	}
}

// TestScoreHostileReceiver: a partner checks what the receiver sends it.
func TestScoreHostileReceiver(t *testing.T) {
	t.Parallel()
	two := []string{"bank", "telco"}
	bands := func(name string, o *Options) {
		o.Bands = []float64{500, 600}
		o.Policy = &Policy{TwoParty: Release{Mode: Bands, Bound: 3, Levels: 8}}
	}
	exact := func(name string, o *Options) { o.Policy = &Policy{TwoParty: Release{Mode: Exact}} }
	for _, tc := range []struct {
		name  string
		tweak func(string, *Options)
		fn    func([]byte, func()) []byte
		want  string
	}{
		{"garbage receiver key", exact, onKind(kindReceiverKey, 0, func(m []byte) []byte {
			for i := 40; i < len(m); i++ {
				m[i] = 0x77
			}
			return m
		}), "receiver key from bank"},
		{"short receiver key", exact, onKind(kindReceiverKey, 0, func(m []byte) []byte { return m[:20] }), "receiver key from bank"},
		{"c1 truncated", exact, onKind(kindC1, 0, func(m []byte) []byte { return m[:100] }), "bytes, want"},
		{"garbage band table", bands, onKind(kindTable, 3, func(m []byte) []byte {
			for i := 5; i < 300; i++ {
				m[i] = 0
			}
			return m
		}), "band table from bank"},
		{"band table of another scale", bands, onKind(kindTable, 0, func(m []byte) []byte {
			i := strings.Index(string(m), "p+50")
			copy(m[i:], "p+51")
			return m
		}), "header byte"},
		{"band table of degree 2", bands, onKind(kindTable, 2, func(m []byte) []byte {
			params := he.AffineCI12.MustParams()
			codec, _ := he.NewCodec(he.AffineCI12)
			ct := rlwe.NewCiphertext(params, 2, 1)
			*ct.MetaData = codec.Meta(he.Scale(LogTableScale))
			b, _ := ct.MarshalBinary()
			return append(m[:5], b...)
		}), "more than the limit"},
		{"tables out of order", bands, onKind(kindTable, 1, func(m []byte) []byte {
			m[4] = 5
			return m
		}), "expected block 1"},
		{"a share message from the receiver", exact, onKind(kindC1, 0, func(m []byte) []byte {
			m[0] = kindShare
			return m
		}), "expected its ciphertext (c1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runTamperedOn(t, two, "bank", "telco", tc.fn, tc.tweak)
			if res.scores != nil {
				t.Fatal("the receiver released scores")
			}
			if err := res.errs["telco"]; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("telco: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
