// Package mtls is the gRPC side of mitai's mutual TLS: dial options that
// pin the server's party, server credentials, and the verified party of a
// call. Certificates and TLS configurations come from crypto/pki.
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/crypto/pki"
)

// MaxMessageBytes bounds one gRPC message on every mitai connection.
const MaxMessageBytes = 96 << 20

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
		cfg.VerifyConnection = RequireParty(cfg.VerifyConnection, wantParty)
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
	}, nil
}

// RequireParty wraps a tls.Config VerifyConnection hook (which may be nil)
// so that the handshake also fails unless the verified peer's certificate
// names party.
func RequireParty(verify func(tls.ConnectionState) error, party string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		got, err := pki.PartyOf(cs)
		if err != nil {
			return err
		}
		if got != party {
			return fmt.Errorf("the peer is party %q, expected %q", got, party)
		}
		return nil
	}
}

// ServerOptions returns the gRPC server options for a server of the cluster
// holding cert: TLS 1.3, client certificates required.
func ServerOptions(cert tls.Certificate, caPEM []byte) ([]grpc.ServerOption, error) {
	cfg, err := pki.ServerConfig(cert, caPEM)
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(cfg)),
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
	}, nil
}

// CallerParty returns the party of the verified client certificate of a call.
func CallerParty(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "not a TLS connection")
	}
	party, err := pki.PartyOf(ti.State)
	if err != nil {
		return "", status.Error(codes.Unauthenticated, err.Error())
	}
	return party, nil
}

// CallerCertificate returns the verified client certificate of a call.
func CallerCertificate(ctx context.Context) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	return ti.State.VerifiedChains[0][0], nil
}
