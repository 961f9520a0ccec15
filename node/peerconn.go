package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// frameStream is what the client and server sides of Peer.Task share.
type frameStream interface {
	Send(*mitaiv1.PeerFrame) error
	Recv() (*mitaiv1.PeerFrame, error)
}

// peerConn adapts a Peer.Task stream to protocol.Conn. One goroutine reads
// frames ahead into a small queue and one writes them, so that both Send and
// Recv honour their contexts even when gRPC flow control blocks.
type peerConn struct {
	stream    frameStream
	closeSend func() error // client side: half-close; nil on the server side

	in       chan []byte
	readErr  error         // set before in is closed
	readDone chan struct{} // closed when the reader stopped: the stream ended

	out      chan []byte
	writeErr chan error // the writer's final error, buffered 1
	mu       sync.Mutex // guards closed and sends on out
	closed   bool

	done     chan struct{} // closed by Close: stops the reader
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
}

const connQueue = 8

func newPeerConn(s frameStream, closeSend func() error) *peerConn {
	c := &peerConn{
		stream: s, closeSend: closeSend,
		in: make(chan []byte, connQueue), out: make(chan []byte, connQueue),
		writeErr: make(chan error, 1), done: make(chan struct{}), readDone: make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

func (c *peerConn) readLoop() {
	defer c.wg.Done()
	defer close(c.readDone)
	defer close(c.in)
	for {
		f, err := c.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = protocol.ErrClosed
			}
			c.readErr = err
			return
		}
		data, ok := f.Kind.(*mitaiv1.PeerFrame_Data)
		if !ok {
			c.readErr = fmt.Errorf("node: peer sent a %T frame mid-task", f.Kind)
			return
		}
		select {
		case c.in <- data.Data:
		case <-c.done:
			return
		}
	}
}

func (c *peerConn) writeLoop() {
	defer c.wg.Done()
	var err error
	for msg := range c.out {
		if err != nil {
			continue // drain after a failure
		}
		err = c.stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Data{Data: msg}})
	}
	if err == nil && c.closeSend != nil {
		err = c.closeSend()
	}
	c.writeErr <- err
}

// ended reports whether the stream has ended (the peer closed it or it
// failed), without consuming a message.
func (c *peerConn) ended() bool {
	select {
	case <-c.readDone:
		return true
	default:
		return false
	}
}

// Send implements protocol.Conn.
func (c *peerConn) Send(ctx context.Context, msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("node: send on a closed task stream")
	}
	select {
	case c.out <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv implements protocol.Conn.
func (c *peerConn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case msg, ok := <-c.in:
		if !ok {
			return nil, c.readErr
		}
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close flushes what was sent (half-closing the client side), waits up to
// linger for the peer to finish its side, and stops both goroutines.
func (c *peerConn) Close(linger time.Duration) error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		close(c.out)
		c.mu.Unlock()
		select {
		case c.closeErr = <-c.writeErr:
		case <-time.After(linger):
			c.closeErr = errors.New("node: timed out flushing the task stream")
		}
		if c.closeSend != nil && c.closeErr == nil {
			// Wait for the server to end the stream, so that cancelling the
			// call cannot cut off frames still in flight.
			timer := time.NewTimer(linger)
			defer timer.Stop()
		drain:
			for {
				select {
				case _, ok := <-c.in:
					if !ok {
						break drain
					}
				case <-timer.C:
					break drain
				}
			}
		}
		close(c.done)
	})
	return c.closeErr
}

// wait waits for the goroutines; the stream's context must be done (or the
// stream ended) first, or this blocks. The client side calls it after
// cancelling its call. On the server side the reader ends when the handler
// returns (gRPC then ends the stream), so the handler does not wait.
func (c *peerConn) wait() { c.wg.Wait() }
