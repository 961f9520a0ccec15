package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// ServerConfig returns the TLS configuration for the serving side of a
// connection: TLS 1.3 only, cert as the server certificate, and a client
// certificate required and verified against the CA certificates in caPEM,
// the only roots trusted. It fails if cert was not issued by one of those CAs
// or does not allow server authentication. The configuration also rejects,
// during the handshake, a client whose verified certificate has no valid
// party name; read the party with [PartyOf].
func ServerConfig(cert tls.Certificate, caPEM []byte) (*tls.Config, error) {
	pool, cas, err := parseCABundle(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: server config: %w", err)
	}
	if err := checkOwnCert(cert, cas, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, fmt.Errorf("pki: server config: %w", err)
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		VerifyConnection: verifyPeerParty,
	}, nil
}

// ClientConfig returns the TLS configuration for the dialling side of a
// connection: TLS 1.3 only, cert presented as the client certificate, and
// the server's certificate verified against the CA certificates in caPEM,
// the only roots trusted, and against serverName (a DNS name or IP address
// from the server's IssueRequest.Hosts). serverName may be empty only if the
// caller sets it later, as gRPC does from the dial target; crypto/tls refuses
// to verify a server without one. It fails if cert was not issued by one of
// those CAs or does not allow client authentication. The configuration also
// rejects a server whose verified certificate has no valid party name; read
// the party with [PartyOf].
func ClientConfig(cert tls.Certificate, caPEM []byte, serverName string) (*tls.Config, error) {
	pool, cas, err := parseCABundle(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: client config: %w", err)
	}
	if err := checkOwnCert(cert, cas, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("pki: client config: %w", err)
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		RootCAs:          pool,
		ServerName:       serverName,
		VerifyConnection: verifyPeerParty,
	}, nil
}

// PartyOf returns the party on the other end of a TLS connection: the CN of
// its verified leaf certificate (VerifiedChains[0][0]), checked with
// ValidPartyName. It is an error if the peer's certificate was not verified,
// for example because none was presented or verification was skipped; an
// unverified certificate names nobody.
func PartyOf(state tls.ConnectionState) (string, error) {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		if len(state.PeerCertificates) == 0 {
			return "", errors.New("pki: peer presented no certificate")
		}
		return "", errors.New("pki: peer certificate was not verified")
	}
	leaf := state.VerifiedChains[0][0]
	if err := ValidPartyName(leaf.Subject.CommonName); err != nil {
		return "", fmt.Errorf("pki: peer certificate %s: %w", Fingerprint(leaf), err)
	}
	return leaf.Subject.CommonName, nil
}

// Fingerprint returns the SHA-256 of a certificate's DER encoding as lowercase
// hex, for logs and for comparing certificates by eye; "" for nil.
func Fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// verifyPeerParty is the tls.Config.VerifyConnection of both sides: the
// handshake fails unless the peer is a verified, well-named party.
func verifyPeerParty(state tls.ConnectionState) error {
	_, err := PartyOf(state)
	return err
}

// parseCABundle parses caPEM, one or more PEM "CERTIFICATE" blocks each
// holding a CA certificate (several while a CA is being replaced).
func parseCABundle(caPEM []byte) (*x509.CertPool, []*x509.Certificate, error) {
	pool := x509.NewCertPool()
	var cas []*x509.Certificate
	rest := caPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, nil, fmt.Errorf("CA bundle: PEM block %d is %q, want \"CERTIFICATE\"", len(cas)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("CA bundle: certificate %d: %w", len(cas)+1, err)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, nil, fmt.Errorf("CA bundle: certificate %d (CN %q) is not a CA certificate", len(cas)+1, c.Subject.CommonName)
		}
		pool.AddCert(c)
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, nil, errors.New("CA bundle: no PEM certificates found")
	}
	return pool, cas, nil
}

// checkOwnCert checks the certificate a side presents, so that a wrong file
// fails at start-up with a clear error rather than as a handshake failure on
// the peer: it must have a private key matching its leaf, the leaf must be a
// non-CA certificate with a valid party name allowing usage, signed directly
// by one of cas. Its validity period is not checked here: the peer checks it
// at every handshake.
func checkOwnCert(cert tls.Certificate, cas []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(cert.Certificate) == 0 {
		return errors.New("no certificate")
	}
	if cert.PrivateKey == nil {
		return errors.New("no private key")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("certificate: %w", err)
		}
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok || !publicKeysEqual(signer.Public(), leaf.PublicKey) {
		return fmt.Errorf("private key does not match certificate %s", Fingerprint(leaf))
	}
	if leaf.IsCA {
		return fmt.Errorf("certificate %s (CN %q) is a CA certificate; use one made by 'mitai ca issue'", Fingerprint(leaf), leaf.Subject.CommonName)
	}
	if err := ValidPartyName(leaf.Subject.CommonName); err != nil {
		return fmt.Errorf("certificate %s: %w", Fingerprint(leaf), err)
	}
	if !slices.Contains(leaf.ExtKeyUsage, usage) { // an empty list does not mean "any" here
		return fmt.Errorf("certificate %s (party %q) does not allow %s", Fingerprint(leaf), leaf.Subject.CommonName, usageName(usage))
	}
	for _, ca := range cas {
		if bytes.Equal(leaf.RawIssuer, ca.RawSubject) && leaf.CheckSignatureFrom(ca) == nil {
			return nil
		}
	}
	return fmt.Errorf("certificate %s (party %q, issuer %q) was not issued by the cluster CA", Fingerprint(leaf), leaf.Subject.CommonName, leaf.Issuer.CommonName)
}

// usageName names the extended key usages this package asks for.
func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "TLS server authentication"
	case x509.ExtKeyUsageClientAuth:
		return "TLS client authentication"
	}
	return fmt.Sprintf("extended key usage %d", u)
}
