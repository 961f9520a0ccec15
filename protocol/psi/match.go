package psi

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
)

// truncDigest writes the first len(out) bytes of SHA-256(element) to out.
func truncDigest(out, element []byte) {
	d := sha256.Sum256(element)
	copy(out, d[:])
}

// digestKey is a digest of up to 16 bytes as two integers, for sorting.
type digestKey struct{ hi, lo uint64 }

func keyOf(d []byte) digestKey {
	var buf [16]byte
	copy(buf[:], d)
	return digestKey{binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])}
}

func (a digestKey) compare(b digestKey) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// indexEntry is one digest of a list and its position there.
type indexEntry struct {
	key digestKey
	pos uint32
}

// digestIndex finds a digest's position in a list, by binary search over
// the list sorted once: 24 bytes per element, no map.
type digestIndex []indexEntry

func newDigestIndex(digests []byte, size int) digestIndex {
	n := len(digests) / size
	idx := make(digestIndex, n)
	for j := range n {
		idx[j] = indexEntry{keyOf(digests[j*size : (j+1)*size]), uint32(j)}
	}
	slices.SortFunc(idx, func(a, b indexEntry) int { return a.key.compare(b.key) })
	return idx
}

// find returns the position of d in the list, or -1.
func (idx digestIndex) find(d []byte) int {
	i, ok := slices.BinarySearchFunc(idx, keyOf(d), func(e indexEntry, k digestKey) int { return e.key.compare(k) })
	if !ok {
		return -1
	}
	return int(idx[i].pos)
}

// shuffler draws permutations from a ChaCha8 stream keyed from the role's
// secret randomness.
func newShuffler(r io.Reader) (*rand.Rand, error) {
	var seed [32]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("psi: read randomness: %w", err)
	}
	return rand.New(rand.NewChaCha8(seed)), nil
}

// permutation returns a uniformly random permutation of [0, n).
func permutation(r *rand.Rand, n int) []uint32 {
	p := make([]uint32, n)
	for i := range p {
		p[i] = uint32(i)
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}
