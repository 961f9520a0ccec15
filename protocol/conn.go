// Package protocol holds what every mitai protocol shares: the message
// connection between two roles of a task (Conn), an in-memory pipe for tests
// and benchmarks, and a meter that counts the bytes a role moves.
//
// Protocols live in sub-packages (protocol/psi, ...) as plain functions per
// role over a Conn. They never see gRPC, files or the node: the node adapts a
// peer stream to Conn, and the same role functions run over Pipe in tests.
package protocol

import (
	"context"
	"errors"
)

// Conn is an ordered, reliable stream of messages between two roles of one
// task. Messages are opaque byte strings; each protocol encodes its own.
type Conn interface {
	// Send queues one message for the peer. It is safe for concurrent use by
	// several goroutines and returns when the message is handed to the
	// transport or ctx ends. The caller must not modify msg afterwards.
	Send(ctx context.Context, msg []byte) error
	// Recv returns the next message from the peer. It must be called from one
	// goroutine at a time. It returns ErrClosed (possibly wrapped) once the
	// peer has closed its side, and ctx's error when ctx ends first.
	Recv(ctx context.Context) ([]byte, error)
}

// ErrClosed reports that the peer closed the connection.
var ErrClosed = errors.New("protocol: connection closed by peer")
