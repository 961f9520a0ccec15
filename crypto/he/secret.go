package he

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// SecretShare is one party's share of a collective secret key. It never
// leaves the party's node: keygen returns it, the node seals it to disk
// (Save), and score loads it (Load) to make its key-switch shares.
type SecretShare struct {
	Preset *Preset
	Party  string
	// KeySet is the digest of the key set the share belongs to.
	KeySet [32]byte
	// Secret is the party's additive (N-of-N) share s_i: the collective
	// secret is the sum of all parties' s_i.
	Secret *rlwe.SecretKey
	// Threshold is the party's Shamir share of the collective secret, for
	// key sets with Threshold < len(Parties); nil otherwise.
	Threshold *mhe.ShamirSecretShare
}

// KeySwitchKey returns the secret this party uses in a key switch (or a
// decryption share) among the active parties: s_i itself for an N-of-N key
// set, whose active set must then be every key holder; for t-of-N, the
// party's Lagrange-weighted share over the first t active parties (sorted;
// the others get a zero key), so that the active parties' keys again sum to
// the collective secret.
func (s *SecretShare) KeySwitchKey(ks *KeySet, active []string) (*rlwe.SecretKey, error) {
	if s.KeySet != ks.Digest() {
		return nil, fmt.Errorf("he: the secret share belongs to key set %x..., not %s", s.KeySet[:8], ks.ID()[:16])
	}
	active = slices.Sorted(slices.Values(active))
	if len(slices.Compact(slices.Clone(active))) != len(active) {
		return nil, errors.New("he: a party is listed twice among the active parties")
	}
	if !slices.Contains(active, s.Party) {
		return nil, fmt.Errorf("he: %s is not among the active parties %v", s.Party, active)
	}
	for _, a := range active {
		if _, ok := slices.BinarySearch(ks.Parties, a); !ok {
			return nil, fmt.Errorf("he: %s holds no share of key set %s", a, ks.ID()[:16])
		}
	}
	if ks.Threshold == len(ks.Parties) {
		if len(active) != len(ks.Parties) {
			return nil, fmt.Errorf("he: key set %s is %d-of-%d: all of %v must take part, have %v", ks.ID()[:16], ks.Threshold, len(ks.Parties), ks.Parties, active)
		}
		return s.Secret, nil
	}
	if len(active) < ks.Threshold {
		return nil, fmt.Errorf("he: key set %s needs %d of its parties, only %d take part", ks.ID()[:16], ks.Threshold, len(active))
	}
	if s.Threshold == nil {
		return nil, errors.New("he: the secret share has no threshold part")
	}
	params, err := s.Preset.Params()
	if err != nil {
		return nil, err
	}
	own, err := ks.ShamirPoint(s.Party)
	if err != nil {
		return nil, err
	}
	// lattigo's combiner interpolates over exactly t points: the first t
	// active parties (sorted) combine; any other active party's key is zero,
	// so that its key-switch share adds only fresh and smudging noise.
	out := rlwe.NewSecretKey(params)
	active = active[:ks.Threshold]
	if !slices.Contains(active, s.Party) {
		return out, nil
	}
	var points, others []mhe.ShamirPublicPoint
	for _, a := range active {
		pt, _ := ks.ShamirPoint(a)
		points = append(points, pt)
	}
	for _, a := range ks.Parties {
		if a != s.Party {
			pt, _ := ks.ShamirPoint(a)
			others = append(others, pt)
		}
	}
	cmb := mhe.NewCombiner(*params.GetRLWEParameters(), own, others, ks.Threshold)
	if err := cmb.GenAdditiveShare(points, own, *s.Threshold, out); err != nil {
		return nil, fmt.Errorf("he: combine threshold share: %w", err)
	}
	return out, nil
}

// Erase overwrites the key material in memory.
func (s *SecretShare) Erase() {
	if s == nil {
		return
	}
	if s.Secret != nil {
		for _, row := range s.Secret.Value.Q.Coeffs {
			clear(row)
		}
		for _, row := range s.Secret.Value.P.Coeffs {
			clear(row)
		}
	}
	if s.Threshold != nil {
		for _, row := range s.Threshold.Poly.Q.Coeffs {
			clear(row)
		}
		for _, row := range s.Threshold.Poly.P.Coeffs {
			clear(row)
		}
	}
}

// MinNodeSecret is the shortest node secret Seal accepts.
const MinNodeSecret = 32

const (
	sealMagic = "mitai-he-secret\x00\x01"
	sealInfo  = "mitai/v1/he/secret-share"
)

// Seal encrypts the share for storage at rest: AES-256-GCM under a key
// derived with HKDF-SHA256 from the node's secret and a fresh 32-byte salt;
// the header (format, salt) is authenticated too. The node secret is
// whatever the node keeps for this purpose (at least 32 random bytes);
// the sealed bytes alone reveal nothing about the share.
func (s *SecretShare) Seal(nodeSecret []byte) ([]byte, error) {
	if len(nodeSecret) < MinNodeSecret {
		return nil, fmt.Errorf("he: node secret of %d bytes, need at least %d", len(nodeSecret), MinNodeSecret)
	}
	codec, err := NewCodec(s.Preset)
	if err != nil {
		return nil, err
	}
	sk, err := codec.Marshal(s.Secret)
	if err != nil {
		return nil, err
	}
	var th []byte
	if s.Threshold != nil {
		if th, err = codec.Marshal(s.Threshold); err != nil {
			return nil, err
		}
	}
	var plain []byte
	plain = appendString(plain, s.Preset.Name)
	plain = appendString(plain, s.Party)
	plain = append(plain, s.KeySet[:]...)
	plain = appendBytes(plain, sk)
	plain = appendBytes(plain, th)
	defer clear(plain)
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	aead, err := sealAEAD(nodeSecret, salt)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	head := append(append([]byte(sealMagic), salt...), nonce...)
	return aead.Seal(head, nonce, plain, head), nil
}

func sealAEAD(nodeSecret, salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, nodeSecret, salt, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ErrWrongNodeSecret reports a sealed share that does not open with the
// node secret given (or was altered).
var ErrWrongNodeSecret = errors.New("he: the sealed secret share does not open with this node secret (wrong secret, or the file was altered)")

// OpenSecretShare decrypts and checks a share sealed by Seal.
func OpenSecretShare(sealed, nodeSecret []byte) (*SecretShare, error) {
	if len(nodeSecret) < MinNodeSecret {
		return nil, fmt.Errorf("he: node secret of %d bytes, need at least %d", len(nodeSecret), MinNodeSecret)
	}
	hl := len(sealMagic) + 32 + 12
	if len(sealed) < hl+16 || string(sealed[:len(sealMagic)]) != sealMagic {
		return nil, errors.New("he: not a sealed mitai secret share (bad magic, version or length)")
	}
	salt := sealed[len(sealMagic) : len(sealMagic)+32]
	nonce := sealed[len(sealMagic)+32 : hl]
	aead, err := sealAEAD(nodeSecret, salt)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, sealed[hl:], sealed[:hl])
	if err != nil {
		return nil, ErrWrongNodeSecret
	}
	defer clear(plain)
	r := reader{b: plain}
	name := r.string()
	party := r.string()
	var ks [32]byte
	copy(ks[:], r.take(32))
	sk := r.bytes()
	th := r.bytes()
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("he: sealed secret share: malformed contents (%v)", r.err)
	}
	p, err := PresetByName(name)
	if err != nil {
		return nil, err
	}
	codec, err := NewCodec(p)
	if err != nil {
		return nil, err
	}
	s := &SecretShare{Preset: p, Party: party, KeySet: ks}
	if s.Secret, err = codec.unmarshalSecretKey(sk); err != nil {
		return nil, err
	}
	if len(th) > 0 {
		if s.Threshold, err = codec.UnmarshalShamirShare(th); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Save seals the share and writes it to path with mode 0600, atomically
// (a temporary file in the same folder, synced, then renamed). It refuses
// to overwrite an existing file.
func (s *SecretShare) Save(path string, nodeSecret []byte) error {
	sealed, err := s.Seal(nodeSecret)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("he: %s exists; refusing to overwrite a secret share", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".share-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(sealed); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil { // fails if path appeared meanwhile
		return fmt.Errorf("he: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadSecretShare reads and opens a share written by Save. A file that
// others than its owner may read is refused: the share is encrypted, but
// its mode says the node's storage is not as configured.
func LoadSecretShare(path string, nodeSecret []byte) (*SecretShare, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("he: %s has mode %v; a secret share must be readable by its owner only (0600)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := OpenSecretShare(b, nodeSecret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
