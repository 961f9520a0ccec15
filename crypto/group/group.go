// Package group provides the groups that mitai's ECDH-style protocols
// (ECDH-PSI, PSI with payload, their cardinality variants) are written over,
// behind one small interface, so that a protocol is written once and a job
// names its group.
//
// A group offers four things: hashing a key to an element (RFC 9380
// hash-to-curve with a caller-chosen domain-separation tag), drawing a secret
// scalar, blinding an element with a scalar, and stripping a blinding again
// (Scalar.Inverse). Blinding commutes: for scalars s, t and any element P,
// s·(t·P) = t·(s·P), because both equal (st)·P. That is the whole basis of
// ECDH-PSI: H(x)^(ab) = H(x)^(ba), so two doubly blinded values match exactly
// when the keys match.
//
// Elements only ever appear as canonical byte strings. Every element that
// arrives from a peer goes through the same strict check before it is used
// (Group.Validate, and again inside Scalar.Mul): exact length, canonical
// encoding only, on the curve, not the identity, not of low order. A bad
// element is an error wrapping ErrInvalidElement, never a panic. The package
// does no networking, keeps no state beyond read-only tables, and its
// scalars are safe for concurrent use.
//
// The groups:
//
//   - "x25519" (the default, DefaultName): Curve25519 in Montgomery form,
//     elements are 32-byte little-endian u-coordinates, as in X25519 (RFC
//     7748). Fastest here; see below for why it is sound for PSI.
//   - "ristretto255": the prime-order group of RFC 9496, hashing with
//     hash_to_ristretto255 (RFC 9380 appendix B, expand_message_xmd with
//     SHA-512), 32-byte canonical encodings.
//   - "p256": NIST P-256 with RFC 9380 P256_XMD:SHA-256_SSWU_RO_, 33-byte
//     compressed SEC1 encodings (the uncompressed form is refused).
//
// ristretto255 and P-256 are prime-order groups and need no argument. x25519
// is not (Curve25519 has order 8ℓ, its twist 4ℓ', and an X25519 value is
// only an x-coordinate), so here is why it is sound for this use:
//
// Commutativity. The x-coordinate of s·P depends only on the x-coordinate
// of P, because x(−P) = x(P) and s·(−P) = −(s·P). The Montgomery ladder
// therefore computes a well-defined map on classes {P, −P}, and s·(t·P) =
// t·(s·P) holds on those classes exactly as on points.
//
// Cofactor. Scalars are stored clamped, as every X25519 secret is: bits 0-2
// clear, bit 254 set, bit 255 clear. A clamped scalar is a multiple of 8, so
// it kills the order-8 part of any input: every output of Mul lies in the
// prime-order subgroup of order ℓ = 2^252 + 27742317777372353535851937790883648493.
// For the same reason HashToElement stops before RFC 9380's clear_cofactor:
// it implements encode_to_curve of curve25519_XMD:SHA-512_ELL2_NU_ without
// that final multiplication by 8 and returns Q = map_to_curve(u) instead of
// 8·Q. Blinding Q with a clamped a gives a·Q = (a/8)·(8·Q), the RFC's output
// blinded with the integer a/8, and the protocol only ever uses blinded
// values, so the skipped multiplication (a whole ladder) changes nothing.
//
// Curve, never twist. Elligator 2 maps every field element onto the curve
// itself, never onto its quadratic twist. Systems that hash a key straight to
// a 32-byte string and use it as an X25519 u-coordinate land on the twist for
// about half of all keys; the ladder works there too, but a blinded twist
// point stays on the twist and anyone can test which side a blinded value
// is on (one Legendre symbol). That leaks one bit of H(x) per key, the
// same under every blinding and a public function of x, with which a peer
// halves its set of candidate keys for each value it sees. Here every hash
// and every blinded value is on the curve, so blinded values carry no such
// bit.
//
// Encoding, not random oracle. The NU ("nonuniform") suite is a weak
// encoding: its image is a constant fraction (about half) of the curve and it
// is efficiently invertible there. That is what the DH-PSI security reduction
// needs to program H: the simulator samples a random group element, keeps it
// if it has a preimage under the map (a constant fraction of the time) and
// retries otherwise, and answers the hash query with it.
//
// Scalars. A clamped scalar is a multiple of 8 in [2^254, 2^255); these are
// 2^251 distinct values and, as 8ℓ > 2^255, distinct modulo ℓ as well: a
// secret is uniform over 2^251 of the ℓ ≈ 2^252 residues, the key space of
// every X25519 key. (NewScalar's rejection step below drops a fraction of
// about 2^-126 of them, which changes nothing.)
//
// Hostile input. Curve25519 is twist-secure: even a point on the twist (or
// of small order) sent by a hostile peer does not let it learn the scalar
// through the ladder's output. We reject such points anyway (Validate), so a
// semi-honest protocol never multiplies anything but a curve point that is
// not of small order.
//
// Inverse. circl's ladder (like every X25519 implementation) clamps the
// scalar it is given, so an arbitrary a⁻¹ mod ℓ cannot be used. NewScalar
// therefore draws a until some clamped t satisfies t ≡ ±a⁻¹ (mod ℓ) and
// stores t with a. Either sign works because x-only arithmetic cannot see it:
// x(−Q) = x(Q). The first draw almost always succeeds: the multiples of 8
// below 8ℓ that are ≡ a⁻¹ and ≡ −a⁻¹ add up to 8ℓ ≈ 2^255, so one of them
// lies in [2^254, 2^255) unless the other is below 8ℓ − 2^255 ≈ 2^127.4.
package group

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrInvalidElement is returned, wrapped with detail, for any byte string
// that is not the canonical encoding of a valid, non-identity, non-low-order
// element of the group. Test for it with errors.Is.
var ErrInvalidElement = errors.New("group: invalid element encoding")

// errErased is returned by Mul on a scalar after Erase.
var errErased = errors.New("group: scalar used after Erase")

// maxScalarDraws bounds the rejection-sampling loops of NewScalar, so that a
// broken random source (one that repeats itself) ends in an error instead of
// a hang. Every loop accepts a draw with probability at least about 1/2.
const maxScalarDraws = 128

// DefaultName is the name of the group used when a job names none: the
// fastest sound group measured on this code base (see the package doc for
// why x25519 is sound for ECDH-PSI).
const DefaultName = "x25519"

// Group is a group in which ECDH-style blinding commutes: s·(t·P) = t·(s·P).
// Elements only ever appear as their canonical byte encodings.
// A Group holds no mutable state; all methods are safe for concurrent use.
type Group interface {
	// Name is the group's name as accepted by ByName: "x25519",
	// "ristretto255" or "p256".
	Name() string
	// ElementSize is the length of an encoded element in bytes.
	ElementSize() int
	// HashToElement writes the encoding of H(msg) under domain-separation
	// tag dst into out[:ElementSize()]. It panics if out is shorter.
	HashToElement(out, msg, dst []byte)
	// NewScalar draws a fresh secret scalar from rand (crypto/rand.Reader in
	// production). It fails only if rand fails.
	NewScalar(rand io.Reader) (Scalar, error)
	// Validate reports whether b is a canonical encoding of a valid,
	// non-identity, non-low-order element (nil) or returns an error wrapping
	// ErrInvalidElement that says what is wrong.
	Validate(b []byte) error
}

// Scalar is a secret blinding exponent. It is safe for concurrent use by many
// goroutines (it is read-only after creation) until Erase.
type Scalar interface {
	// Mul writes the encoding of s·P into out[:ElementSize()], where in is
	// the encoding of P. It validates in strictly (the same checks as
	// Group.Validate) and returns an error wrapping ErrInvalidElement
	// otherwise; out is then left unchanged. out and in may alias. It panics
	// if out is shorter than ElementSize().
	Mul(out, in []byte) error
	// HashMul writes the encoding of s·H(msg) into out[:ElementSize()],
	// with H the group's HashToElement under tag dst. It equals
	// HashToElement followed by Mul, but skips what a fresh hash output does
	// not need (validation, an encode-decode round trip): this is how a
	// party blinds its own keys. It fails only if the product is of small
	// order, which a hash reaches with negligible probability.
	HashMul(out, msg, dst []byte) error
	// Inverse returns a scalar t with t·(s·Q) = Q for every Q in the
	// prime-order subgroup, which includes every output of Mul and, for the
	// prime-order groups, every valid element. It is used by the PSI join to
	// strip a blinding. The result is independent of s: erase both.
	Inverse() Scalar
	// Erase overwrites the secret. The scalar must not be used afterwards;
	// Mul then fails.
	Erase()
}

// groups holds one value of each group, by name.
var groups = map[string]Group{
	"x25519":       x25519Group{},
	"ristretto255": ristretto255,
	"p256":         p256,
}

// ByName returns the group with the given name (see Names).
func ByName(name string) (Group, error) {
	if g, ok := groups[name]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("group: unknown group %q (known groups: %s)", name, strings.Join(Names(), ", "))
}

// Names returns the names of all groups, sorted.
func Names() []string {
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// invalid returns an error wrapping ErrInvalidElement with detail.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidElement}, args...)...)
}
