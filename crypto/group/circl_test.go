package group

import (
	"bufio"
	"bytes"
	"crypto/elliptic"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// scalarFromBytes makes a primeScalar from its canonical encoding.
func scalarFromBytes(t *testing.T, g *primeGroup, b []byte) Scalar {
	t.Helper()
	s := g.g.NewScalar()
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatalf("%s: scalar %x: %v", g.name, b, err)
	}
	return &primeScalar{g: g, s: s}
}

// TestRFC9497Vectors checks HashToElement and Mul of ristretto255 and P-256
// against the OPRF-mode vectors of RFC 9497: BlindedElement =
// Blind·HashToGroup(Input), EvaluationElement = skSm·BlindedElement.
func TestRFC9497Vectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/rfc9497_oprf_mode.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Suites []struct {
			Identifier string `json:"identifier"`
			DST        string `json:"hashToGroupDST"`
			SkSm       string `json:"skSm"`
			Vectors    []struct {
				Input, Blind, BlindedElement, EvaluationElement string
			} `json:"vectors"`
		} `json:"suites"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	groupOf := map[string]*primeGroup{"ristretto255-SHA512": ristretto255, "P256-SHA256": p256}
	checked := 0
	for _, suite := range file.Suites {
		g := groupOf[suite.Identifier]
		if g == nil {
			t.Fatalf("unknown suite %q", suite.Identifier)
		}
		sk := scalarFromBytes(t, g, mustHex(t, suite.SkSm))
		for _, v := range suite.Vectors {
			h := make([]byte, g.size)
			g.HashToElement(h, mustHex(t, v.Input), mustHex(t, suite.DST))
			blind := scalarFromBytes(t, g, mustHex(t, v.Blind))
			if got := mustMul(t, blind, h); !bytes.Equal(got, mustHex(t, v.BlindedElement)) {
				t.Errorf("%s, input %s: blinded element %x, want %s", suite.Identifier, v.Input, got, v.BlindedElement)
			}
			if got := mustMul(t, sk, mustHex(t, v.BlindedElement)); !bytes.Equal(got, mustHex(t, v.EvaluationElement)) {
				t.Errorf("%s, input %s: evaluated element %x, want %s", suite.Identifier, v.Input, got, v.EvaluationElement)
			}
			checked++
		}
	}
	if checked != 4 {
		t.Errorf("checked %d vectors, want 4", checked)
	}
}

// TestP256RFC9380Vectors checks HashToElement against RFC 9380 appendix
// J.1.1, P256_XMD:SHA-256_SSWU_RO_.
func TestP256RFC9380Vectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/rfc9380_P256_XMD-SHA-256_SSWU_RO_.json")
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		DST     string `json:"dst"`
		Vectors []struct {
			Msg string `json:"msg"`
			PX  string `json:"P.x"`
			PY  string `json:"P.y"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &suite); err != nil {
		t.Fatal(err)
	}
	if len(suite.Vectors) != 5 {
		t.Fatalf("%d vectors, want 5", len(suite.Vectors))
	}
	for _, v := range suite.Vectors {
		x, _ := new(big.Int).SetString(v.PX, 16)
		y, _ := new(big.Int).SetString(v.PY, 16)
		want := elliptic.MarshalCompressed(elliptic.P256(), x, y)
		got := make([]byte, 33)
		p256.HashToElement(got, []byte(v.Msg), []byte(suite.DST))
		if !bytes.Equal(got, want) {
			t.Errorf("msg %.10q: got %x, want %x", v.Msg, got, want)
		}
	}
}

// TestRistretto255Validate runs the invalid encodings of RFC 9496 and the
// identity through Validate and Mul.
func TestRistretto255Validate(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/rfc9496_ristretto255_invalid.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := mustScalar(t, ristretto255, testRand(20))
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		checkRejected(t, ristretto255, s, mustHex(t, line), "not a canonical ristretto255 encoding")
		n++
	}
	if n != 29 {
		t.Errorf("read %d invalid encodings, want 29", n)
	}
	checkRejected(t, ristretto255, s, make([]byte, 32), "identity")
	// A valid encoding with the top bit set is non-canonical.
	b := hash(ristretto255, "x")
	b[31] |= 0x80
	checkRejected(t, ristretto255, s, b, "not a canonical")
}

func TestP256Validate(t *testing.T) {
	t.Parallel()
	s := mustScalar(t, p256, testRand(21))
	valid := hash(p256, "valid")
	curve := elliptic.P256()
	params := curve.Params()
	x, y := elliptic.UnmarshalCompressed(curve, valid)
	if x == nil {
		t.Fatal("cannot decompress a hash output")
	}
	uncompressed := elliptic.Marshal(curve, x, y) //nolint:staticcheck // building a test input
	compressedAs := func(prefix byte, x *big.Int) []byte {
		b := make([]byte, 33)
		b[0] = prefix
		x.FillBytes(b[1:])
		return b
	}
	// An x with no point: x^3 - 3x + b is not a square.
	offCurve := big.NewInt(1)
	for ; ; offCurve.Add(offCurve, big.NewInt(1)) {
		rhs := new(big.Int).Exp(offCurve, big.NewInt(3), params.P)
		rhs.Sub(rhs, new(big.Int).Mul(big.NewInt(3), offCurve)).Add(rhs, params.B).Mod(rhs, params.P)
		if big.Jacobi(rhs, params.P) == -1 {
			break
		}
	}
	xPlusP := new(big.Int).Add(x, params.P)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"uncompressed", uncompressed, "bytes, want 33"},
		{"prefix 04, 33 bytes", compressedAs(0x04, x), "compressed SEC1"},
		{"prefix 00", compressedAs(0x00, x), "compressed SEC1"},
		{"all zero", make([]byte, 33), "compressed SEC1"},
		{"identity encoding", []byte{0}, "bytes, want 33"},
		{"x = p", compressedAs(0x02, params.P), "not a point"},
		{"x off curve", compressedAs(0x03, offCurve), "not a point"},
	}
	if xPlusP.BitLen() <= 256 {
		cases = append(cases, struct {
			name string
			b    []byte
			want string
		}{"x + p", compressedAs(valid[0], xPlusP), "not a point"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkRejected(t, p256, s, c.b, c.want)
		})
	}
	// The other y of a valid x is valid too.
	other := bytes.Clone(valid)
	other[0] ^= 1
	if err := p256.Validate(other); err != nil {
		t.Errorf("Validate(-P) = %v", err)
	}
}
