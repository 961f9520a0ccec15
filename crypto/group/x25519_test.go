package group

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/expander"
	fp "github.com/cloudflare/circl/math/fp25519"
)

var (
	bigP  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	bigA  = big.NewInt(486662)
	bigLE = func(e *fp.Elt) *big.Int {
		var be [32]byte
		for i := range be {
			be[i] = e[31-i]
		}
		return new(big.Int).SetBytes(be[:])
	}
)

// eltOfBig encodes 0 ≤ n < 2^256 little-endian.
func eltOfBig(n *big.Int) (e fp.Elt) {
	var be [32]byte
	n.FillBytes(be[:])
	for i := range be {
		e[i] = be[31-i]
	}
	return e
}

// xDBL doubles the projective x-only point (x:z) on Curve25519 (RFC 7748's
// ladder step, doubling half): x2 = AA·BB, z2 = E·(AA + a24·E).
func xDBL(x, z *fp.Elt) {
	var aa, bb, e, t fp.Elt
	a24 := fp.Elt{0x41, 0xdb, 0x01} // 121665 = (A-2)/4
	fp.Add(&aa, x, z)
	fp.Sqr(&aa, &aa)
	fp.Sub(&bb, x, z)
	fp.Sqr(&bb, &bb)
	fp.Sub(&e, &aa, &bb)
	fp.Mul(x, &aa, &bb)
	fp.Mul(&t, &a24, &e)
	fp.Add(&t, &t, &aa)
	fp.Mul(z, &e, &t)
}

// times8 returns x(8·P) for x = x(P), and whether 8·P is the point at
// infinity.
func times8(x fp.Elt) (fp.Elt, bool) {
	z := feOne
	for range 3 {
		xDBL(&x, &z)
	}
	if fp.IsZero(&z) {
		return fp.Elt{}, true
	}
	fp.Inv(&z, &z)
	fp.Mul(&x, &x, &z)
	fp.Modp(&x)
	return x, false
}

func beHexElt(t *testing.T, s string) fp.Elt {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex %q", s)
	}
	return eltOfBig(n)
}

// TestX25519RFC9380Vectors checks hash_to_field, map_to_curve and
// (after multiplying by the cofactor 8) encode_to_curve against RFC 9380
// appendix J.7.2, curve25519_XMD:SHA-512_ELL2_NU_.
func TestX25519RFC9380Vectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/rfc9380_curve25519_XMD-SHA-512_ELL2_NU_.json")
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		DST     string `json:"dst"`
		Vectors []struct {
			Msg string `json:"msg"`
			U   string `json:"u"`
			QX  string `json:"Q.x"`
			PX  string `json:"P.x"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &suite); err != nil {
		t.Fatal(err)
	}
	if len(suite.Vectors) != 5 {
		t.Fatalf("%d vectors, want 5", len(suite.Vectors))
	}
	g := x25519Group{}
	for _, v := range suite.Vectors {
		var u fp.Elt
		hashToFieldX25519(&u, []byte(v.Msg), []byte(suite.DST))
		if want := beHexElt(t, v.U); u != want {
			t.Errorf("msg %.10q: u = %v, want %v", v.Msg, u, want)
		}
		var q fp.Elt
		g.HashToElement(q[:], []byte(v.Msg), []byte(suite.DST))
		if want := beHexElt(t, v.QX); q != want {
			t.Errorf("msg %.10q: Q.x = %v, want %v", v.Msg, q, want)
		}
		p, inf := times8(q)
		if want := beHexElt(t, v.PX); inf || p != want {
			t.Errorf("msg %.10q: (8·Q).x = %v, want P.x = %v", v.Msg, p, want)
		}
		if err := g.Validate(q[:]); err != nil {
			t.Errorf("msg %.10q: Validate(Q) = %v", v.Msg, err)
		}
	}
}

// TestX25519RFC7748 checks Mul against the Diffie-Hellman example of RFC
// 7748 §6.1 (Bob's secret times Alice's public key).
func TestX25519RFC7748(t *testing.T) {
	t.Parallel()
	var s x25519Scalar
	hex.Decode(s.k[:], []byte("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	clampX25519(&s.k)
	alice, _ := hex.DecodeString("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	want, _ := hex.DecodeString("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	if got := mustMul(t, &s, alice); !bytes.Equal(got, want) {
		t.Fatalf("Mul = %x, want %x", got, want)
	}
}

// TestReduceWide compares the 48-byte reduction of hash_to_field with
// math/big, on edge values and random ones.
func TestReduceWide(t *testing.T) {
	t.Parallel()
	cases := [][48]byte{{}, {47: 1}}
	var ones [48]byte
	for i := range ones {
		ones[i] = 0xff
	}
	cases = append(cases, ones)
	// p, p-1, p+1 and 2^256-1 as 48-byte big-endian strings.
	for _, n := range []*big.Int{bigP, new(big.Int).Sub(bigP, big.NewInt(1)), new(big.Int).Add(bigP, big.NewInt(1)),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))} {
		var b [48]byte
		n.FillBytes(b[:])
		cases = append(cases, b)
	}
	r := testRand(1)
	for range 200 {
		var b [48]byte
		r.Read(b[:])
		cases = append(cases, b)
	}
	for _, b := range cases {
		var u fp.Elt
		reduceWide(&u, &b)
		want := new(big.Int).Mod(new(big.Int).SetBytes(b[:]), bigP)
		if got := bigLE(&u); got.Cmp(want) != 0 {
			t.Fatalf("reduceWide(%x) = %v, want %v", b, got, want)
		}
	}
}

// TestPowChain compares powPMinus3Over2 with math/big.
func TestPowChain(t *testing.T) {
	t.Parallel()
	exp := new(big.Int).Rsh(new(big.Int).Sub(bigP, big.NewInt(3)), 1)
	r := testRand(2)
	for i := range 100 {
		var x fp.Elt
		r.Read(x[:])
		x[31] &= 0x7f
		if i < 3 {
			x = fp.Elt{byte(i)}
		}
		fp.Modp(&x)
		var z fp.Elt
		powPMinus3Over2(&z, &x)
		fp.Modp(&z)
		want := new(big.Int).Exp(bigLE(&x), exp, bigP)
		if got := bigLE(&z); got.Cmp(want) != 0 {
			t.Fatalf("x^((p-3)/2) for x = %v: got %v, want %v", bigLE(&x), got, want)
		}
	}
}

// refElligator2X is RFC 9380 §6.7.1 for Curve25519, written plainly with
// math/big.
func refElligator2X(u *big.Int) *big.Int {
	mod := func(n *big.Int) *big.Int { return n.Mod(n, bigP) }
	tv := mod(new(big.Int).Mul(u, u))
	tv = mod(tv.Add(tv.Lsh(tv, 1), big.NewInt(1))) // 1 + 2u^2
	x1 := new(big.Int)
	if tv.Sign() != 0 {
		x1 = mod(x1.Mul(new(big.Int).Neg(bigA), new(big.Int).ModInverse(tv, bigP)))
	}
	if x1.Sign() == 0 {
		x1 = mod(new(big.Int).Neg(bigA))
	}
	g := func(x *big.Int) *big.Int { // x^3 + A x^2 + x
		t := new(big.Int).Add(x, bigA)
		t.Mul(t, x)
		t.Add(t, big.NewInt(1))
		t.Mul(t, x)
		return mod(t)
	}
	if big.Jacobi(g(x1), bigP) >= 0 {
		return x1
	}
	return mod(new(big.Int).Sub(new(big.Int).Neg(x1), bigA))
}

// TestElligator2Reference compares the constant-time map with the plain
// one, on edge values and random field elements.
func TestElligator2Reference(t *testing.T) {
	t.Parallel()
	us := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), new(big.Int).Sub(bigP, big.NewInt(1))}
	r := testRand(3)
	for range 300 {
		var b [40]byte
		r.Read(b[:])
		us = append(us, new(big.Int).Mod(new(big.Int).SetBytes(b[:]), bigP))
	}
	var squares, nonSquares int
	for _, u := range us {
		ue := eltOfBig(u)
		var x fp.Elt
		elligator2X(&x, &ue)
		want := refElligator2X(u)
		if got := bigLE(&x); got.Cmp(want) != 0 {
			t.Fatalf("elligator2(%v) = %v, want %v", u, got, want)
		}
		// Only a handful of u (u = 0 among them) map to a point of small
		// order; a hash output hits one with probability about 2^-250.
		if err := checkX25519(&x); err != nil && u.Sign() != 0 {
			t.Fatalf("elligator2(%v) = %v: %v", u, x, err)
		}
		// Count both branches, so that both are known to be tested.
		x1 := new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Neg(bigA),
			new(big.Int).ModInverse(new(big.Int).Add(new(big.Int).Lsh(new(big.Int).Mul(u, u), 1), big.NewInt(1)), bigP)), bigP)
		if want.Cmp(x1) == 0 {
			squares++
		} else {
			nonSquares++
		}
	}
	if squares < 50 || nonSquares < 50 {
		t.Errorf("branches: %d square, %d non-square", squares, nonSquares)
	}
}

// TestX25519LowOrderPoints checks the small-order list: every entry is
// canonical and killed by 8, and the order-8 entries have order exactly 8.
func TestX25519LowOrderPoints(t *testing.T) {
	t.Parallel()
	for i, u := range x25519LowOrder {
		c := u
		fp.Modp(&c)
		if c != u {
			t.Errorf("entry %d is not canonical", i)
		}
		if _, inf := times8(u); !inf {
			t.Errorf("entry %d (%v): 8·P is not the identity", i, u)
		}
		if i == 2 || i == 3 {
			x, z := u, feOne
			xDBL(&x, &z)
			xDBL(&x, &z)
			if fp.IsZero(&z) {
				t.Errorf("entry %d: 4·P is the identity, want order 8", i)
			}
		}
	}
}

// twistPoint returns the smallest u ≥ 2 on the twist of Curve25519.
func twistPoint() fp.Elt {
	for u := int64(2); ; u++ {
		bu := big.NewInt(u)
		rhs := new(big.Int).Add(bu, bigA)
		rhs.Mul(rhs, bu).Add(rhs, big.NewInt(1)).Mul(rhs, bu).Mod(rhs, bigP)
		if big.Jacobi(rhs, bigP) == -1 {
			return eltOfBig(bu)
		}
	}
}

func TestX25519ValidateRejects(t *testing.T) {
	t.Parallel()
	g := x25519Group{}
	s := mustScalar(t, g, testRand(10))
	valid := hash(g, "valid")
	highBit := bytes.Clone(valid)
	highBit[31] |= 0x80
	plusP := func(n int64) []byte { // n + p, a non-canonical encoding of n
		e := eltOfBig(new(big.Int).Add(bigP, big.NewInt(n)))
		return e[:]
	}
	allOnes := bytes.Repeat([]byte{0xff}, 32)
	allOnes[31] = 0x7f // 2^255 - 1 = p + 18
	tw := twistPoint()
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"bit 255 set", highBit, "bit 255"},
		{"p (0 unreduced)", plusP(0), "not reduced"},
		{"p+1 (1 unreduced)", plusP(1), "not reduced"},
		{"p+9 (base point unreduced)", plusP(9), "not reduced"},
		{"2^255-1", allOnes, "not reduced"},
		{"twist point", tw[:], "twist"},
	}
	for i, u := range x25519LowOrder {
		cases = append(cases, struct {
			name string
			b    []byte
			want string
		}{"low order " + string(rune('0'+i)), u[:], "small order"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkRejected(t, g, s, c.b, c.want)
		})
	}
	// The base point 9 is valid: the check is about the curve, not about
	// where a point came from.
	if err := g.Validate((&fp.Elt{9})[:]); err != nil {
		t.Errorf("Validate(9) = %v", err)
	}
}

// TestX25519Scalars checks that scalars and their inverses are clamped and
// inverse to each other up to sign modulo ℓ, and that NewScalar (almost)
// never has to redraw, as the package doc says.
func TestX25519Scalars(t *testing.T) {
	t.Parallel()
	r := testRand(11)
	one := big.NewInt(1)
	minusOne := new(big.Int).Sub(x25519Order, one)
	clamped := func(k *x25519.Key) bool {
		return k[0]&7 == 0 && k[31]&0xc0 == 0x40
	}
	for range 50 {
		s := mustScalar(t, x25519Group{}, r).(*x25519Scalar)
		if !clamped(&s.k) || !clamped(&s.inv) {
			t.Fatalf("scalar %x or inverse %x not clamped", s.k, s.inv)
		}
		prod := new(big.Int).Mul(bigLE((*fp.Elt)(&s.k)), bigLE((*fp.Elt)(&s.inv)))
		prod.Mod(prod, x25519Order)
		if prod.Cmp(one) != 0 && prod.Cmp(minusOne) != 0 {
			t.Fatalf("k·inv = %v mod ℓ, want ±1", prod)
		}
	}
	const n = 2000
	var ok int
	for range n {
		var a, inv x25519.Key
		r.Read(a[:])
		clampX25519(&a)
		if clampedInverse(&inv, &a) {
			ok++
		}
	}
	if ok != n {
		t.Errorf("%d of %d clamped scalars have no clamped ±inverse; the doc says all but a fraction of about 2^-124", n-ok, n)
	}
}

// TestExpandXMD48 compares the allocation-free expand_message_xmd with
// circl's general one, on both sides of the fast path's limits.
func TestExpandXMD48(t *testing.T) {
	t.Parallel()
	r := testRand(12)
	lengths := []int{0, 1, 17, 64, 128, 255, 256, 300, 500, 509, 510, 511, 600}
	for _, ml := range lengths {
		for _, dl := range []int{0, 1, 21, 100, 255, 256, 300} {
			msg := make([]byte, ml)
			dst := make([]byte, dl)
			r.Read(msg)
			r.Read(dst)
			var got [48]byte
			expandXMD48(&got, msg, dst)
			want := expander.NewExpanderMD(crypto.SHA512, dst).Expand(msg, 48)
			if !bytes.Equal(got[:], want) {
				t.Fatalf("len(msg) = %d, len(dst) = %d: got %x, want %x", ml, dl, got, want)
			}
		}
	}
}
