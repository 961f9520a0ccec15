package he

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// CRSMaster derives the job's common reference string key from the 32-byte
// seed the coordinator chose at submission and the job id:
// SHA-256(seed || job id), as PROTOCOLS.md fixes.
func CRSMaster(seed []byte, jobID string) ([32]byte, error) {
	if len(seed) != 32 {
		return [32]byte{}, fmt.Errorf("he: CRS seed is %d bytes, want 32", len(seed))
	}
	if jobID == "" {
		return [32]byte{}, errors.New("he: CRS needs a job id")
	}
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte(jobID))
	var m [32]byte
	h.Sum(m[:0])
	return m, nil
}

// CRS returns lattigo's keyed PRNG over master and a purpose label ("pk",
// "rlk", ...), so that each kind of common polynomial comes from its own
// stream and none depends on the order in which others were drawn.
func CRS(master [32]byte, purpose string) mhe.CRS {
	key := make([]byte, 0, 32+len(purpose)+16)
	key = append(key, "mitai/v1/crs/"...)
	key = append(key, master[:]...)
	key = append(key, purpose...)
	prng, err := sampling.NewKeyedPRNG(key)
	if err != nil { // blake2b with a key of at most 64 bytes cannot fail
		panic(fmt.Sprintf("he: keyed PRNG: %v", err))
	}
	return prng
}

// Maximum sizes on a key set's fields.
const (
	MaxParties   = 64
	maxNameBytes = 64
)

// KeySet is the public part of a collective key: what every party of a
// key-generation job ends with, publishes, and names (by digest) in later
// jobs. The public key is stored seeded: its p1 part is the common
// reference polynomial drawn from CRS(master, "pk"), so only p0 is kept.
type KeySet struct {
	Preset *Preset
	// Parties are the key holders, sorted; a party's Shamir point (t-of-N)
	// is its index here plus one.
	Parties []string
	// Threshold is how many parties must take part in a decryption or key
	// switch: len(Parties) for N-of-N.
	Threshold int
	// Master is the CRS key of the key-generation job.
	Master    [32]byte
	PublicKey *rlwe.PublicKey
	// RelinKey is the collective relinearization key, only for presets whose
	// circuits multiply ciphertexts.
	RelinKey *rlwe.RelinearizationKey

	enc    []byte
	digest [32]byte
}

// NewKeySet assembles a key set from the aggregated public-key share and,
// for presets that need one, the relinearization key.
func NewKeySet(p *Preset, parties []string, threshold int, master [32]byte, p0 *mhe.PublicKeyGenShare, rlk *rlwe.RelinearizationKey) (*KeySet, error) {
	if err := checkParties(parties, threshold); err != nil {
		return nil, err
	}
	if p.Relinearization != (rlk != nil) {
		return nil, fmt.Errorf("he: preset %s: relinearization key present=%v, want %v", p.Name, rlk != nil, p.Relinearization)
	}
	params, err := p.Params()
	if err != nil {
		return nil, err
	}
	ckg := mhe.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(CRS(master, "pk"))
	pk := rlwe.NewPublicKey(params)
	ckg.GenPublicKey(*p0, crp, pk)
	ks := &KeySet{Preset: p, Parties: slices.Clone(parties), Threshold: threshold, Master: master, PublicKey: pk, RelinKey: rlk}
	if err := ks.encode(p0); err != nil {
		return nil, err
	}
	return ks, nil
}

func checkParties(parties []string, threshold int) error {
	if len(parties) < 2 || len(parties) > MaxParties {
		return fmt.Errorf("he: a key set has 2 to %d parties, got %d", MaxParties, len(parties))
	}
	for i, p := range parties {
		if p == "" || len(p) > maxNameBytes {
			return fmt.Errorf("he: party name %q: 1 to %d bytes", p, maxNameBytes)
		}
		if i > 0 && parties[i-1] >= p {
			return fmt.Errorf("he: parties must be sorted and distinct (%q before %q)", parties[i-1], p)
		}
	}
	if threshold < 1 || threshold > len(parties) {
		return fmt.Errorf("he: threshold %d outside 1..%d", threshold, len(parties))
	}
	return nil
}

const keySetMagic = "mitai-he-keyset\x00\x01"

func (k *KeySet) encode(p0 *mhe.PublicKeyGenShare) error {
	codec, err := NewCodec(k.Preset)
	if err != nil {
		return err
	}
	pk0, err := codec.Marshal(p0)
	if err != nil {
		return fmt.Errorf("he: encode public key: %w", err)
	}
	var rlk []byte
	if k.RelinKey != nil {
		if rlk, err = codec.Marshal(k.RelinKey); err != nil {
			return fmt.Errorf("he: encode relinearization key: %w", err)
		}
	}
	b := []byte(keySetMagic)
	b = appendString(b, k.Preset.Name)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Parties)))
	for _, p := range k.Parties {
		b = appendString(b, p)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(k.Threshold))
	b = append(b, k.Master[:]...)
	b = appendBytes(b, pk0)
	b = appendBytes(b, rlk)
	k.enc = b
	k.digest = sha256.Sum256(b)
	return nil
}

// MarshalBinary returns the key set's canonical encoding (the bytes whose
// SHA-256 is its digest).
func (k *KeySet) MarshalBinary() ([]byte, error) { return slices.Clone(k.enc), nil }

// Digest is the SHA-256 of the canonical encoding: it names the key set.
func (k *KeySet) Digest() [32]byte { return k.digest }

// ID is the digest in hex.
func (k *KeySet) ID() string { return hex.EncodeToString(k.digest[:]) }

// Size is the encoded size in bytes.
func (k *KeySet) Size() int { return len(k.enc) }

// ShamirPoint is the party's public evaluation point for t-of-N sharing.
func (k *KeySet) ShamirPoint(party string) (mhe.ShamirPublicPoint, error) {
	i, ok := slices.BinarySearch(k.Parties, party)
	if !ok {
		return 0, fmt.Errorf("he: %q holds no share of key set %s", party, k.ID()[:16])
	}
	return mhe.ShamirPublicPoint(i + 1), nil
}

// UnmarshalKeySet decodes and checks a key set.
func UnmarshalKeySet(b []byte) (*KeySet, error) {
	r := reader{b: b}
	if string(r.take(len(keySetMagic))) != keySetMagic {
		return nil, errors.New("he: not a mitai key set (bad magic or version)")
	}
	name := r.string()
	n := int(r.u16())
	if r.err == nil && (n < 2 || n > MaxParties) {
		return nil, fmt.Errorf("he: key set with %d parties", n)
	}
	var parties []string
	for range n {
		parties = append(parties, r.string())
	}
	threshold := int(r.u16())
	var master [32]byte
	copy(master[:], r.take(32))
	pk0 := r.bytes()
	rlk := r.bytes()
	if r.err != nil {
		return nil, fmt.Errorf("he: key set: %w", r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("he: key set: %d trailing bytes", len(r.b))
	}
	p, err := PresetByName(name)
	if err != nil {
		return nil, err
	}
	codec, err := NewCodec(p)
	if err != nil {
		return nil, err
	}
	share, err := codec.UnmarshalPublicKeyShare(pk0)
	if err != nil {
		return nil, fmt.Errorf("he: key set public key: %w", err)
	}
	var relin *rlwe.RelinearizationKey
	if len(rlk) > 0 {
		if relin, err = codec.UnmarshalRelinKey(rlk); err != nil {
			return nil, fmt.Errorf("he: key set: %w", err)
		}
	}
	ks, err := NewKeySet(p, parties, threshold, master, share, relin)
	if err != nil {
		return nil, err
	}
	if string(ks.enc) != string(b) {
		return nil, errors.New("he: key set encoding is not canonical")
	}
	return ks, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// reader parses the small binary formats of this package; after the first
// error every read returns zero values and err stays set.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("truncated: want %d bytes, %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u16() uint16 {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint16(v)
}

func (r *reader) u32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (r *reader) string() string {
	n := int(r.u16())
	if r.err == nil && n > maxNameBytes {
		r.err = fmt.Errorf("name of %d bytes, more than %d", n, maxNameBytes)
	}
	return string(r.take(n))
}

func (r *reader) bytes() []byte { return r.take(int(r.u32())) }
