package protocol

import (
	"context"
	"sync/atomic"
)

// Meter wraps a Conn and counts the messages and bytes that pass through it.
type Meter struct {
	conn                   Conn
	sent, received         atomic.Uint64
	sentMsgs, receivedMsgs atomic.Uint64
}

// NewMeter returns a Meter over conn.
func NewMeter(conn Conn) *Meter { return &Meter{conn: conn} }

// Send implements Conn.
func (m *Meter) Send(ctx context.Context, msg []byte) error {
	if err := m.conn.Send(ctx, msg); err != nil {
		return err
	}
	m.sent.Add(uint64(len(msg)))
	m.sentMsgs.Add(1)
	return nil
}

// Recv implements Conn.
func (m *Meter) Recv(ctx context.Context) ([]byte, error) {
	msg, err := m.conn.Recv(ctx)
	if err == nil {
		m.received.Add(uint64(len(msg)))
		m.receivedMsgs.Add(1)
	}
	return msg, err
}

// BytesSent returns the payload bytes sent so far.
func (m *Meter) BytesSent() uint64 { return m.sent.Load() }

// BytesReceived returns the payload bytes received so far.
func (m *Meter) BytesReceived() uint64 { return m.received.Load() }

// MessagesSent returns the number of messages sent so far.
func (m *Meter) MessagesSent() uint64 { return m.sentMsgs.Load() }

// MessagesReceived returns the number of messages received so far.
func (m *Meter) MessagesReceived() uint64 { return m.receivedMsgs.Load() }
