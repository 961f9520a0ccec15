package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadCredentials(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	a, err := ca.Issue(IssueRequest{Party: "bank", Hosts: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Issue(IssueRequest{Party: "telco"})
	if err != nil {
		t.Fatal(err)
	}
	keyA, err := readKeyPEM(a.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(keyA)
	if err != nil {
		t.Fatal(err)
	}
	sec1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	withHeaders := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: sec1})
	chain := append(append([]byte("Bag Attributes: ignored text\n"), a.CertPEM...), ca.CertPEM...)

	tests := []struct {
		name      string
		cert, key []byte // nil: file missing
		want      string // "" means success
	}{
		{"ok", a.CertPEM, a.KeyPEM, ""},
		{"chain and text outside PEM", chain, a.KeyPEM, ""},
		{"mismatched key", a.CertPEM, b.KeyPEM, "does not match"},
		{"garbage certificate", []byte("\x00\x01garbage"), a.KeyPEM, "no PEM data"},
		{"garbage key", a.CertPEM, []byte("garbage"), "no PEM data"},
		{"empty certificate file", []byte{}, a.KeyPEM, "no PEM data"},
		{"certificate missing", nil, a.KeyPEM, "no such file"},
		{"key missing", a.CertPEM, nil, "no such file"},
		{"files swapped", a.KeyPEM, a.CertPEM, `want "CERTIFICATE"`},
		{"key as certificate", a.KeyPEM, a.KeyPEM, `want "CERTIFICATE"`},
		{"certificate as key", a.CertPEM, a.CertPEM, `want "PRIVATE KEY"`},
		{"legacy EC key", a.CertPEM, sec1PEM, "PKCS#8"},
		{"encrypted key", a.CertPEM, encrypted, "encrypted"},
		{"legacy encrypted key", a.CertPEM, withHeaders, "headers"},
		{"two keys", a.CertPEM, append(append([]byte{}, a.KeyPEM...), b.KeyPEM...), "want exactly one"},
		{"corrupt key", a.CertPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "key.pem"},
		{"corrupt certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), a.KeyPEM, "certificate 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			if tt.cert != nil {
				writeFile(t, certFile, tt.cert)
			}
			if tt.key != nil {
				writeFile(t, keyFile, tt.key)
			}
			cert, err := LoadCredentials(certFile, keyFile)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("LoadCredentials error = %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadCredentials: %v", err)
			}
			if cert.Leaf == nil || cert.Leaf.Subject.CommonName != "bank" || !bytes.Equal(cert.Leaf.Raw, cert.Certificate[0]) {
				t.Error("Leaf is not the first certificate")
			}
			if _, err := ServerConfig(cert, ca.CertPEM); err != nil {
				t.Errorf("ServerConfig with loaded credentials: %v", err)
			}
		})
	}
}

func readKeyPEM(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(*ecdsa.PrivateKey), nil
}

func TestWriteNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		perm os.FileMode
	}{
		{"private", 0o600},
		{"public", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := writeNew(p, []byte("one"), tt.perm); err != nil {
				t.Fatal(err)
			}
			if err := writeNew(p, []byte("two"), tt.perm); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("second write error = %v, want a refusal", err)
			}
			if b, _ := os.ReadFile(p); string(b) != "one" {
				t.Errorf("file holds %q", b)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && fi.Mode().Perm() != tt.perm {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("dir holds %d entries, want 1 (temporary file left behind?)", len(entries))
			}
		})
	}
}

func TestWriteNewFilesRollsBack(t *testing.T) {
	t.Parallel()
	// The second file cannot be written (its directory does not exist), so
	// the first, already written, must be removed again.
	dir := t.TempDir()
	err := writeNewFiles(dir,
		newFile{name: "a.key", data: []byte("a"), perm: 0o600},
		newFile{name: filepath.Join("missing", "b.crt"), data: []byte("b"), perm: 0o644},
	)
	if err == nil {
		t.Fatal("writeNewFiles succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("dir holds %d entries after a failed write, want 0", len(entries))
	}
}
