package psi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// wire wraps a Conn with the protocol's framing and the idle timeout.
type wire struct {
	conn protocol.Conn
	opts Options
}

func (w wire) send(ctx context.Context, m *mitaiv1.PsiMessage) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("psi: encode message: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.IdleTimeout)
	defer cancel()
	if err := w.conn.Send(ctx, b); err != nil {
		return peerErr("send", err)
	}
	return nil
}

func (w wire) recv(ctx context.Context) (*mitaiv1.PsiMessage, error) {
	rctx, cancel := context.WithTimeout(ctx, w.opts.IdleTimeout)
	defer cancel()
	b, err := w.conn.Recv(rctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("psi: peer sent nothing for %v: %w", w.opts.IdleTimeout, err)
		}
		return nil, peerErr("receive", err)
	}
	return decodeMessage(b)
}

func peerErr(op string, err error) error {
	if errors.Is(err, protocol.ErrClosed) {
		return fmt.Errorf("psi: %s: peer closed the connection mid-protocol: %w", op, err)
	}
	return fmt.Errorf("psi: %s: %w", op, err)
}

// decodeMessage parses one peer message. It only checks that the bytes are a
// well-formed message with a body; the roles check the contents.
func decodeMessage(b []byte) (*mitaiv1.PsiMessage, error) {
	var m mitaiv1.PsiMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("psi: malformed message from peer: %w", err)
	}
	if m.Body == nil {
		return nil, errors.New("psi: empty message from peer")
	}
	return &m, nil
}

// hello is the hello this role sends.
func (o Options) hello(setSize int) *mitaiv1.PsiMessage {
	return &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Hello{Hello: &mitaiv1.PsiHello{
		Version:         version,
		JobId:           o.JobID,
		Group:           o.Group.Name(),
		Mode:            o.Mode.Proto(),
		SetSize:         uint64(setSize),
		BatchSize:       uint32(o.BatchSize),
		BothReceive:     o.BothReceive,
		MinIntersection: o.MinIntersection,
	}}}
}

// session is what both roles hold once the hellos are exchanged.
type session struct {
	o        Options
	w        wire
	n, peerN int    // this role's and the peer's set sizes
	peerMin  uint64 // the peer's policy minimum
	es, ds   int    // element and digest sizes
}

// openSession fills in the options' defaults, sends this role's hello and
// checks the peer's; the session's batch size is the smaller of the two
// roles'.
func openSession(ctx context.Context, conn protocol.Conn, table Table, opts Options) (*session, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	n := table.Len()
	if n > MaxSetSize {
		return nil, fmt.Errorf("psi: %d keys, more than the limit %d", n, MaxSetSize)
	}
	s := &session{o: o, w: wire{conn: conn, opts: o}, n: n, es: o.Group.ElementSize()}
	if err := s.w.send(ctx, o.hello(n)); err != nil {
		return nil, err
	}
	m, err := s.w.recv(ctx)
	if err != nil {
		return nil, err
	}
	if s.peerN, s.peerMin, err = checkHello(m, o); err != nil {
		return nil, err
	}
	// Both roles send and accept batches of the smaller of their sizes.
	s.o.BatchSize = min(o.BatchSize, int(m.GetHello().BatchSize))
	s.w.opts.BatchSize = s.o.BatchSize
	s.ds = digestSize(n, s.peerN)
	return s, nil
}

// checkHello validates the peer's hello against our options and returns the
// peer's set size and minimum intersection.
func checkHello(m *mitaiv1.PsiMessage, o Options) (peerSize int, peerMin uint64, err error) {
	h := m.GetHello()
	if h == nil {
		return 0, 0, fmt.Errorf("psi: expected hello, peer sent %T", m.Body)
	}
	switch {
	case h.Version != version:
		return 0, 0, fmt.Errorf("psi: peer speaks protocol version %d, we speak %d", h.Version, version)
	case h.JobId != o.JobID:
		return 0, 0, fmt.Errorf("psi: peer runs job %q, we run %q", h.JobId, o.JobID)
	case h.Group != o.Group.Name():
		return 0, 0, fmt.Errorf("psi: peer uses group %q, we use %q", h.Group, o.Group.Name())
	case h.Mode != o.Mode.Proto():
		return 0, 0, fmt.Errorf("psi: peer runs mode %v, we run %v", h.Mode, o.Mode.Proto())
	case h.BatchSize < 1 || h.BatchSize > MaxBatchSize:
		return 0, 0, fmt.Errorf("psi: peer batch size %d outside 1..%d", h.BatchSize, MaxBatchSize)
	case h.BothReceive != o.BothReceive:
		return 0, 0, fmt.Errorf("psi: peer and we disagree on who receives (peer both_receive=%v)", h.BothReceive)
	case h.SetSize > MaxSetSize:
		return 0, 0, fmt.Errorf("psi: peer announces %d keys, more than the limit %d", h.SetSize, MaxSetSize)
	}
	return int(h.SetSize), h.MinIntersection, nil
}

// batchShape is what a batch of one list must look like.
type batchShape struct {
	kind        mitaiv1.PsiBatchKind
	index       int
	count       int // elements in this batch
	elementSize int // 0: no elements expected
	digestSize  int // 0: no digests expected
	payloads    bool
}

// shapeOf returns the shape of batch index of a list of n elements.
func shapeOf(kind mitaiv1.PsiBatchKind, index, n, batchSize int) batchShape {
	count := batchSize
	if rest := n - index*batchSize; rest < count {
		count = rest
	}
	return batchShape{kind: kind, index: index, count: count}
}

// check validates a batch's counts and sizes (not yet its elements).
func (s batchShape) check(b *mitaiv1.PsiBatch) error {
	if b == nil {
		return fmt.Errorf("psi: expected batch %d of %v", s.index, s.kind)
	}
	if b.Kind != s.kind || int(b.Index) != s.index {
		return fmt.Errorf("psi: expected batch %d of %v, peer sent batch %d of %v", s.index, s.kind, b.Index, b.Kind)
	}
	if want := s.count * s.elementSize; len(b.Elements) != want {
		return fmt.Errorf("psi: batch %d of %v: %d bytes of elements, want %d (%d elements)", s.index, s.kind, len(b.Elements), want, s.count)
	}
	if want := s.count * s.digestSize; len(b.Digests) != want {
		return fmt.Errorf("psi: batch %d of %v: %d bytes of digests, want %d", s.index, s.kind, len(b.Digests), want)
	}
	wantPayloads := 0
	if s.payloads {
		wantPayloads = s.count
	}
	if len(b.Payloads) != wantPayloads {
		return fmt.Errorf("psi: batch %d of %v: %d payloads, want %d", s.index, s.kind, len(b.Payloads), wantPayloads)
	}
	for i, p := range b.Payloads {
		if len(p) > MaxPayloadBytes+sealOverhead {
			return fmt.Errorf("psi: batch %d of %v: payload %d is %d bytes, more than the limit %d", s.index, s.kind, i, len(p), MaxPayloadBytes+sealOverhead)
		}
	}
	return nil
}

func batchMsg(b *mitaiv1.PsiBatch) *mitaiv1.PsiMessage {
	return &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Batch{Batch: b}}
}
