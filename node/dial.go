package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mitai-dev/mitai/crypto/pki"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// maxMessageBytes bounds one gRPC message; psi batches stay far below it
// (4,096 elements of 32 bytes, or of payloads up to psi.MaxPayloadBytes).
const maxMessageBytes = 96 << 20

// dialer opens task streams to peer nodes with this node's certificate.
type dialer struct {
	cert  tls.Certificate
	caPEM []byte
}

// DialOptions returns the gRPC options to reach a server of the cluster at
// address as the holder of cert, requiring that the server's certificate
// names party wantParty (any party if empty).
func DialOptions(cert tls.Certificate, caPEM []byte, address, wantParty string) ([]grpc.DialOption, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, err)
	}
	cfg, err := pki.ClientConfig(cert, caPEM, host)
	if err != nil {
		return nil, err
	}
	if wantParty != "" {
		verify := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if verify != nil {
				if err := verify(cs); err != nil {
					return err
				}
			}
			party, err := pki.PartyOf(cs)
			if err != nil {
				return err
			}
			if party != wantParty {
				return fmt.Errorf("the server at %s is party %q, expected %q", address, party, wantParty)
			}
			return nil
		}
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}, nil
}

// taskStream is a client-side task stream and the connection under it.
type taskStream struct {
	grpc.BidiStreamingClient[mitaiv1.PeerFrame, mitaiv1.PeerFrame]
	cc *grpc.ClientConn
}

// openTask dials the peer's node, checking that its certificate names the
// expected party, and opens a Peer.Task stream bound to ctx.
func (d *dialer) openTask(ctx context.Context, peer *mitaiv1.Participant) (*taskStream, error) {
	opts, err := DialOptions(d.cert, d.caPEM, peer.Address, peer.Party)
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
