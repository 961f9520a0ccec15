// Package mesh is the message layer of mitai's k-party protocols (keygen,
// score): every party holds one protocol.Conn to every other party (a full
// mesh of pairwise, authenticated and confidential streams in a
// deployment; protocol.Pipe in tests), and messages are framed as one kind
// byte followed by the payload.
//
// A party that gives up sends an abort message (kind Abort, the reason as
// payload) to every peer, so that their roles end with the reason instead of
// waiting for the idle timeout.
package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mitai-dev/mitai/protocol"
)

// Abort is the kind of the message a party sends when it stops.
const Abort byte = 0xff

// maxAbortReason bounds the reason a peer may send.
const maxAbortReason = 512

// Net is one party's view of the mesh.
type Net struct {
	// Tag names the protocol in errors ("keygen", "score").
	Tag  string
	Self string
	// Peers maps every other party to the connection with it.
	Peers map[string]protocol.Conn
	// Idle bounds the wait for any one message from a peer, and for a peer
	// to accept one.
	Idle time.Duration
	// Names are the kinds' names, for errors.
	Names map[byte]string
}

// PeerError is an error caused by (or reported by) one peer.
type PeerError struct {
	Peer string
	Err  error
}

func (e *PeerError) Error() string { return e.Err.Error() }
func (e *PeerError) Unwrap() error { return e.Err }

// ErrAborted reports that a peer stopped the protocol and said why.
var ErrAborted = errors.New("peer aborted")

// Others returns the peers' names, sorted.
func (n *Net) Others() []string {
	out := make([]string, 0, len(n.Peers))
	for p := range n.Peers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (n *Net) kindName(k byte) string {
	if s, ok := n.Names[k]; ok {
		return s
	}
	if k == Abort {
		return "abort"
	}
	return fmt.Sprintf("kind %d", k)
}

// Send sends one message of the given kind to a peer.
func (n *Net) Send(ctx context.Context, to string, kind byte, payload []byte) error {
	c, ok := n.Peers[to]
	if !ok {
		return fmt.Errorf("%s: no connection to %s", n.Tag, to)
	}
	msg := make([]byte, 1+len(payload))
	msg[0] = kind
	copy(msg[1:], payload)
	ctx, cancel := context.WithTimeout(ctx, n.Idle)
	defer cancel()
	if err := c.Send(ctx, msg); err != nil {
		return n.peerErr(to, "send "+n.kindName(kind)+" to", err)
	}
	return nil
}

// Frame returns a message buffer of the given kind, with room for size
// more bytes: append the payload and pass it to SendFrame, which sends it
// without copying (to as many peers as needed; nobody may modify it after).
func Frame(kind byte, size int) []byte {
	b := make([]byte, 1, 1+size)
	b[0] = kind
	return b
}

// SendFrame sends a message made with Frame.
func (n *Net) SendFrame(ctx context.Context, to string, frame []byte) error {
	c, ok := n.Peers[to]
	if !ok {
		return fmt.Errorf("%s: no connection to %s", n.Tag, to)
	}
	ctx, cancel := context.WithTimeout(ctx, n.Idle)
	defer cancel()
	if err := c.Send(ctx, frame); err != nil {
		return n.peerErr(to, "send "+n.kindName(frame[0])+" to", err)
	}
	return nil
}

// Broadcast sends the same message to every peer, concurrently.
func (n *Net) Broadcast(ctx context.Context, kind byte, payload []byte) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range n.Others() {
		g.Go(func() error { return n.Send(gctx, p, kind, payload) })
	}
	return g.Wait()
}

// Recv returns the payload of the next message from a peer, which must be
// of the given kind and at most maxLen bytes. Only one goroutine may
// receive from a given peer at a time.
func (n *Net) Recv(ctx context.Context, from string, kind byte, maxLen int) ([]byte, error) {
	c, ok := n.Peers[from]
	if !ok {
		return nil, fmt.Errorf("%s: no connection to %s", n.Tag, from)
	}
	rctx, cancel := context.WithTimeout(ctx, n.Idle)
	defer cancel()
	msg, err := c.Recv(rctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, &PeerError{from, fmt.Errorf("%s: %s sent nothing for %v while we waited for its %s: %w", n.Tag, from, n.Idle, n.kindName(kind), err)}
		}
		return nil, n.peerErr(from, "receive "+n.kindName(kind)+" from", err)
	}
	if len(msg) == 0 {
		return nil, &PeerError{from, fmt.Errorf("%s: empty message from %s", n.Tag, from)}
	}
	if msg[0] == Abort {
		reason := msg[1:]
		if len(reason) > maxAbortReason {
			reason = reason[:maxAbortReason]
		}
		return nil, &PeerError{from, fmt.Errorf("%s: %s stopped: %q: %w", n.Tag, from, reason, ErrAborted)}
	}
	if msg[0] != kind {
		return nil, &PeerError{from, fmt.Errorf("%s: %s sent a %s, expected its %s", n.Tag, from, n.kindName(msg[0]), n.kindName(kind))}
	}
	if len(msg)-1 > maxLen {
		return nil, &PeerError{from, fmt.Errorf("%s: %s sent a %s of %d bytes, more than the limit %d", n.Tag, from, n.kindName(kind), len(msg)-1, maxLen)}
	}
	return msg[1:], nil
}

// RecvAll receives one message of the given kind from every peer,
// concurrently, and hands each to fn (called concurrently for different
// peers).
func (n *Net) RecvAll(ctx context.Context, kind byte, maxLen int, fn func(from string, payload []byte) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range n.Others() {
		g.Go(func() error {
			b, err := n.Recv(gctx, p, kind, maxLen)
			if err != nil {
				return err
			}
			if err := fn(p, b); err != nil {
				return &PeerError{p, err}
			}
			return nil
		})
	}
	return g.Wait()
}

// AbortAll tells every peer that this party stops, and why; best effort,
// bounded by a short timeout.
func (n *Net) AbortAll(reason string) {
	if len(reason) > maxAbortReason {
		reason = reason[:maxAbortReason]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.Broadcast(ctx, Abort, []byte(reason))
}

func (n *Net) peerErr(peer, op string, err error) error {
	if errors.Is(err, protocol.ErrClosed) {
		return &PeerError{peer, fmt.Errorf("%s: %s %s: %s closed the connection mid-protocol: %w", n.Tag, op, peer, peer, err)}
	}
	return &PeerError{peer, fmt.Errorf("%s: %s %s: %w", n.Tag, op, peer, err)}
}

// Check validates a party list: sorted or not, it must hold self, have no
// duplicates, and name exactly the peers of the mesh.
func (n *Net) Check(parties []string) error {
	seen := map[string]bool{}
	for _, p := range parties {
		if p == "" {
			return fmt.Errorf("%s: empty party name", n.Tag)
		}
		if seen[p] {
			return fmt.Errorf("%s: party %s listed twice", n.Tag, p)
		}
		seen[p] = true
	}
	if !seen[n.Self] {
		return fmt.Errorf("%s: we (%s) are not among the parties %v", n.Tag, n.Self, parties)
	}
	if len(n.Peers) != len(parties)-1 {
		return fmt.Errorf("%s: %d connections for %d other parties", n.Tag, len(n.Peers), len(parties)-1)
	}
	for p := range n.Peers {
		if !seen[p] || p == n.Self {
			return fmt.Errorf("%s: a connection to %s, who is not a party", n.Tag, p)
		}
	}
	return nil
}
