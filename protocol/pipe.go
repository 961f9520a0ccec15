package protocol

import (
	"context"
	"sync"
)

// pipeDepth bounds how many messages one direction of a Pipe buffers, so a
// role that stops reading eventually blocks its peer, as a real transport's
// flow control would.
const pipeDepth = 16

// PipeEnd is one end of an in-memory connection made by Pipe.
type PipeEnd struct {
	in     <-chan []byte
	out    chan<- []byte
	closed chan struct{} // closed by this end's Close
	peer   chan struct{} // the peer end's closed channel
	once   *sync.Once
	sendMu *sync.Mutex
}

// Pipe returns the two ends of an in-memory Conn. It is for tests and
// benchmarks of protocols; nodes talk over gRPC.
func Pipe() (*PipeEnd, *PipeEnd) {
	ab, ba := make(chan []byte, pipeDepth), make(chan []byte, pipeDepth)
	ca, cb := make(chan struct{}), make(chan struct{})
	a := &PipeEnd{in: ba, out: ab, closed: ca, peer: cb, once: new(sync.Once), sendMu: new(sync.Mutex)}
	b := &PipeEnd{in: ab, out: ba, closed: cb, peer: ca, once: new(sync.Once), sendMu: new(sync.Mutex)}
	return a, b
}

// Send implements Conn.
func (p *PipeEnd) Send(ctx context.Context, msg []byte) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	select {
	case <-p.closed:
		return ErrClosed
	case <-p.peer:
		return ErrClosed
	default:
	}
	select {
	case p.out <- msg:
		return nil
	case <-p.peer:
		return ErrClosed
	case <-p.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv implements Conn. Messages the peer queued before closing are still
// delivered.
func (p *PipeEnd) Recv(ctx context.Context) ([]byte, error) {
	select {
	case m := <-p.in:
		return m, nil
	default:
	}
	select {
	case m := <-p.in:
		return m, nil
	case <-p.peer:
		select {
		case m := <-p.in:
			return m, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes this end: the peer's Recv returns ErrClosed once it has
// drained what was sent. Close is idempotent.
func (p *PipeEnd) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}
