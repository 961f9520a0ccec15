package he

import (
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

// nttLimb replaces p, one limb in the coefficient domain with values in
// [0, 2q), by its NTT on s, in [0, q): crypto/kernel's, equal to
// s.NTT word for word (for the presets' conjugate-invariant ring too). Every
// NTT of the package's hot paths goes through it.
func nttLimb(s *ring.SubRing, p []uint64) { kernel.NTT(s, p, p) }

// inttLimb is the inverse of nttLimb: values in [0, 2q) in, [0, q) out.
func inttLimb(s *ring.SubRing, p1, p2 []uint64) { kernel.INTT(s, p1, p2) }

// Encryptor encrypts plaintexts under a public key, as lattigo's
// rlwe.Encryptor does, with the package's sampler (see stream) and crypto/kernel
// for the pointwise arithmetic. For a preset without key-switching primes
// (P) it computes, in the NTT domain at the plaintext's level,
//
//	ct = (pk0·u + e0 + m, pk1·u + e1)
//
// with u ternary and e0, e1 discrete Gaussian (see sampler), exactly
// lattigo's encryption without P (the products are Montgomery products with
// the key, which lattigo stores in Montgomery form), so lattigo's
// rlwe.Decryptor decrypts the result. For a preset with P (sigmoid-ci14)
// lattigo samples in QP and divides by P, which this code does not do: it
// calls lattigo's rlwe.Encryptor.
//
// An Encryptor is not safe for concurrent use; make one per goroutine.
type Encryptor struct {
	params    rlwe.Parameters
	pk        *rlwe.PublicKey
	smp       *sampler
	u, e0, e1 ring.Poly
	lattigo   *rlwe.Encryptor // presets with P, and SetLattigoPath
}

// NewEncryptor returns an encryptor for the preset under pk, or an error if
// pk is not a public key of the preset's ring.
func NewEncryptor(p *Preset, pk *rlwe.PublicKey) (*Encryptor, error) {
	params, err := p.Params()
	if err != nil {
		return nil, err
	}
	rp := *params.GetRLWEParameters()
	if pk == nil || len(pk.Value) != 2 {
		return nil, errors.New("he: encryptor: no public key")
	}
	for _, v := range pk.Value {
		if v.Q.N() != rp.N() || v.Q.Level() != rp.MaxLevelQ() {
			return nil, fmt.Errorf("he: encryptor: public key of degree %d at level %d, preset %s has %d at level %d",
				v.Q.N(), v.Q.Level(), p.Name, rp.N(), rp.MaxLevelQ())
		}
	}
	if rp.PCount() != 0 {
		return &Encryptor{params: rp, pk: pk, lattigo: rlwe.NewEncryptor(rp, pk)}, nil
	}
	smp, err := newSampler(rp.N())
	if err != nil {
		return nil, err
	}
	rq := rp.RingQ()
	return &Encryptor{params: rp, pk: pk, smp: smp, u: rq.NewPoly(), e0: rq.NewPoly(), e1: rq.NewPoly()}, nil
}

// EncryptNew returns a fresh encryption of pt, at pt's level and with its
// metadata. pt must be in the NTT domain, as the Encoder makes it.
func (e *Encryptor) EncryptNew(pt *rlwe.Plaintext) (*rlwe.Ciphertext, error) {
	if e.viaLattigo() {
		if e.lattigo == nil {
			e.lattigo = rlwe.NewEncryptor(e.params, e.pk)
		}
		return e.lattigo.EncryptNew(pt)
	}
	if !pt.IsNTT {
		return nil, errors.New("he: encrypt: plaintext not in the NTT domain")
	}
	level := pt.Level()
	if level > e.params.MaxLevelQ() {
		return nil, fmt.Errorf("he: encrypt: plaintext at level %d above the preset's %d", level, e.params.MaxLevelQ())
	}
	ct := rlwe.NewCiphertext(e.params, 1, level)
	*ct.MetaData = *pt.MetaData
	moduli := e.params.RingQ().ModuliChain()[:level+1]
	e.smp.ternaryPoly(moduli, e.u)
	e.smp.gaussianPoly(moduli, e.e0)
	e.smp.gaussianPoly(moduli, e.e1)
	e.encryptWith(pt.Value, e.u, e.e0, e.e1, ct)
	return ct, nil
}

// viaLattigo reports whether EncryptNew calls lattigo's encryptor: for
// presets with P (no sampler of ours), and under SetLattigoPath.
func (e *Encryptor) viaLattigo() bool { return e.smp == nil || LattigoPath() }

// encryptWith sets ct (at its level) to the encryption of m with the
// given u, e0 and e1 in the coefficient domain, which it overwrites with
// their NTT.
func (e *Encryptor) encryptWith(m, u, e0, e1 ring.Poly, ct *rlwe.Ciphertext) {
	pk0, pk1 := e.pk.Value[0].Q, e.pk.Value[1].Q
	c0, c1 := ct.Value[0], ct.Value[1]
	subs := e.params.RingQ().SubRings[:ct.Level()+1]
	forEachLimb(len(subs), func(i int) {
		s := subs[i]
		nttLimb(s, u.Coeffs[i])
		nttLimb(s, e0.Coeffs[i])
		nttLimb(s, e1.Coeffs[i])
		kernel.MulCoeffsMontgomery(s, u.Coeffs[i], pk0.Coeffs[i], c0.Coeffs[i])
		kernel.Add(s, c0.Coeffs[i], e0.Coeffs[i], c0.Coeffs[i])
		kernel.Add(s, c0.Coeffs[i], m.Coeffs[i], c0.Coeffs[i])
		kernel.MulCoeffsMontgomery(s, u.Coeffs[i], pk1.Coeffs[i], c1.Coeffs[i])
		kernel.Add(s, c1.Coeffs[i], e1.Coeffs[i], c1.Coeffs[i])
	})
}
