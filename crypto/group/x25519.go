package group

import (
	"crypto"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/expander"
	fp "github.com/cloudflare/circl/math/fp25519"
)

// x25519Group is Curve25519 in Montgomery form, v^2 = u^3 + A·u^2 + u with
// A = 486662 over GF(p), p = 2^255 - 19, with elements encoded as 32-byte
// little-endian u-coordinates. See the package doc for why it is sound.
type x25519Group struct{}

// x25519Size is the length of an encoded x25519 element.
const x25519Size = 32

// Field constants, all fully reduced.
var (
	feOne  = fp.Elt{1}
	feA    = fp.Elt{0x06, 0x6d, 0x07} // A = 486662
	feNegA = func() (z fp.Elt) { fp.Neg(&z, &feA); fp.Modp(&z); return z }()
	feASq  = func() (z fp.Elt) { fp.Sqr(&z, &feA); fp.Modp(&z); return z }()
	fe38   = fp.Elt{38} // 2^256 mod p
)

// x25519LowOrder lists the u-coordinates (canonical, little-endian) of the
// points of small order that X25519 may meet: 0 (order 2), 1 (order 4),
// the two u-coordinates of the points of order 8 on the curve, and p-1
// (order 4, on the twist). TestX25519LowOrderPoints checks the list.
var x25519LowOrder = [...]fp.Elt{
	{},
	{1},
	feFromHex("00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0"),
	feFromHex("57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5f"),
	feFromHex("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec"),
}

// feFromHex parses a big-endian hex constant into a field element.
func feFromHex(s string) (z fp.Elt) {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.BitLen() > 255 {
		panic("group: bad field constant " + s)
	}
	var be [32]byte
	n.FillBytes(be[:])
	for i := range be {
		z[i] = be[31-i]
	}
	return z
}

// Name implements Group.
func (x25519Group) Name() string { return "x25519" }

// ElementSize implements Group.
func (x25519Group) ElementSize() int { return x25519Size }

// HashToElement implements Group: RFC 9380 encode_to_curve for the suite
// curve25519_XMD:SHA-512_ELL2_NU_ without the final clear_cofactor (the
// clamped scalar of the first Mul clears it; see the package doc). It
// outputs the u-coordinate of Q = map_to_curve_elligator2(hash_to_field(msg, 1)).
// Q is always on the curve, never on the twist. It is a point of small order
// only for a handful of field elements (u = 0 among them), which a hash hits
// with probability about 2^-250; Mul would refuse such a Q.
func (x25519Group) HashToElement(out, msg, dst []byte) {
	out = out[:x25519Size]
	var u, x fp.Elt
	hashToFieldX25519(&u, msg, dst)
	elligator2X(&x, &u)
	copy(out, x[:])
}

// hashToFieldX25519 sets u = hash_to_field(msg, count = 1) for GF(2^255-19):
// L = 48 bytes of expand_message_xmd with SHA-512, read big-endian, reduced
// mod p (L = ceil((ceil(log2(p)) + k) / 8) with k = 128).
func hashToFieldX25519(u *fp.Elt, msg, dst []byte) {
	var b [48]byte
	expandXMD48(&b, msg, dst)
	reduceWide(u, &b)
}

// expandXMD48 sets out = expand_message_xmd(msg, dst, 48) with SHA-512
// (RFC 9380 §5.3.1). 48 bytes fit in one SHA-512 output, so it is
// b_1 = H(b_0 || 0x01 || DST') with b_0 = H(Z_pad || msg || I2OSP(48, 2) ||
// 0x00 || DST'), DST' = DST || I2OSP(len(DST), 1). Usual inputs (keys and
// tags up to a few hundred bytes) are hashed from a stack buffer without
// heap allocation, which matters at millions of calls per job; anything
// longer, and a tag over 255 bytes (which RFC 9380 hashes first), goes
// through circl's general expander. TestExpandXMD48 compares the two.
func expandXMD48(out *[48]byte, msg, dst []byte) {
	const blockSize = 128 // SHA-512 input block, the length of Z_pad
	var buf [640]byte
	if len(dst) > 255 || blockSize+len(msg)+3+len(dst)+1 > len(buf) {
		copy(out[:], expander.NewExpanderMD(crypto.SHA512, dst).Expand(msg, 48))
		return
	}
	b := append(buf[:blockSize], msg...) // buf starts zero: Z_pad
	b = append(b, 0, 48, 0)
	b = append(b, dst...)
	b = append(b, byte(len(dst)))
	b0 := sha512.Sum512(b)
	b = append(buf[:0], b0[:]...)
	b = append(b, 1)
	b = append(b, dst...)
	b = append(b, byte(len(dst)))
	b1 := sha512.Sum512(b)
	copy(out[:], b1[:48])
}

// reduceWide sets u to the 48-byte big-endian integer b reduced mod p.
func reduceWide(u *fp.Elt, b *[48]byte) {
	// b = hi·2^256 + lo with hi the first 16 bytes and lo the last 32;
	// 2^256 ≡ 38 (mod p), so u ≡ 38·hi + lo.
	var hi, lo fp.Elt
	for i := range 16 {
		hi[i] = b[15-i]
	}
	for i := range 32 {
		lo[i] = b[47-i]
	}
	fp.Mul(u, &hi, &fe38)
	fp.Add(u, u, &lo)
	fp.Modp(u)
}

// elligator2X sets x to the u-coordinate of map_to_curve_elligator2(u) on
// Curve25519 (RFC 9380 §6.7.1 with J = A, K = 1, Z = 2), fully reduced.
// It runs in constant time: one exponentiation yields both the quadratic
// character needed to choose between the two candidates and the inversion
// needed to make the result affine.
func elligator2X(x, u *fp.Elt) {
	var xd, num, t, w, e, chi, inv, x1, x2 fp.Elt

	// x1 = -A / xd with xd = 1 + Z·u^2. xd is never 0: that would need
	// u^2 = -1/2, and -1/2 is not a square mod p (-1 is, 2 is not).
	fp.Sqr(&xd, u)
	fp.Add(&xd, &xd, &xd)
	fp.Add(&xd, &xd, &feOne)

	// gx1 = x1^3 + A·x1^2 + x1 = num / xd^3 with
	// num = -A·(xd^2 - A^2·xd + A^2) = -A·(xd·(xd - A^2) + A^2).
	fp.Sub(&t, &xd, &feASq)
	fp.Mul(&t, &t, &xd)
	fp.Add(&t, &t, &feASq)
	fp.Mul(&num, &t, &feNegA)

	// w = num·xd = gx1·xd^4 has the quadratic character of gx1. w ≠ 0
	// because gx1 ≠ 0: x1 ≠ 0 and x^2 + A·x + 1 has no root in GF(p).
	// With e = w^((p-3)/2): chi = w·e = w^((p-1)/2) = ±1 is the Legendre
	// symbol of w, and 1/w = chi·e, so 1/xd = num/w = num·e·chi.
	fp.Mul(&w, &num, &xd)
	powPMinus3Over2(&e, &w)
	fp.Mul(&chi, &w, &e)
	fp.Modp(&chi)
	isSquare := uint(subtle.ConstantTimeCompare(chi[:], feOne[:]))
	fp.Mul(&inv, &num, &e)
	fp.Mul(&inv, &inv, &chi)

	// x1 = -A/xd, x2 = -x1 - A; x = x1 if gx1 is square, else x2.
	fp.Mul(&x1, &feNegA, &inv)
	fp.Sub(&x2, &feNegA, &x1)
	*x = x2
	fp.Cmov(x, &x1, isSquare)
	fp.Modp(x)
}

// powPMinus3Over2 sets z = x^((p-3)/2) = x^(2^254 - 11), in constant time.
// 2^254 - 11 = (2^250 - 1)·2^4 + 5.
func powPMinus3Over2(z, x *fp.Elt) {
	var x2, x4, x5, x9, x11, a, b, c fp.Elt
	sqrN := func(z, x *fp.Elt, n int) {
		fp.Sqr(z, x)
		for range n - 1 {
			fp.Sqr(z, z)
		}
	}
	fp.Sqr(&x2, x)         // 2
	fp.Sqr(&x4, &x2)       // 4
	fp.Mul(&x5, &x4, x)    // 5
	fp.Sqr(&x9, &x4)       // 8
	fp.Mul(&x9, &x9, x)    // 9
	fp.Mul(&x11, &x9, &x2) // 11
	fp.Sqr(&a, &x11)       // 22
	fp.Mul(&a, &a, &x9)    // 31 = 2^5 - 1
	sqrN(&b, &a, 5)        //
	fp.Mul(&b, &b, &a)     // 2^10 - 1
	sqrN(&c, &b, 10)       //
	fp.Mul(&c, &c, &b)     // 2^20 - 1
	sqrN(&a, &c, 20)       //
	fp.Mul(&a, &a, &c)     // 2^40 - 1
	sqrN(&a, &a, 10)       //
	fp.Mul(&a, &a, &b)     // 2^50 - 1
	sqrN(&b, &a, 50)       //
	fp.Mul(&b, &b, &a)     // 2^100 - 1
	sqrN(&c, &b, 100)      //
	fp.Mul(&c, &c, &b)     // 2^200 - 1
	sqrN(&c, &c, 50)       //
	fp.Mul(&c, &c, &a)     // 2^250 - 1
	sqrN(&c, &c, 4)        // 2^254 - 16
	fp.Mul(z, &c, &x5)     // 2^254 - 11
}

// isSquareNonZero reports whether x is a nonzero square mod p (Euler's
// criterion, x^((p-1)/2) = 1).
func isSquareNonZero(x *fp.Elt) bool {
	var e fp.Elt
	powPMinus3Over2(&e, x)
	fp.Mul(&e, &e, x)
	fp.Modp(&e)
	return e == feOne
}

// Validate implements Group. It accepts exactly the canonical u-coordinates
// (< p, bit 255 clear) of points on Curve25519 (not its twist) that are not
// of small order.
func (x25519Group) Validate(b []byte) error {
	if len(b) != x25519Size {
		return invalid("x25519 element is %d bytes, want %d", len(b), x25519Size)
	}
	var u fp.Elt
	copy(u[:], b)
	return checkX25519(&u)
}

// checkX25519 is Validate on a 32-byte u-coordinate. Elements are public,
// so it need not run in constant time.
func checkX25519(u *fp.Elt) error {
	if u[31]&0x80 != 0 {
		return invalid("x25519 element has bit 255 set")
	}
	c := *u
	fp.Modp(&c)
	if c != *u {
		return invalid("x25519 element is not reduced mod 2^255-19")
	}
	for i := range x25519LowOrder {
		if *u == x25519LowOrder[i] {
			return invalid("x25519 element is a point of small order")
		}
	}
	// On the curve iff u^3 + A·u^2 + u = u·(u·(u + A) + 1) is a square;
	// otherwise u is on the twist. It is nonzero here since u ≠ 0.
	var t fp.Elt
	fp.Add(&t, u, &feA)
	fp.Mul(&t, &t, u)
	fp.Add(&t, &t, &feOne)
	fp.Mul(&t, &t, u)
	if !isSquareNonZero(&t) {
		return invalid("x25519 element is on the twist, not on Curve25519")
	}
	return nil
}

// NewScalar implements Group. It draws clamped scalars a until one has a
// clamped t with t ≡ ±a⁻¹ (mod ℓ), which all but a fraction of about 2^-126
// have, and returns a with t stored for Inverse.
func (x25519Group) NewScalar(rand io.Reader) (Scalar, error) {
	var s x25519Scalar
	for range maxScalarDraws {
		if _, err := io.ReadFull(rand, s.k[:]); err != nil {
			s.Erase()
			return nil, fmt.Errorf("group: x25519: read random scalar: %w", err)
		}
		clampX25519(&s.k)
		if clampedInverse(&s.inv, &s.k) {
			return &s, nil
		}
	}
	s.Erase()
	return nil, fmt.Errorf("group: x25519: no invertible scalar in %d draws; the random source is broken", maxScalarDraws)
}

// clampX25519 clamps k as RFC 7748 does: clears bits 0, 1, 2 and 255 and
// sets bit 254.
func clampX25519(k *x25519.Key) {
	k[0] &= 0xf8
	k[31] = k[31]&0x7f | 0x40
}

// x25519Order is ℓ, the order of Curve25519's prime-order subgroup.
var x25519Order, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// clampedInverse looks for a clamped t (a multiple of 8 in [2^254, 2^255))
// with t ≡ a⁻¹ or t ≡ -a⁻¹ (mod ℓ), writes it to t (little-endian) and
// reports whether there is one. It uses math/big, which is not constant
// time; it runs once per scalar, locally, and the number of draws NewScalar
// needs does not depend on the scalar it finally keeps.
func clampedInverse(t, a *x25519.Key) bool {
	var buf [32]byte
	for i := range buf {
		buf[i] = a[31-i]
	}
	A := new(big.Int).SetBytes(buf[:])
	r := new(big.Int).ModInverse(A, x25519Order)
	neg := new(big.Int)
	cand := new(big.Int)
	defer func() {
		clear(buf[:])
		for _, n := range []*big.Int{A, r, neg, cand} {
			clear(n.Bits())
		}
	}()
	if r == nil { // a ≡ 0 mod ℓ: impossible for a clamped a, since 8ℓ > 2^255
		return false
	}
	neg.Sub(x25519Order, r)
	for _, base := range []*big.Int{r, neg} {
		// t = base + j·ℓ < 2^255 needs j ≤ 7 because 8ℓ > 2^255.
		cand.Set(base)
		for range 8 {
			if cand.BitLen() == 255 && cand.Bit(0)|cand.Bit(1)|cand.Bit(2) == 0 {
				cand.FillBytes(buf[:])
				for i := range buf {
					t[i] = buf[31-i]
				}
				return true
			}
			cand.Add(cand, x25519Order)
		}
	}
	return false
}

// x25519Scalar is a clamped X25519 scalar k with a clamped inv such that
// inv·k ≡ ±1 (mod ℓ).
type x25519Scalar struct {
	k, inv x25519.Key
	erased bool
}

// Mul implements Scalar with circl's X25519 ladder, after checking in as
// Validate does.
func (s *x25519Scalar) Mul(out, in []byte) error {
	if s.erased {
		return errErased
	}
	if len(in) != x25519Size {
		return invalid("x25519 element is %d bytes, want %d", len(in), x25519Size)
	}
	var pub, res x25519.Key
	copy(pub[:], in)
	if err := checkX25519((*fp.Elt)(&pub)); err != nil {
		return err
	}
	// The clamp inside Shared is a no-op on our already clamped scalar.
	// Its low-order check cannot fail after checkX25519.
	x25519.Shared(&res, &s.k, &pub)
	if res == (x25519.Key{}) {
		return invalid("x25519 product is the identity")
	}
	copy(out[:x25519Size], res[:])
	return nil
}

// HashMul implements Scalar. Elligator 2 outputs a u-coordinate on the
// curve (never the twist), so only the ladder's own low-order check remains.
func (s *x25519Scalar) HashMul(out, msg, dst []byte) error {
	if s.erased {
		return errErased
	}
	var u, x fp.Elt
	hashToFieldX25519(&u, msg, dst)
	elligator2X(&x, &u)
	var res x25519.Key
	if !x25519.Shared(&res, &s.k, (*x25519.Key)(&x)) || res == (x25519.Key{}) {
		return invalid("x25519 hash is a point of small order")
	}
	copy(out[:x25519Size], res[:])
	return nil
}

// Inverse implements Scalar.
func (s *x25519Scalar) Inverse() Scalar {
	return &x25519Scalar{k: s.inv, inv: s.k, erased: s.erased}
}

// Erase implements Scalar.
func (s *x25519Scalar) Erase() {
	clear(s.k[:])
	clear(s.inv[:])
	s.erased = true
}
