package group

import (
	cg "github.com/cloudflare/circl/group"
)

// p256 is NIST P-256 through circl, with RFC 9380 hash_to_curve for
// P256_XMD:SHA-256_SSWU_RO_ and 33-byte compressed SEC1 encodings. P-256
// has prime order (cofactor 1), so the identity is its only small-order
// element, and the identity has no compressed encoding.
var p256 = &primeGroup{
	name:   "p256",
	g:      cg.P256,
	size:   33,
	decode: decodeP256,
	encode: func(out []byte, e cg.Element) {
		b, _ := e.MarshalBinaryCompress() // cannot fail
		copy(out, b)
	},
	mask: func([]byte) {}, // the order is just below 2^256
}

// decodeP256 decodes a compressed SEC1 point: 0x02 or 0x03, then x as 32
// big-endian bytes with x < p and x^3 - 3x + b a square.
func decodeP256(b []byte) (cg.Element, error) {
	if b[0] != 0x02 && b[0] != 0x03 {
		return nil, invalid("p256 element must be compressed SEC1 (prefix 0x02 or 0x03), got prefix 0x%02x", b[0])
	}
	e := cg.P256.NewElement()
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, invalid("p256 element is not a point on the curve (x ≥ p, or no y for x)")
	}
	return e, nil
}
