package psi

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// script plays a hostile peer on one end of a pipe.
type script func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options)

func mustSend(ctx context.Context, c *protocol.PipeEnd, m *mitaiv1.PsiMessage) {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	_ = c.Send(ctx, b)
}

// hostileRun runs the real role against the script and returns its error.
// The role must end by itself, within the test's deadline.
func hostileRun(t *testing.T, receiverRole bool, mode Mode, s script) error {
	t.Helper()
	a, b, _ := makeSets(3, 20, 20, 5)
	o := Options{JobID: "j", Mode: mode, BatchSize: 8, IdleTimeout: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mine, theirs := protocol.Pipe()
	go func() {
		oo, _ := o.withDefaults()
		s(ctx, t, theirs, oo)
	}()
	var err error
	start := time.Now()
	if receiverRole {
		_, err = RunReceiver(ctx, mine, a, o)
	} else {
		_, err = RunSender(ctx, mine, b, o)
	}
	mine.Close()
	if ctx.Err() != nil {
		t.Fatalf("role ended only by the test deadline after %v", time.Since(start))
	}
	return err
}

// helloFor is a valid hello for a peer holding n keys.
func helloFor(o Options, n int) *mitaiv1.PsiMessage { return o.hello(n) }

// validElements returns count valid, hashed elements.
func validElements(o Options, count int) []byte {
	es := o.Group.ElementSize()
	out := make([]byte, count*es)
	for i := range count {
		o.Group.HashToElement(out[i*es:(i+1)*es], []byte{byte(i)}, []byte("t"))
	}
	return out
}

func TestHostileSender(t *testing.T) {
	t.Parallel()
	drain := func(ctx context.Context, c *protocol.PipeEnd) {
		for {
			if _, err := c.Recv(ctx); err != nil {
				return
			}
		}
	}
	for _, tc := range []struct {
		name string
		want string
		s    script
	}{
		{"garbage bytes", "malformed message", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			_ = c.Send(ctx, []byte{0xff, 0xff, 0xff})
		}},
		{"empty message", "empty message", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			_ = c.Send(ctx, nil)
		}},
		{"wrong version", "version", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			h := helloFor(o, 20)
			h.GetHello().Version = 9
			mustSend(ctx, c, h)
		}},
		{"huge set size", "limit", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			h := helloFor(o, 20)
			h.GetHello().SetSize = 1 << 40
			mustSend(ctx, c, h)
		}},
		{"batch size 0", "batch size 0 outside", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			h := helloFor(o, 20)
			h.GetHello().BatchSize = 0
			mustSend(ctx, c, h)
		}},
		{"huge batch size", "outside 1..", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			h := helloFor(o, 20)
			h.GetHello().BatchSize = MaxBatchSize + 1
			mustSend(ctx, c, h)
		}},
		{"batch larger than the agreed size", "want 256 (8 elements)", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			h := helloFor(o, 20) // o.BatchSize is 8; we claim more and send 20 at once
			h.GetHello().BatchSize = 64
			mustSend(ctx, c, h)
			_, _ = c.Recv(ctx)
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: validElements(o, 20)}))
		}},
		{"batch instead of hello", "expected hello", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{}))
		}},
		{"never answers", "sent nothing", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			mustSend(ctx, c, helloFor(o, 20))
			<-ctx.Done()
		}},
		{"closes mid-stream", "closed", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			mustSend(ctx, c, helloFor(o, 20))
			_, _ = c.Recv(ctx)
			c.Close()
		}},
		{"malformed point", "invalid element", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			go drain(ctx, c)
			mustSend(ctx, c, helloFor(o, 20))
			el := validElements(o, 8)
			for i := range 32 {
				el[i] = 0xff // not canonical in any group
			}
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: el}))
		}},
		{"identity point", "invalid element", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			go drain(ctx, c)
			mustSend(ctx, c, helloFor(o, 20))
			el := validElements(o, 8)
			copy(el, make([]byte, o.Group.ElementSize()))
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: el}))
		}},
		{"short batch", "bytes of elements", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			go drain(ctx, c)
			mustSend(ctx, c, helloFor(o, 20))
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: validElements(o, 7)}))
		}},
		{"wrong batch index", "expected batch 0", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			go drain(ctx, c)
			mustSend(ctx, c, helloFor(o, 20))
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Index: 1, Elements: validElements(o, 8)}))
		}},
		{"too many batches", "unexpected batch", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			go drain(ctx, c)
			mustSend(ctx, c, helloFor(o, 4))
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: validElements(o, 4)}))
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Index: 1, Elements: validElements(o, 4)}))
		}},
		{"wrong digest size", "bytes of digests", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			go drain(ctx, c)
			mustSend(ctx, c, helloFor(o, 20))
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_DOUBLE_BLINDED, Digests: make([]byte, 8*11)}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := hostileRun(t, true, Intersection, tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestHostileReceiver(t *testing.T) {
	t.Parallel()
	// answerAll consumes the sender's lists until it stops sending.
	consume := func(ctx context.Context, c *protocol.PipeEnd, o Options, n int) {
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		for {
			if _, err := c.Recv(ctx); err != nil {
				return
			}
		}
	}
	sendAll := func(ctx context.Context, c *protocol.PipeEnd, o Options) {
		mustSend(ctx, c, helloFor(o, 16))
		for k := range 2 {
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_BLINDED, Index: uint32(k), Elements: validElements(o, 8)}))
		}
	}
	outcome := func(out *mitaiv1.PsiOutcome) *mitaiv1.PsiMessage {
		return &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Outcome{Outcome: out}}
	}
	for _, tc := range []struct {
		name string
		mode Mode
		want string
		s    script
	}{
		{"low-order point", Intersection, "invalid element", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			mustSend(ctx, c, helloFor(o, 8))
			el := validElements(o, 8)
			el[0] = 1 // x25519: u = 1 is low order; other groups: not canonical or off-curve
			for i := 1; i < o.Group.ElementSize(); i++ {
				el[i] = 0
			}
			mustSend(ctx, c, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_BLINDED, Elements: el}))
			consume(ctx, c, o, 0)
		}},
		{"outcome instead of batch", Intersection, "expected batch", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			mustSend(ctx, c, helloFor(o, 8))
			mustSend(ctx, c, outcome(&mitaiv1.PsiOutcome{Released: true}))
			consume(ctx, c, o, 0)
		}},
		{"result the sender does not receive", Intersection, "does not receive", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			sendAll(ctx, c, o)
			consume(ctx, c, o, 0)
			mustSend(ctx, c, outcome(&mitaiv1.PsiOutcome{Released: true, IntersectionSize: 3}))
		}},
		{"missing outcome", Intersection, "closed", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			sendAll(ctx, c, o)
			consume(ctx, c, o, 0)
			c.Close()
		}},
		{"refused", Join, "minimum", func(ctx context.Context, t *testing.T, c *protocol.PipeEnd, o Options) {
			sendAll(ctx, c, o)
			consume(ctx, c, o, 0)
			mustSend(ctx, c, outcome(&mitaiv1.PsiOutcome{Released: false, Reason: "too small"}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := hostileRun(t, false, tc.mode, tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestHostileMatches feeds a sender that also receives bad match positions.
func TestHostileMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		positions []uint32
		size      uint64
		batches   uint32
	}{
		{"out of range", []uint32{99}, 1, 1},
		{"duplicate", []uint32{1, 1}, 2, 1},
		{"unsorted", []uint32{3, 2}, 2, 1},
		{"wrong batch count", []uint32{1}, 1, 2},
		{"size above set", nil, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, _ := makeSets(4, 8, 8, 2)
			_ = a
			o := Options{JobID: "j", Mode: Intersection, BothReceive: true, BatchSize: 8, IdleTimeout: time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			mine, theirs := protocol.Pipe()
			go func() {
				oo, _ := o.withDefaults()
				mustSend(ctx, theirs, helloFor(oo, 8))
				mustSend(ctx, theirs, batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_BLINDED, Elements: validElements(oo, 8)}))
				rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
				for {
					if _, err := theirs.Recv(rctx); err != nil {
						break
					}
				}
				rcancel()
				mustSend(ctx, theirs, &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Outcome{Outcome: &mitaiv1.PsiOutcome{Released: true, IntersectionSize: tc.size, MatchBatches: tc.batches}}})
				var buf []byte
				for _, p := range tc.positions {
					buf = binary.LittleEndian.AppendUint32(buf, p)
				}
				mustSend(ctx, theirs, &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Matches{Matches: &mitaiv1.PsiMatches{Positions: buf}}})
			}()
			_, err := RunSender(ctx, mine, b, o)
			if err == nil {
				t.Fatal("bad match positions accepted")
			}
		})
	}
}

// FuzzReceiverMessages feeds arbitrary frames, after a valid hello, to the
// receiver role: it must end with an error or a result, never panic or hang.
func FuzzReceiverMessages(f *testing.F) {
	o, _ := Options{JobID: "j", Mode: Join, BatchSize: 4, IdleTimeout: 50 * time.Millisecond}.withDefaults()
	el := validElements(o, 4)
	seed, _ := proto.Marshal(batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: el, Payloads: [][]byte{{1}, {2}, {3}, {4}}}))
	f.Add(seed)
	seed2, _ := proto.Marshal(batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_DOUBLE_BLINDED, Digests: make([]byte, 48), Elements: el}))
	f.Add(append(seed2, append([]byte{0, 0}, seed...)...))
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, _, _ := makeSets(5, 4, 4, 2)
		fuzzRole(t, o, data, func(ctx context.Context, c protocol.Conn) error {
			_, err := RunReceiver(ctx, c, a, o)
			return err
		})
	})
}

// fuzzRole runs a role against a peer that sends a valid hello and then the
// frames of data (split at each 0x00 0x00), and fails if the role hangs.
func fuzzRole(t *testing.T, o Options, data []byte, role func(context.Context, protocol.Conn) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mine, theirs := protocol.Pipe()
	go func() {
		mustSend(ctx, theirs, helloFor(o, 4))
		for _, frame := range bytes.Split(data, []byte{0, 0}) {
			_ = theirs.Send(ctx, frame)
		}
		theirs.Close()
	}()
	go func() {
		for {
			if _, err := theirs.Recv(ctx); err != nil {
				return
			}
		}
	}()
	_ = role(ctx, mine)
	if ctx.Err() != nil {
		t.Fatal("role hung")
	}
}

// FuzzSenderMessages does the same for the sender role.
func FuzzSenderMessages(f *testing.F) {
	o, _ := Options{JobID: "j", Mode: Intersection, BothReceive: true, BatchSize: 4, IdleTimeout: 50 * time.Millisecond}.withDefaults()
	seed, _ := proto.Marshal(batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_BLINDED, Elements: validElements(o, 4)}))
	out, _ := proto.Marshal(&mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Outcome{Outcome: &mitaiv1.PsiOutcome{Released: true, IntersectionSize: 1, MatchBatches: 1}}})
	mt, _ := proto.Marshal(&mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Matches{Matches: &mitaiv1.PsiMatches{Positions: []byte{2, 0, 0, 0}}}})
	f.Add(bytes.Join([][]byte{seed, out, mt}, []byte{0, 0}))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, b, _ := makeSets(6, 4, 4, 2)
		fuzzRole(t, o, data, func(ctx context.Context, c protocol.Conn) error {
			_, err := RunSender(ctx, c, b, o)
			return err
		})
	})
}

// FuzzDecodeMessage checks the message decoder and the batch checks on
// arbitrary bytes.
func FuzzDecodeMessage(f *testing.F) {
	o, _ := Options{JobID: "j", Mode: Join}.withDefaults()
	b, _ := proto.Marshal(o.hello(10))
	f.Add(b)
	b, _ = proto.Marshal(batchMsg(&mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, Elements: validElements(o, 2), Payloads: [][]byte{{1}, {2}}}))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			return
		}
		_, _, _ = checkHello(m, o)
		s := shapeOf(mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET, 0, 2, 4096)
		s.elementSize, s.payloads = 32, true
		_ = s.check(m.GetBatch())
	})
}
