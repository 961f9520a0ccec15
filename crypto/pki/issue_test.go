package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	tests := []struct {
		name      string
		req       IssueRequest
		wantURI   string
		wantDNS   []string
		wantIPs   []string
		wantValid time.Duration
	}{
		{
			name:      "node with hosts",
			req:       IssueRequest{Party: "bank", Node: "node-1", Hosts: []string{"localhost", "127.0.0.1", "::1", "Node1.Bank.Example"}, Validity: time.Hour},
			wantURI:   "mitai://bank/node-1",
			wantDNS:   []string{"localhost", "node1.bank.example"},
			wantIPs:   []string{"127.0.0.1", "::1"},
			wantValid: time.Hour,
		},
		{
			name:      "client",
			req:       IssueRequest{Party: "credit_bureau", Validity: 2 * time.Hour},
			wantURI:   "mitai://credit_bureau",
			wantValid: 2 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			creds, err := ca.Issue(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			c := keyPair(t, creds).Leaf
			if c.Subject.CommonName != tt.req.Party {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.req.Party)
			}
			if len(c.URIs) != 1 || c.URIs[0].String() != tt.wantURI {
				t.Errorf("URIs = %v, want [%s]", c.URIs, tt.wantURI)
			}
			if !slices.Equal(c.DNSNames, tt.wantDNS) {
				t.Errorf("DNSNames = %v, want %v", c.DNSNames, tt.wantDNS)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.wantIPs) {
				t.Errorf("IPAddresses = %v, want %v", ips, tt.wantIPs)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA=%v BasicConstraintsValid=%v", c.IsCA, c.BasicConstraintsValid)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %v", c.KeyUsage)
			}
			if want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}; !slices.Equal(c.ExtKeyUsage, want) {
				t.Errorf("ExtKeyUsage = %v, want %v", c.ExtKeyUsage, want)
			}
			if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
			}
			if n := c.SerialNumber.BitLen(); n > 128 || c.SerialNumber.Sign() <= 0 {
				t.Errorf("serial has %d bits", n)
			}
			if d := time.Since(c.NotBefore); d < clockSkew-time.Minute || d > clockSkew+time.Minute {
				t.Errorf("NotBefore is %v ago, want about %v", d, clockSkew)
			}
			if d := time.Until(c.NotAfter); d < tt.wantValid-time.Minute || d > tt.wantValid {
				t.Errorf("NotAfter is in %v, want about %v", d, tt.wantValid)
			}
			if err := c.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) || len(c.AuthorityKeyId) == 0 {
				t.Error("AuthorityKeyId does not name the CA key")
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
					t.Errorf("Verify for usage %v: %v", u, err)
				}
			}
			for _, h := range tt.req.Hosts {
				if err := c.VerifyHostname(h); err != nil {
					t.Errorf("VerifyHostname(%q): %v", h, err)
				}
			}
		})
	}
}

func TestIssueDefaultValidity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		caValidity time.Duration
		want       time.Duration
	}{
		{"one year", 2 * defaultValidity, defaultValidity},
		{"until the CA expires", 24 * time.Hour, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca, err := NewCA("ca", tt.caValidity)
			if err != nil {
				t.Fatal(err)
			}
			creds, err := ca.Issue(IssueRequest{Party: "bank"})
			if err != nil {
				t.Fatal(err)
			}
			leaf := keyPair(t, creds).Leaf
			if d := time.Until(leaf.NotAfter); d < tt.want-time.Minute || d > tt.want {
				t.Errorf("default validity %v, want %v", d, tt.want)
			}
			if leaf.NotAfter.After(ca.Cert.NotAfter) {
				t.Errorf("certificate outlasts the CA")
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca") // valid for 24 hours
	expiredCA := newTestCA(t, "expired")
	expiredCA.Cert.NotAfter = time.Now().Add(-time.Second) // only Issue's check reads it
	tests := []struct {
		name string
		ca   *CA
		req  IssueRequest
		want string
	}{
		{"empty party", ca, IssueRequest{}, "party name is empty"},
		{"uppercase party", ca, IssueRequest{Party: "Bank"}, "lowercase"},
		{"bad node", ca, IssueRequest{Party: "bank", Node: "node/1"}, "node name"},
		{"node starting with digit", ca, IssueRequest{Party: "bank", Node: "1"}, "node name"},
		{"empty host", ca, IssueRequest{Party: "bank", Hosts: []string{""}}, "host name is empty"},
		{"wildcard host", ca, IssueRequest{Party: "bank", Hosts: []string{"*.bank.example"}}, "not an IP address or a valid DNS name"},
		{"host with port", ca, IssueRequest{Party: "bank", Hosts: []string{"localhost:443"}}, "not an IP address or a valid DNS name"},
		{"host label dash", ca, IssueRequest{Party: "bank", Hosts: []string{"-a.example"}}, "starts or ends"},
		{"host empty label", ca, IssueRequest{Party: "bank", Hosts: []string{"a..example"}}, "empty or over-long"},
		{"negative validity", ca, IssueRequest{Party: "bank", Validity: -time.Hour}, "negative"},
		{"outlasts CA", ca, IssueRequest{Party: "bank", Validity: 48 * time.Hour}, "outlast the CA"},
		{"expired CA", expiredCA, IssueRequest{Party: "bank", Validity: time.Hour}, "CA expired"},
		{"nil CA", nil, IssueRequest{Party: "bank"}, "no certificate"},
		{"CA without key", &CA{Cert: ca.Cert}, IssueRequest{Party: "bank"}, "no private key"},
		{"CA with wrong key", &CA{Cert: ca.Cert, Key: expiredCA.Key}, IssueRequest{Party: "bank"}, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.ca.Issue(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Issue(%+v) error = %v, want one containing %q", tt.req, err, tt.want)
			}
		})
	}
	t.Run("NotAfter before NotBefore", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		if _, err := ca.issue(IssueRequest{Party: "bank"}, now, now.Add(-time.Hour)); err == nil {
			t.Fatal("issued a certificate with an empty validity period")
		}
	})
}

func TestValidPartyName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"bank", true},
		{"bank-1", true},
		{"credit_bureau", true},
		{"telco2", true},
		{"a" + strings.Repeat("b", 62), true},
		{"a" + strings.Repeat("b", 63), false},
		{"", false},
		{"Bank", false},
		{"bAnk", false},
		{"1bank", false},
		{"-bank", false},
		{"_bank", false},
		{"bank.example", false},
		{"bank/1", false},
		{"bank 1", false},
		{"bank\n", false},
		{"bänk", false},
		{"bank\x00", false},
		{"ЬANK", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidPartyName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidPartyName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "party name") {
				t.Errorf("error %q does not say what was wrong", err)
			}
		})
	}
}

func TestCredentialsSave(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	creds, err := ca.Issue(IssueRequest{Party: "bank", Node: "n1", Hosts: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "certs")
	if err := creds.Save(dir, "node1"); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if runtime.GOOS != "windows" {
		for name, want := range map[string]os.FileMode{"node1.key": 0o600, "node1.crt": 0o644} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
			}
		}
	}
	cert, err := LoadCredentials(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key"))
	if err != nil {
		t.Fatalf("LoadCredentials: %v", err)
	}
	if cert.Leaf.Subject.CommonName != "bank" || !bytes.Equal(encodeCert(cert.Certificate[0]), creds.CertPEM) {
		t.Error("loaded certificate differs")
	}

	other, err := ca.Issue(IssueRequest{Party: "telco"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(dir, "node1"); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Save error = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "node1.key")); !bytes.Equal(b, creds.KeyPEM) {
		t.Error("key file was overwritten")
	}
}

func TestCredentialsSaveErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	a, err := ca.Issue(IssueRequest{Party: "bank"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Issue(IssueRequest{Party: "telco"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		creds    Credentials
		fileName string
		want     string
	}{
		{"empty name", a, "", "empty"},
		{"path in name", a, "../x", "starts with '.'"},
		{"separator in name", a, "a/b", "only letters"},
		{"hidden name", a, ".node", "starts with '.'"},
		{"mismatched pair", Credentials{CertPEM: a.CertPEM, KeyPEM: b.KeyPEM}, "node", "does not match"},
		{"swapped pair", Credentials{CertPEM: a.KeyPEM, KeyPEM: a.CertPEM}, "node", `want "CERTIFICATE"`},
		{"empty credentials", Credentials{}, "node", "no PEM data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			err := tt.creds.Save(dir, tt.fileName)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save error = %v, want one containing %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("Save left %d files behind", len(entries))
			}
		})
	}
}
