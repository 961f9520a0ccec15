package pki

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("mitai test CA", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if c.Subject.CommonName != "mitai test CA" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: valid=%v isCA=%v maxPathLen=%d zero=%v", c.BasicConstraintsValid, c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if n := c.SerialNumber.BitLen(); n > 128 || c.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %v has %d bits", c.SerialNumber, n)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got < 48*time.Hour || got > 48*time.Hour+clockSkew+time.Minute {
		t.Errorf("validity %v", got)
	}
	if c.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Errorf("key algorithm %v", c.PublicKeyAlgorithm)
	}
	if !bytes.Equal(ca.CertPEM, encodeCert(c.Raw)) {
		t.Error("CertPEM does not encode Cert")
	}
	other := newTestCA(t, "other")
	if other.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two CAs share a serial number")
	}
}

func TestNewCAErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		caName   string
		validity time.Duration
		want     string
	}{
		{"empty name", "", time.Hour, "empty"},
		{"long name", strings.Repeat("x", 65), time.Hour, "at most 64"},
		{"control character", "ca\nname", time.Hour, "control"},
		{"negative validity", "ca", -time.Hour, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCA(tt.caName, tt.validity)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCA(%q, %v) error = %v, want one containing %q", tt.caName, tt.validity, err, tt.want)
			}
		})
	}
}

func TestNewCADefaultValidity(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("ca", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(ca.Cert.NotAfter); got < defaultCAValidity-time.Minute {
		t.Errorf("default CA validity %v, want about %v", got, defaultCAValidity)
	}
}

func TestCASaveLoad(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "round trip")
	dir := filepath.Join(t.TempDir(), "ca") // Save creates it
	if err := ca.Save(dir); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for name, want := range map[string]os.FileMode{"ca.key": 0o600, "ca.crt": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2 (temporary files left behind?)", len(entries))
	}
	got, err := LoadCA(dir)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !got.Cert.Equal(ca.Cert) || !bytes.Equal(got.CertPEM, ca.CertPEM) {
		t.Error("loaded certificate differs")
	}
	if !publicKeysEqual(got.Key.Public(), ca.Key.Public()) {
		t.Error("loaded key differs")
	}
	// The loaded CA issues certificates the saved one's PEM accepts.
	cert := issueCert(t, got, IssueRequest{Party: "bank"})
	if _, err := ServerConfig(cert, ca.CertPEM); err != nil {
		t.Errorf("certificate from loaded CA: %v", err)
	}
}

func TestCASaveRefusesOverwrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		present string // the file that exists already
	}{
		{"certificate exists", "ca.crt"},
		{"key exists", "ca.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			old := []byte("keep me\n")
			if err := os.WriteFile(filepath.Join(dir, tt.present), old, 0o600); err != nil {
				t.Fatal(err)
			}
			err := newTestCA(t, "ca").Save(dir)
			if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("Save error = %v, want a refusal", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, tt.present)); !bytes.Equal(b, old) {
				t.Error("existing file changed")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("dir holds %d entries, want only the old file", len(entries))
			}
		})
	}
	t.Run("second save", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ca := newTestCA(t, "ca")
		if err := ca.Save(dir); err != nil {
			t.Fatal(err)
		}
		if err := newTestCA(t, "ca2").Save(dir); err == nil {
			t.Fatal("second Save overwrote the first CA")
		}
		got, err := LoadCA(dir)
		if err != nil || !got.Cert.Equal(ca.Cert) {
			t.Fatalf("first CA not intact: %v", err)
		}
	})
}

func TestLoadCAErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	caKey, err := encodeKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := encodeKey(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(IssueRequest{Party: "bank"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cert, key []byte // nil: file missing
		want      string
	}{
		{"no files", nil, nil, "no such file"},
		{"key missing", ca.CertPEM, nil, "ca.key"},
		{"cert not PEM", []byte("hello"), caKey, "no PEM data"},
		{"key not PEM", ca.CertPEM, []byte("hello"), "no PEM data"},
		{"key in cert file", caKey, caKey, `want "CERTIFICATE"`},
		{"cert in key file", ca.CertPEM, ca.CertPEM, `want "PRIVATE KEY"`},
		{"two certificates", append(append([]byte{}, ca.CertPEM...), other.CertPEM...), caKey, "want exactly 1"},
		{"wrong key", ca.CertPEM, otherKey, "does not match"},
		{"leaf as CA", leaf.CertPEM, leaf.KeyPEM, "not a CA certificate"},
		{"corrupt certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), caKey, "certificate 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.cert != nil {
				writeFile(t, filepath.Join(dir, "ca.crt"), tt.cert)
			}
			if tt.key != nil {
				writeFile(t, filepath.Join(dir, "ca.key"), tt.key)
			}
			_, err := LoadCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadCA error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
