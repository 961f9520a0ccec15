package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"time"
	"unicode"
)

const (
	// caCertFile and caKeyFile are the names of the CA's files in its directory.
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"

	// defaultCAValidity is used by NewCA when validity is 0.
	defaultCAValidity = 10 * 365 * 24 * time.Hour

	// clockSkew is how far in the past NotBefore is set, so that a certificate
	// is accepted at once by a peer whose clock is slightly behind.
	clockSkew = 5 * time.Minute

	// maxCommonName is the upper bound X.520 sets on a common name.
	maxCommonName = 64
)

// CA is a cluster certificate authority: its certificate, its private key and
// the certificate in PEM form, which is what nodes are given as their only
// trusted root.
//
// A CA may be used by several goroutines at once as long as none of them
// changes its fields.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// Key is the CA's private key. It signs every certificate of the cluster;
	// keep it off the nodes.
	Key crypto.Signer
	// CertPEM is Cert as one PEM "CERTIFICATE" block.
	CertPEM []byte
}

// NewCA makes a new cluster CA named name (its Subject CN), valid for
// validity from now (10 years if validity is 0). The key is ECDSA P-256, the
// certificate is self-signed with a random 128-bit serial number, and it may
// sign leaf certificates and CRLs only: no intermediate CAs (MaxPathLen 0).
func NewCA(name string, validity time.Duration) (*CA, error) {
	if err := validCAName(name); err != nil {
		return nil, err
	}
	switch {
	case validity == 0:
		validity = defaultCAValidity
	case validity < 0:
		return nil, fmt.Errorf("pki: CA validity %v is negative", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse new CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der)}, nil
}

// Save writes the CA to dir (created with mode 0700 if missing): the
// certificate to dir/ca.crt (mode 0644) and the private key to dir/ca.key
// (mode 0600, unencrypted PKCS#8 PEM). It refuses to overwrite either file;
// if either exists nothing is written.
func (ca *CA) Save(dir string) error {
	if err := ca.check(); err != nil {
		return err
	}
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return fmt.Errorf("pki: save CA: %w", err)
	}
	err = writeNewFiles(dir,
		newFile{name: caKeyFile, data: keyPEM, perm: 0o600},
		newFile{name: caCertFile, data: encodeCert(ca.Cert.Raw), perm: 0o644},
	)
	if err != nil {
		return fmt.Errorf("pki: save CA: %w", err)
	}
	return nil
}

// LoadCA reads a CA written by [CA.Save] from dir. It checks that dir/ca.crt
// holds exactly one certificate, that it is a self-signed CA certificate, and
// that dir/ca.key is the matching private key. It does not reject an expired
// CA; [CA.Issue] does.
func LoadCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, caCertFile)
	keyPath := filepath.Join(dir, caKeyFile)
	certs, err := readCertFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("pki: load CA: %s holds %d certificates, want exactly 1", certPath, len(certs))
	}
	cert := certs[0]
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("pki: load CA: %s is not a CA certificate", certPath)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("pki: load CA: %s is not a self-signed CA certificate: %w", certPath, err)
	}
	key, err := readKeyFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("pki: load CA: private key %s does not match certificate %s", keyPath, certPath)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(cert.Raw)}, nil
}

// check reports whether ca is usable: a CA certificate and its private key.
func (ca *CA) check() error {
	switch {
	case ca == nil || ca.Cert == nil:
		return errors.New("pki: CA has no certificate")
	case ca.Key == nil:
		return errors.New("pki: CA has no private key")
	case !ca.Cert.BasicConstraintsValid || !ca.Cert.IsCA:
		return errors.New("pki: CA certificate is not a CA certificate")
	case !publicKeysEqual(ca.Key.Public(), ca.Cert.PublicKey):
		return errors.New("pki: CA private key does not match the CA certificate")
	}
	return nil
}

// validCAName checks a CA's common name: non-empty, at most 64 bytes, no
// control characters.
func validCAName(name string) error {
	if name == "" {
		return errors.New("pki: CA name is empty")
	}
	if len(name) > maxCommonName {
		return fmt.Errorf("pki: CA name is %d bytes long, at most %d allowed", len(name), maxCommonName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("pki: CA name %q contains a control or invalid character", name)
		}
	}
	return nil
}

// newSerial returns a random, positive serial number of at most 128 bits.
func newSerial() (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("pki: generate serial number: %w", err)
		}
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// encodeCert returns der as a PEM "CERTIFICATE" block.
func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// encodeKey returns key as an unencrypted PKCS#8 PEM "PRIVATE KEY" block.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
