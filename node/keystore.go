package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/mitai-dev/mitai/crypto/he"
)

// keyStore keeps the collective key sets this node took part in making:
// each key set's public parts (identical at every party; their SHA-256 is
// the key set's id) and this party's secret share, sealed with AES-256-GCM
// under the node secret and written with mode 0600. The share never leaves
// the node; the node secret is a file of 32 random bytes made at the
// node's first keygen (mode 0600; keep the data folder on encrypted
// storage, or replace the file with one a KMS provides).
type keyStore struct {
	dir        string
	secretPath string
}

var keySetID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func newKeyStore(dataDir string) *keyStore {
	return &keyStore{dir: filepath.Join(dataDir, "keysets"), secretPath: filepath.Join(dataDir, "node.secret")}
}

// nodeSecret reads the node secret, making it on first use.
func (k *keyStore) nodeSecret() ([]byte, error) {
	b, err := os.ReadFile(k.secretPath)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(k.secretPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("node: make the node secret: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, fmt.Errorf("node: write the node secret: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return b, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("node: read the node secret: %w", err)
	}
	st, err := os.Stat(k.secretPath)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node: %s has mode %v; the node secret must be readable by its owner only (0600)", k.secretPath, st.Mode().Perm())
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("node: %s holds %d bytes, want 32", k.secretPath, len(b))
	}
	return b, nil
}

func (k *keyStore) paths(id string) (public, share string) {
	return filepath.Join(k.dir, id+".keyset"), filepath.Join(k.dir, id+".share")
}

// save stores a key set and this party's share of it, and returns the
// public file's path.
func (k *keyStore) save(ks *he.KeySet, share *he.SecretShare) (string, error) {
	secret, err := k.nodeSecret()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(k.dir, 0o700); err != nil {
		return "", fmt.Errorf("node: key set folder: %w", err)
	}
	pub, sharePath := k.paths(ks.ID())
	b, err := ks.MarshalBinary()
	if err != nil {
		return "", err
	}
	if err := writeAtomic(pub, 0o600, func(f *os.File) error { _, err := f.Write(b); return err }); err != nil {
		return "", err
	}
	if err := share.Save(sharePath, secret); err != nil {
		return "", fmt.Errorf("node: key set %s: %w", ks.ID()[:16], err)
	}
	return pub, nil
}

// load reads a key set and this party's share of it, checking that both
// are the key set the id names.
func (k *keyStore) load(id, party string) (*he.KeySet, *he.SecretShare, error) {
	if !keySetID.MatchString(id) {
		return nil, nil, fmt.Errorf("key set id %q: want 64 hex digits", id)
	}
	pub, sharePath := k.paths(id)
	b, err := os.ReadFile(pub)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("this node holds no key set %s (was it made on another node of %s?)", id[:16], party)
	}
	if err != nil {
		return nil, nil, err
	}
	ks, err := he.UnmarshalKeySet(b)
	if err != nil {
		return nil, nil, fmt.Errorf("key set %s: %w", id[:16], err)
	}
	if ks.ID() != id {
		return nil, nil, fmt.Errorf("key set file %s does not hash to its id: it was altered", pub)
	}
	secret, err := k.nodeSecret()
	if err != nil {
		return nil, nil, err
	}
	share, err := he.LoadSecretShare(sharePath, secret)
	if err != nil {
		return nil, nil, fmt.Errorf("key set %s: %w", id[:16], err)
	}
	if share.Party != party || share.KeySet != ks.Digest() {
		share.Erase()
		return nil, nil, fmt.Errorf("key set %s: the stored share belongs to %s's key set %x", id[:16], share.Party, share.KeySet[:8])
	}
	return ks, share, nil
}
