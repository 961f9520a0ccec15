package coordinator

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/mtls"
)

// tlsStreamLayer carries Raft's RPCs over TLS 1.3 with client certificates:
// both ends must hold a certificate of the cluster CA naming the
// coordinator party.
type tlsStreamLayer struct {
	net.Listener
	cert  tls.Certificate
	caPEM []byte
}

func newTLSStreamLayer(addr string, cert tls.Certificate, caPEM []byte) (*tlsStreamLayer, error) {
	cfg, err := pki.ServerConfig(cert, caPEM)
	if err != nil {
		return nil, err
	}
	cfg.VerifyConnection = mtls.RequireParty(cfg.VerifyConnection, CoordinatorParty)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("coordinator: raft listen: %w", err)
	}
	return &tlsStreamLayer{Listener: tls.NewListener(lis, cfg), cert: cert, caPEM: caPEM}, nil
}

// Dial implements raft.StreamLayer.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	cfg, err := pki.ClientConfig(s.cert, s.caPEM, host)
	if err != nil {
		return nil, err
	}
	cfg.VerifyConnection = mtls.RequireParty(cfg.VerifyConnection, CoordinatorParty)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), cfg)
	if err != nil {
		return nil, err
	}
	return conn, nil
}
