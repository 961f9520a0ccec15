package group

import (
	"fmt"
	"io"

	cg "github.com/cloudflare/circl/group"
)

// primeGroup adapts a prime-order group of circl to Group. Its fields are
// set once, in ristretto255.go and p256.go.
type primeGroup struct {
	name string
	g    cg.Group
	size int // encoded element length
	// decode parses a strictly canonical encoding, or fails with an error
	// wrapping ErrInvalidElement. It need not check for the identity.
	decode func(b []byte) (cg.Element, error)
	// encode writes the canonical encoding of e into out[:size].
	encode func(out []byte, e cg.Element)
	// mask clears the bits of a random scalar encoding that are always
	// zero in a scalar below the group order.
	mask func(b []byte)
}

// Name implements Group.
func (g *primeGroup) Name() string { return g.name }

// ElementSize implements Group.
func (g *primeGroup) ElementSize() int { return g.size }

// HashToElement implements Group with circl's RFC 9380 hash_to_curve
// (the uniform, random-oracle variant).
func (g *primeGroup) HashToElement(out, msg, dst []byte) {
	g.encode(out[:g.size], g.g.HashToElement(msg, dst))
}

// Validate implements Group.
func (g *primeGroup) Validate(b []byte) error {
	_, err := g.element(b)
	return err
}

// element decodes and checks b. In a prime-order group the identity is the
// only element of small order.
func (g *primeGroup) element(b []byte) (cg.Element, error) {
	if len(b) != g.size {
		return nil, invalid("%s element is %d bytes, want %d", g.name, len(b), g.size)
	}
	e, err := g.decode(b)
	if err != nil {
		return nil, err
	}
	if e.IsIdentity() {
		return nil, invalid("%s element is the identity", g.name)
	}
	return e, nil
}

// NewScalar implements Group by rejection sampling: it reads a scalar-sized
// string from rand, masks the bits above the order's top bit, and keeps it
// if it is a canonical nonzero scalar. Each draw is kept with probability
// above 1/2, and the result is uniform on [1, order).
func (g *primeGroup) NewScalar(rand io.Reader) (Scalar, error) {
	buf := make([]byte, g.g.Params().ScalarLength)
	defer clear(buf)
	for range maxScalarDraws {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("group: %s: read random scalar: %w", g.name, err)
		}
		g.mask(buf)
		s := g.g.NewScalar()
		if s.UnmarshalBinary(buf) == nil && !s.IsZero() {
			return &primeScalar{g: g, s: s}, nil
		}
		s.SetUint64(0)
	}
	return nil, fmt.Errorf("group: %s: no scalar in %d draws; the random source is broken", g.name, maxScalarDraws)
}

// primeScalar is a nonzero scalar of a primeGroup.
type primeScalar struct {
	g      *primeGroup
	s      cg.Scalar
	erased bool
}

// Mul implements Scalar.
func (s *primeScalar) Mul(out, in []byte) error {
	if s.erased {
		return errErased
	}
	e, err := s.g.element(in)
	if err != nil {
		return err
	}
	e.Mul(e, s.s)
	if e.IsIdentity() { // cannot happen: nonzero scalar, prime order
		return invalid("%s product is the identity", s.g.name)
	}
	s.g.encode(out[:s.g.size], e)
	return nil
}

// HashMul implements Scalar.
func (s *primeScalar) HashMul(out, msg, dst []byte) error {
	if s.erased {
		return errErased
	}
	e := s.g.g.HashToElement(msg, dst)
	e.Mul(e, s.s)
	if e.IsIdentity() { // a hash to the identity: negligible
		return invalid("%s product is the identity", s.g.name)
	}
	s.g.encode(out[:s.g.size], e)
	return nil
}

// Inverse implements Scalar: the inverse modulo the group order.
func (s *primeScalar) Inverse() Scalar {
	inv := s.g.g.NewScalar()
	if !s.erased {
		inv.Inv(s.s)
	}
	return &primeScalar{g: s.g, s: inv, erased: s.erased}
}

// Erase implements Scalar.
func (s *primeScalar) Erase() {
	s.s.SetUint64(0)
	s.erased = true
}
