package pki

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// newTestCA makes a CA or fails the test.
func newTestCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, 24*time.Hour)
	if err != nil {
		t.Fatalf("NewCA(%q): %v", name, err)
	}
	return ca
}

// issueCert issues credentials and turns them into a tls.Certificate.
func issueCert(t *testing.T, ca *CA, req IssueRequest) tls.Certificate {
	t.Helper()
	creds, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", req, err)
	}
	return keyPair(t, creds)
}

// keyPair parses credentials or fails the test.
func keyPair(t *testing.T, creds Credentials) tls.Certificate {
	t.Helper()
	cert, err := tls.X509KeyPair(creds.CertPEM, creds.KeyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return cert
}

// serverConfig and clientConfig build configurations or fail the test.
func serverConfig(t *testing.T, cert tls.Certificate, caPEM []byte) *tls.Config {
	t.Helper()
	cfg, err := ServerConfig(cert, caPEM)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	return cfg
}

func clientConfig(t *testing.T, cert tls.Certificate, caPEM []byte, serverName string) *tls.Config {
	t.Helper()
	cfg, err := ClientConfig(cert, caPEM, serverName)
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	return cfg
}

// handshakeResult is what each side of a test connection saw.
type handshakeResult struct {
	serverErr, clientErr     error
	serverSaw, clientSaw     string // the peer's party, by PartyOf
	serverState, clientState tls.ConnectionState
}

// handshake connects a client and a server over loopback TCP (127.0.0.1)
// and runs a TLS handshake followed by one byte from server to client, which
// the client must read: in TLS 1.3 the client's handshake completes before
// the server has checked the client certificate, so a rejection reaches the
// client only on its first read. A real socket rather than net.Pipe, whose
// unbuffered writes can deadlock two sides that both write an alert.
func handshake(t *testing.T, server, client *tls.Config) handshakeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()

	var res handshakeResult
	var wg sync.WaitGroup
	wg.Go(func() {
		raw, err := ln.Accept()
		if err != nil {
			res.serverErr = err
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Server(raw, server)
		if err := conn.HandshakeContext(ctx); err != nil {
			res.serverErr = err
			return
		}
		res.serverState = conn.ConnectionState()
		if res.serverSaw, err = PartyOf(res.serverState); err != nil {
			res.serverErr = err
			return
		}
		_, res.serverErr = conn.Write([]byte{1})
	})

	func() {
		var d net.Dialer
		raw, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			res.clientErr = err
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Client(raw, client)
		if err := conn.HandshakeContext(ctx); err != nil {
			res.clientErr = err
			return
		}
		if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
			res.clientErr = err
			return
		}
		res.clientState = conn.ConnectionState()
		res.clientSaw, res.clientErr = PartyOf(res.clientState)
	}()
	_ = ln.Close() // unblocks Accept if the client never dialled
	wg.Wait()
	return res
}
