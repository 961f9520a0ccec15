package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// dialer opens task streams to peer nodes with this node's certificate.
type dialer struct {
	cert  tls.Certificate
	caPEM []byte
}

// taskStream is a client-side task stream and the connection under it.
type taskStream struct {
	grpc.BidiStreamingClient[mitaiv1.PeerFrame, mitaiv1.PeerFrame]
	cc *grpc.ClientConn
}

// openTask dials the peer's node, checking that its certificate names the
// expected party, and opens a Peer.Task stream bound to ctx.
func (d *dialer) openTask(ctx context.Context, peer *mitaiv1.Participant) (*taskStream, error) {
	opts, err := mtls.DialOptions(d.cert, d.caPEM, peer.Address, peer.Party)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", peer.Party, err)
	}
	cc, err := grpc.NewClient(peer.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", peer.Party, peer.Address, err)
	}
	stream, err := mitaiv1.NewPeerClient(cc).Task(ctx, grpc.WaitForReady(false))
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("open a task stream to %s at %s: %w", peer.Party, peer.Address, err)
	}
	return &taskStream{BidiStreamingClient: stream, cc: cc}, nil
}

// recvFrame receives one frame, giving up after timeout or when ctx ends.
// The receiving goroutine ends with the stream, which the caller ends on error.
func recvFrame(ctx context.Context, recv func() (*mitaiv1.PeerFrame, error), timeout time.Duration) (*mitaiv1.PeerFrame, error) {
	type result struct {
		f   *mitaiv1.PeerFrame
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := recv()
		ch <- result{f, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-timer.C:
		return nil, fmt.Errorf("no answer within %v", timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
