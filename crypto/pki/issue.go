package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

const (
	// defaultValidity is used by Issue when IssueRequest.Validity is 0.
	defaultValidity = 365 * 24 * time.Hour

	// maxPartyName is the longest party (and node) name.
	maxPartyName = 63

	// uriScheme is the scheme of the URI SAN that names a party's node.
	uriScheme = "mitai"
)

// IssueRequest names what a certificate is for.
type IssueRequest struct {
	// Party is the party the certificate belongs to; it becomes the Subject
	// CN and must pass ValidPartyName.
	Party string
	// Node optionally names one node of the party; it is recorded as the URI
	// SAN mitai://<party>/<node> and follows the same rules as a party name.
	// Leave it empty for a client or admin certificate, which then carries
	// mitai://<party>.
	Node string
	// Hosts are the DNS names and IP addresses the certificate's owner is
	// reached at when it serves, such as "localhost" or "127.0.0.1"; the
	// dialling side checks the name it dialled against them. Wildcards are
	// not allowed. Leave it empty for a certificate that only dials.
	Hosts []string
	// Validity is how long the certificate is valid from now. If 0, it is 1
	// year or until the CA expires, whichever is sooner; a longer validity
	// than the CA's remaining lifetime is an error.
	Validity time.Duration
}

// Credentials are a PEM certificate (the leaf only) and its unencrypted
// PKCS#8 PEM private key.
type Credentials struct {
	// CertPEM is the certificate, one PEM "CERTIFICATE" block.
	CertPEM []byte
	// KeyPEM is the private key, one PEM "PRIVATE KEY" block. Write it only
	// with Save or an equally careful writer: it is the party's identity.
	KeyPEM []byte
}

// Issue makes a new ECDSA P-256 key and a certificate for it signed by the
// CA, with Subject CN req.Party, a URI SAN naming the party (and node), the
// DNS and IP SANs of req.Hosts, key usage DigitalSignature and extended key
// usages ServerAuth and ClientAuth: the same certificate serves both ends of
// a connection. NotBefore is 5 minutes ago, to tolerate clock skew.
func (ca *CA) Issue(req IssueRequest) (Credentials, error) {
	if err := ca.check(); err != nil {
		return Credentials{}, err
	}
	if _, _, _, err := req.subjectAltNames(); err != nil {
		return Credentials{}, fmt.Errorf("pki: issue: %w", err)
	}
	now := time.Now()
	if !now.Before(ca.Cert.NotAfter) {
		return Credentials{}, fmt.Errorf("pki: issue: the CA expired at %s; make a new CA", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	var notAfter time.Time
	switch {
	case req.Validity < 0:
		return Credentials{}, fmt.Errorf("pki: issue: validity %v is negative", req.Validity)
	case req.Validity == 0:
		// The default never outlasts the CA: a certificate that claims to be
		// valid after its issuer expires only fails later and more obscurely.
		notAfter = now.Add(defaultValidity)
		if notAfter.After(ca.Cert.NotAfter) {
			notAfter = ca.Cert.NotAfter
		}
	default:
		notAfter = now.Add(req.Validity)
		if notAfter.After(ca.Cert.NotAfter) {
			return Credentials{}, fmt.Errorf("pki: issue: a certificate valid for %v would outlast the CA, which expires at %s; ask for a shorter validity",
				req.Validity, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return ca.issue(req, now.Add(-clockSkew), notAfter)
}

// issue does the work of Issue with an explicit validity period, which tests
// use to make certificates that are expired or not yet valid. It checks
// everything but how the period relates to now and to the CA.
func (ca *CA) issue(req IssueRequest, notBefore, notAfter time.Time) (Credentials, error) {
	if err := ca.check(); err != nil {
		return Credentials{}, err
	}
	uri, dnsNames, ips, err := req.subjectAltNames()
	if err != nil {
		return Credentials{}, fmt.Errorf("pki: issue: %w", err)
	}
	if !notAfter.After(notBefore) {
		return Credentials{}, fmt.Errorf("pki: issue: NotAfter %s is not after NotBefore %s", notAfter, notBefore)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Credentials{}, fmt.Errorf("pki: issue: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Credentials{}, fmt.Errorf("pki: issue: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Party},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Credentials{}, fmt.Errorf("pki: issue certificate for party %q: %w", req.Party, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Credentials{}, fmt.Errorf("pki: issue: %w", err)
	}
	return Credentials{CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// subjectAltNames checks the party, node and hosts of r and returns the
// certificate's URI SAN, DNS names and IP addresses.
func (r IssueRequest) subjectAltNames() (*url.URL, []string, []net.IP, error) {
	if err := ValidPartyName(r.Party); err != nil {
		return nil, nil, nil, err
	}
	uri := &url.URL{Scheme: uriScheme, Host: r.Party}
	if r.Node != "" {
		if err := validName("node", r.Node); err != nil {
			return nil, nil, nil, err
		}
		uri.Path = "/" + r.Node
	}
	dnsNames, ips, err := splitHosts(r.Hosts)
	if err != nil {
		return nil, nil, nil, err
	}
	return uri, dnsNames, ips, nil
}

// Save writes the credentials to dir (created with mode 0700 if missing):
// the certificate to dir/<name>.crt (mode 0644) and the key to dir/<name>.key
// (mode 0600). name is a plain file name stem such as "node1": letters,
// digits, '.', '-' and '_', not starting with '.'. It refuses to overwrite
// either file; if either exists nothing is written.
func (c Credentials) Save(dir, name string) error {
	if err := validFileStem(name); err != nil {
		return fmt.Errorf("pki: save credentials: %w", err)
	}
	// Save only what LoadCredentials will load.
	certs, err := parseCertPEM(c.CertPEM, "certificate")
	if err != nil {
		return fmt.Errorf("pki: save credentials %q: %w", name, err)
	}
	key, err := parseKeyPEM(c.KeyPEM, "private key")
	if err != nil {
		return fmt.Errorf("pki: save credentials %q: %w", name, err)
	}
	if !publicKeysEqual(key.Public(), certs[0].PublicKey) {
		return fmt.Errorf("pki: save credentials %q: private key does not match certificate", name)
	}
	err = writeNewFiles(dir,
		newFile{name: name + ".key", data: c.KeyPEM, perm: 0o600},
		newFile{name: name + ".crt", data: c.CertPEM, perm: 0o644},
	)
	if err != nil {
		return fmt.Errorf("pki: save credentials: %w", err)
	}
	return nil
}

// ValidPartyName reports whether name can name a party: 1 to 63 characters,
// each a lowercase ASCII letter, a digit, '-' or '_', the first a letter.
// The rule keeps party names safe in file names, URIs, logs and metric
// labels, and makes two spellings of one party impossible.
func ValidPartyName(name string) error {
	return validName("party", name)
}

// validName checks a party or node name; what says which, for the error.
func validName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", what)
	}
	if len(name) > maxPartyName {
		return fmt.Errorf("%s name %.20q... is %d characters long, at most %d allowed", what, name, len(name), maxPartyName)
	}
	if c := name[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%s name %q must start with a lowercase letter a-z", what, name)
	}
	for _, c := range name {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' {
			continue
		}
		return fmt.Errorf("%s name %q has %q; only lowercase letters a-z, digits, '-' and '_' are allowed", what, name, c)
	}
	return nil
}

// splitHosts sorts hosts into DNS names and IP addresses, rejecting
// anything that is neither.
func splitHosts(hosts []string) ([]string, []net.IP, error) {
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if err := validDNSName(h); err != nil {
			return nil, nil, err
		}
		dnsNames = append(dnsNames, strings.ToLower(h))
	}
	return dnsNames, ips, nil
}

// validDNSName checks a host name: dot-separated labels of 1 to 63 letters,
// digits and '-', not starting or ending with '-', at most 253 bytes.
func validDNSName(h string) error {
	if h == "" {
		return errors.New("host name is empty")
	}
	if len(h) > 253 {
		return fmt.Errorf("host name %.20q... is longer than 253 bytes", h)
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q is not an IP address or a valid DNS name (empty or over-long label)", h)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is not a valid DNS name (a label starts or ends with '-')", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' {
				continue
			}
			return fmt.Errorf("host %q is not an IP address or a valid DNS name (character %q)", h, c)
		}
	}
	return nil
}

// validFileStem checks the name Credentials.Save makes file names from.
func validFileStem(name string) error {
	if name == "" {
		return errors.New("file name is empty")
	}
	if name[0] == '.' {
		return fmt.Errorf("file name %q starts with '.'", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' {
			continue
		}
		return fmt.Errorf("file name %q has %q; only letters, digits, '.', '-' and '_' are allowed", name, c)
	}
	return nil
}
