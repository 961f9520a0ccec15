package group

import (
	cg "github.com/cloudflare/circl/group"
)

// ristretto255 is the prime-order group of RFC 9496 built from
// edwards25519, through circl. HashToElement is hash_to_ristretto255
// (RFC 9380 appendix B; expand_message_xmd with SHA-512, two one-way maps).
var ristretto255 = &primeGroup{
	name:   "ristretto255",
	g:      cg.Ristretto255,
	size:   32,
	decode: decodeRistretto255,
	encode: func(out []byte, e cg.Element) {
		b, _ := e.MarshalBinary() // cannot fail for ristretto255
		copy(out, b)
	},
	// The order ℓ is just above 2^252; a scalar is 32 bytes little-endian,
	// so the top three bits are always zero.
	mask: func(b []byte) { b[31] &= 0x1f },
}

// decodeRistretto255 decodes a canonical ristretto255 encoding. circl's
// decoder (go-ristretto's SetRistretto) implements RFC 9496 §4.3.1: it
// rejects s ≥ p (including a set top bit), a negative s, and the other
// invalid cases; TestRistretto255Validate runs the RFC's bad encodings.
func decodeRistretto255(b []byte) (cg.Element, error) {
	e := cg.Ristretto255.NewElement()
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, invalid("not a canonical ristretto255 encoding")
	}
	return e, nil
}
