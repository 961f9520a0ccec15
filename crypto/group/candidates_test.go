package group

import (
	"crypto/rand"
	"testing"

	"filippo.io/edwards25519"
	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/ecc/fourq"
	cg "github.com/cloudflare/circl/group"
)

// BenchmarkCandidateScalarMult times one variable-base scalar
// multiplication in each library considered for the default group, without
// hashing, encoding or validation: the cost floor each group could reach.
// x25519 was chosen (see the package doc); FourQ has no standard
// hash-to-curve, and edwards25519 alone is not a prime-order group
// (ristretto255 is built on it).
func BenchmarkCandidateScalarMult(b *testing.B) {
	var k [32]byte
	_, _ = rand.Read(k[:])
	b.Run("circl-x25519-ladder", func(b *testing.B) {
		var secret, pub, out x25519.Key
		copy(secret[:], k[:])
		x25519.KeyGen(&pub, &secret)
		for b.Loop() {
			x25519.Shared(&out, &secret, &pub)
		}
	})
	b.Run("circl-fourq", func(b *testing.B) {
		var p fourq.Point
		p.SetGenerator()
		for b.Loop() {
			p.ScalarMult(&k, &p)
		}
	})
	b.Run("filippo-edwards25519", func(b *testing.B) {
		var wide [64]byte
		copy(wide[:], k[:])
		s, _ := edwards25519.NewScalar().SetUniformBytes(wide[:])
		p := edwards25519.NewGeneratorPoint()
		for b.Loop() {
			p.ScalarMult(s, p)
		}
	})
	for name, g := range map[string]cg.Group{"circl-ristretto255": cg.Ristretto255, "circl-p256": cg.P256} {
		b.Run(name, func(b *testing.B) {
			s := g.RandomScalar(rand.Reader)
			e := g.HashToElement([]byte("x"), []byte("d"))
			for b.Loop() {
				e.Mul(e, s)
			}
		})
	}
}
