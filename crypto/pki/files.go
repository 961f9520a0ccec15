package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadCredentials reads a PEM certificate file (the leaf first, optionally
// followed by more certificates) and an unencrypted PKCS#8 PEM private key
// file, and checks that the key belongs to the leaf. It does not check who
// issued the certificate or whether it is still valid; [ServerConfig] and
// [ClientConfig] check the issuer against the cluster CA, and peers check the
// validity period at each handshake.
func LoadCredentials(certFile, keyFile string) (tls.Certificate, error) {
	certs, err := readCertFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: load credentials: %w", err)
	}
	key, err := readKeyFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: load credentials: %w", err)
	}
	leaf := certs[0]
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("pki: load credentials: private key %s does not match certificate %s (CN %q)",
			keyFile, certFile, leaf.Subject.CommonName)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// readCertFile reads a file of one or more PEM "CERTIFICATE" blocks.
func readCertFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the file and the reason
	}
	return parseCertPEM(data, path)
}

// readKeyFile reads a file holding one unencrypted PKCS#8 PEM private key.
func readKeyFile(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeyPEM(data, path)
}

// parseCertPEM parses one or more PEM "CERTIFICATE" blocks. Text outside
// PEM blocks is ignored, as OpenSSL does; a block of another type is an
// error. source names the data in errors.
func parseCertPEM(data []byte, source string) ([]*x509.Certificate, error) {
	blocks, err := decodePEM(data, source)
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %d is %q, want \"CERTIFICATE\" (is this a key file?)", source, i+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", source, i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// parseKeyPEM parses exactly one unencrypted PKCS#8 PEM "PRIVATE KEY"
// block. source names the data in errors.
func parseKeyPEM(data []byte, source string) (crypto.Signer, error) {
	blocks, err := decodePEM(data, source)
	if err != nil {
		return nil, err
	}
	if len(blocks) != 1 {
		return nil, fmt.Errorf("%s: holds %d PEM blocks, want exactly one private key", source, len(blocks))
	}
	b := blocks[0]
	switch b.Type {
	case "PRIVATE KEY":
	case "EC PRIVATE KEY", "RSA PRIVATE KEY":
		return nil, fmt.Errorf("%s: key is in the legacy %q format, want PKCS#8 \"PRIVATE KEY\" (convert with: openssl pkcs8 -topk8 -nocrypt)", source, b.Type)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s: key is encrypted; mitai reads only unencrypted PKCS#8 keys protected by file permissions", source)
	default:
		return nil, fmt.Errorf("%s: PEM block is %q, want \"PRIVATE KEY\" (is this a certificate file?)", source, b.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: a %T cannot sign", source, k)
	}
	return s, nil
}

// decodePEM returns all PEM blocks in data; data without any is an error.
func decodePEM(data []byte, source string) ([]*pem.Block, error) {
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if len(b.Headers) != 0 {
			return nil, fmt.Errorf("%s: PEM block %q has headers (an encrypted legacy key?); not supported", source, b.Type)
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%s: no PEM data found", source)
	}
	return blocks, nil
}

// newFile is one file for writeNewFiles to write.
type newFile struct {
	name string // base name inside the directory
	data []byte
	perm fs.FileMode
}

// writeNewFiles creates dir if needed and writes each file into it with
// writeNew. It fails before writing anything if any of the files exists, and
// removes the files it wrote if a later one fails.
func writeNewFiles(dir string, files ...newFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite it (move it away first)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeNew(p, f.data, f.perm); err != nil {
			for _, w := range written {
				_ = os.Remove(w) // best effort: we created it a moment ago
			}
			return err
		}
		written = append(written, p)
	}
	return syncDir(dir)
}

// writeNew writes data to path with mode perm so that path either does not
// exist or holds all of data, never a part, and fails if path exists. The
// data goes to a temporary file in the same directory (mode perm from the
// start, so a key is never readable by others), is synced, and is then
// hard-linked to path, which fails if path exists. Where hard links are not
// supported it falls back to creating path with O_EXCL.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*") // created with mode 0600
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link, path keeps the data
	if err := writeSyncClose(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = os.Link(tmpName, path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s already exists; refusing to overwrite it (move it away first)", path)
	}
	// No hard links on this file system: create path exclusively instead.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm&0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite it (move it away first)", path)
		}
		return err
	}
	if err := writeSyncClose(f, data, perm); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeSyncClose sets f's mode to perm, writes data, syncs and closes f.
func writeSyncClose(f *os.File, data []byte, perm fs.FileMode) error {
	err := f.Chmod(perm) // exact mode, whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the directory entries just created in dir durable. Windows
// cannot sync a directory and does not need to.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
