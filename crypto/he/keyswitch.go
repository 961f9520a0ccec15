package he

import (
	"errors"
	"fmt"
	"math"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

// KeySwitcher makes a party's shares of the collective public key switch
// (lattigo mhe.PublicKeySwitchProtocol) from the collective key to a
// receiver's public key, and combines them. Each share is
//
//	h_i = (s_i·c1 + u_i·pk_R0 + e_0i + E_i,  u_i·pk_R1 + e_1i)
//
// where E_i is smudging noise of standard deviation 2^logSmudge added by a
// Smudger (lattigo's own flooding sampler is exact only below the smallest
// prime). The receiver decrypts c0 + Σh_0i + s_R·Σh_1i = m + e_ct + Σ E_i +
// small: Σ E_i hides e_ct, the part of the decryption noise that depends on
// the collective secret.
//
// For presets without key-switching primes (P) and ciphertexts in the NTT
// domain (all of the score job's), Share computes h_i itself with the
// package's sampler and crypto/kernel, exactly as lattigo's GenShare but
// for its extra Gaussian of σ = 3.2 in h_0i, which E_i (σ ≥ 2^20 here)
// makes redundant. Otherwise (or with SetLattigoPath) it calls GenShare
// and adds E_i.
//
// A KeySwitcher is not safe for concurrent use; ShallowCopy makes another.
type KeySwitcher struct {
	params    rlwe.Parameters
	pcks      mhe.PublicKeySwitchProtocol
	smudge    *Smudger
	logSmudge int
	smp       *sampler
	u, e0, e1 ring.Poly
	noise     []int64 // e_0i + E_i in the coefficient domain
}

// NewKeySwitcher returns a key switcher for the preset with smudging
// noise of standard deviation 2^logSmudge.
func NewKeySwitcher(p *Preset, logSmudge int) (*KeySwitcher, error) {
	params, err := p.Params()
	if err != nil {
		return nil, err
	}
	rp := *params.GetRLWEParameters()
	pcks, err := mhe.NewPublicKeySwitchProtocol(rp, rp.Xe())
	if err != nil {
		return nil, fmt.Errorf("he: key switch: %w", err)
	}
	return newKeySwitcher(rp, pcks, logSmudge)
}

func newKeySwitcher(rp rlwe.Parameters, pcks mhe.PublicKeySwitchProtocol, logSmudge int) (*KeySwitcher, error) {
	sm, err := NewSmudger(rp.RingQ(), logSmudge)
	if err != nil {
		return nil, err
	}
	smp, err := newSampler(rp.N())
	if err != nil {
		return nil, err
	}
	rq := rp.RingQ()
	return &KeySwitcher{params: rp, pcks: pcks, smudge: sm, logSmudge: logSmudge, smp: smp,
		u: rq.NewPoly(), e0: rq.NewPoly(), e1: rq.NewPoly(), noise: make([]int64, rp.N())}, nil
}

// ShallowCopy returns a key switcher for another goroutine.
func (k *KeySwitcher) ShallowCopy() *KeySwitcher {
	c, err := newKeySwitcher(k.params, k.pcks.ShallowCopy(), k.logSmudge)
	if err != nil { // the parameters were accepted once
		panic(err)
	}
	return c
}

// Share returns this party's share of switching ct (only its c1 is read)
// from the collective key to pkR, made with the party's key-switch key sk.
func (k *KeySwitcher) Share(sk *rlwe.SecretKey, pkR *rlwe.PublicKey, ct *rlwe.Ciphertext) *mhe.PublicKeySwitchShare {
	level := min(ct.Level(), ct.Value[1].Level())
	sh := k.pcks.AllocateShare(level)
	if k.viaLattigo(ct) {
		k.pcks.GenShare(sk, pkR, ct, &sh)
		k.smudge.addPoly(level, sh.Value[0], ct.IsNTT)
		return &sh
	}
	subs := k.params.RingQ().SubRings[:level+1]
	moduli := k.params.RingQ().ModuliChain()[:level+1]
	k.smp.ternaryPoly(moduli, k.u)
	k.smp.gaussian(k.noise)
	k.smudge.add(k.noise)
	setSigned(subs, k.noise, k.e0)
	k.smp.gaussianPoly(moduli, k.e1)
	k.shareWith(sk, pkR, ct.Value[1], k.u, k.e0, k.e1, &sh)
	return &sh
}

// viaLattigo reports whether Share calls lattigo's GenShare for ct.
func (k *KeySwitcher) viaLattigo(ct *rlwe.Ciphertext) bool {
	return k.params.PCount() != 0 || !ct.IsNTT || LattigoPath()
}

// shareWith sets sh (at its level) to the share of c1 with the given u, e0
// (which includes the smudging noise) and e1 in the coefficient domain,
// which it overwrites with their NTT. sk and pkR are in lattigo's NTT and
// Montgomery form, c1 in the NTT domain.
func (k *KeySwitcher) shareWith(sk *rlwe.SecretKey, pkR *rlwe.PublicKey, c1, u, e0, e1 ring.Poly, sh *mhe.PublicKeySwitchShare) {
	h0, h1 := sh.Value[0], sh.Value[1]
	pk0, pk1, s := pkR.Value[0].Q, pkR.Value[1].Q, sk.Value.Q
	subs := k.params.RingQ().SubRings[:sh.Level()+1]
	forEachLimb(len(subs), func(i int) {
		sub := subs[i]
		nttLimb(sub, u.Coeffs[i])
		nttLimb(sub, e0.Coeffs[i])
		nttLimb(sub, e1.Coeffs[i])
		kernel.MulCoeffsMontgomery(sub, u.Coeffs[i], pk0.Coeffs[i], h0.Coeffs[i])
		kernel.MulCoeffsMontgomeryThenAdd(sub, c1.Coeffs[i], s.Coeffs[i], h0.Coeffs[i])
		kernel.Add(sub, h0.Coeffs[i], e0.Coeffs[i], h0.Coeffs[i])
		kernel.MulCoeffsMontgomery(sub, u.Coeffs[i], pk1.Coeffs[i], h1.Coeffs[i])
		kernel.Add(sub, h1.Coeffs[i], e1.Coeffs[i], h1.Coeffs[i])
	})
}

// Aggregate adds share into acc.
func (k *KeySwitcher) Aggregate(acc, share *mhe.PublicKeySwitchShare) error {
	if err := sameLevel(acc.Level(), share); err != nil {
		return err
	}
	if err := sameLevel(acc.Level(), acc); err != nil {
		return err
	}
	addShare(k.params.RingQ().SubRings, acc, share)
	return nil
}

// addShare adds share into acc, both at acc's level.
func addShare(subs []*ring.SubRing, acc, share *mhe.PublicKeySwitchShare) {
	for i, s := range subs[:acc.Level()+1] {
		for v := range 2 {
			kernel.Add(s, acc.Value[v].Coeffs[i], share.Value[v].Coeffs[i], acc.Value[v].Coeffs[i])
		}
	}
}

// sameLevel checks that both parts of sh are at level.
func sameLevel(level int, sh *mhe.PublicKeySwitchShare) error {
	if len(sh.Value) != 2 || sh.Value[0].Level() != level || sh.Value[1].Level() != level {
		return fmt.Errorf("he: key-switch share not of two parts at level %d", level)
	}
	return nil
}

// Switch applies the combined shares to ct: the result is encrypted under
// the receiver's key.
func (k *KeySwitcher) Switch(ct *rlwe.Ciphertext, combined *mhe.PublicKeySwitchShare) (*rlwe.Ciphertext, error) {
	if err := sameLevel(ct.Level(), combined); err != nil {
		return nil, fmt.Errorf("he: ciphertext at level %d: %w", ct.Level(), err)
	}
	out := rlwe.NewCiphertext(k.params, 1, ct.Level())
	*out.MetaData = *ct.MetaData
	for i, s := range k.params.RingQ().SubRings[:ct.Level()+1] {
		kernel.Add(s, ct.Value[0].Coeffs[i], combined.Value[0].Coeffs[i], out.Value[0].Coeffs[i])
		copy(out.Value[1].Coeffs[i], combined.Value[1].Coeffs[i])
	}
	return out, nil
}

// ReceiverKey is a key pair a receiver holds for the results of one job,
// separate from its share of the collective secret. Its public key is
// seeded: p1 comes from a 32-byte seed the receiver sends with p0.
type ReceiverKey struct {
	Preset *Preset
	Secret *rlwe.SecretKey
	Public *rlwe.PublicKey
	Seed   [32]byte
}

// NewReceiverKey draws a fresh result key pair.
func NewReceiverKey(p *Preset, seed [32]byte) (*ReceiverKey, error) {
	params, err := p.Params()
	if err != nil {
		return nil, err
	}
	sk := rlwe.NewKeyGenerator(params).GenSecretKeyNew()
	ckg := mhe.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(CRS(seed, "result"))
	sh := ckg.AllocateShare()
	ckg.GenShare(sk, crp, &sh)
	pk := rlwe.NewPublicKey(params)
	ckg.GenPublicKey(sh, crp, pk)
	return &ReceiverKey{Preset: p, Secret: sk, Public: pk, Seed: seed}, nil
}

// MarshalPublic encodes the public key seeded: the seed, then p0.
func (r *ReceiverKey) MarshalPublic() ([]byte, error) {
	codec, err := NewCodec(r.Preset)
	if err != nil {
		return nil, err
	}
	sh := mhe.PublicKeyGenShare{Value: r.Public.Value[0]}
	p0, err := codec.Marshal(&sh)
	if err != nil {
		return nil, err
	}
	return append(r.Seed[:], p0...), nil
}

// UnmarshalReceiverPublic decodes a receiver's seeded public key.
func (c *Codec) UnmarshalReceiverPublic(b []byte) (*rlwe.PublicKey, error) {
	if len(b) < 32 {
		return nil, errors.New("he: receiver public key: too short")
	}
	var seed [32]byte
	copy(seed[:], b)
	sh, err := c.UnmarshalPublicKeyShare(b[32:])
	if err != nil {
		return nil, fmt.Errorf("he: receiver public key: %w", err)
	}
	ckg := mhe.NewPublicKeyGenProtocol(c.params)
	crp := ckg.SampleCRP(CRS(seed, "result"))
	pk := rlwe.NewPublicKey(c.params)
	ckg.GenPublicKey(*sh, crp, pk)
	return pk, nil
}

// Erase overwrites the secret key.
func (r *ReceiverKey) Erase() {
	if r != nil && r.Secret != nil {
		for _, row := range r.Secret.Value.Q.Coeffs {
			clear(row)
		}
		for _, row := range r.Secret.Value.P.Coeffs {
			clear(row)
		}
	}
}

// Decryptor decrypts results under a receiver key.
type Decryptor struct {
	params hefloat.Parameters
	eval   *hefloat.Evaluator
	dec    *rlwe.Decryptor
	enc    *Encoder
	sk     *rlwe.SecretKey
	m      ring.Poly // c0 + c1·s, reused
}

// NewDecryptor returns a decryptor for a receiver's secret key.
func NewDecryptor(p *Preset, sk *rlwe.SecretKey) (*Decryptor, error) {
	params, err := p.Params()
	if err != nil {
		return nil, err
	}
	enc, err := NewEncoder(p)
	if err != nil {
		return nil, err
	}
	return &Decryptor{params: params, eval: hefloat.NewEvaluator(params, nil), dec: rlwe.NewDecryptor(params, sk), enc: enc,
		sk: sk, m: params.RingQ().NewPoly()}, nil
}

// ShallowCopy returns a decryptor for another goroutine.
func (d *Decryptor) ShallowCopy() *Decryptor {
	return &Decryptor{params: d.params, eval: d.eval.ShallowCopy(), dec: d.dec.ShallowCopy(), enc: d.enc.ShallowCopy(),
		sk: d.sk, m: d.params.RingQ().NewPoly()}
}

// minDecodeLogScale is the smallest scale Decrypt rescales down to.
const minDecodeLogScale = 30

// Decrypt decrypts ct into out. A ciphertext at a level whose moduli
// product fits 128 bits (every affine result) is decoded at that level by
// Encoder.Decode's 128-bit words: less CPU than a rescale to level 0 and
// the 64-bit path, and without the rescale's rounding (which added about
// 1.8e-6 to affine-ci14's error std of 2.3e-6, in quadrature). Above that,
// ct is first rescaled (in place) down to such a level, or as far as the
// scale stays at least 2^30.
func (d *Decryptor) Decrypt(ct *rlwe.Ciphertext, out []float64) error {
	for ct.Level() > 0 && d.enc.crt[ct.Level()] == nil && logScale(ct.Scale)-log2(d.params.Q()[ct.Level()]) >= minDecodeLogScale {
		if err := d.eval.Rescale(ct, ct); err != nil {
			return fmt.Errorf("he: rescale: %w", err)
		}
	}
	return d.enc.Decode(d.decrypt(ct), out)
}

// decrypt returns the plaintext of ct. For a ciphertext of degree 1 in the
// NTT domain (every result of this package) it computes c0 + c1·s itself
// with crypto/kernel, into a buffer the Decryptor reuses: lattigo's
// decryption word for word (s is in NTT and Montgomery form), without its
// allocation. The plaintext is valid until the next call.
func (d *Decryptor) decrypt(ct *rlwe.Ciphertext) *rlwe.Plaintext {
	if ct.Degree() != 1 || !ct.IsNTT {
		return d.dec.DecryptNew(ct)
	}
	level := ct.Level()
	m := ring.Poly{Coeffs: d.m.Coeffs[:level+1]}
	s := d.sk.Value.Q
	for i, sub := range d.params.RingQ().SubRings[:level+1] {
		copy(m.Coeffs[i], ct.Value[0].Coeffs[i])
		kernel.MulCoeffsMontgomeryThenAdd(sub, ct.Value[1].Coeffs[i], s.Coeffs[i], m.Coeffs[i])
	}
	return &rlwe.Plaintext{Element: rlwe.Element[ring.Poly]{Value: []ring.Poly{m}, MetaData: ct.MetaData}, Value: m}
}

// NoiseBudget is the expected error of a value that went through the affine
// circuit of a preset with k parties: every party's smudging noise (the
// only term that matters; encryption noise is 2^30 times smaller, the
// rescale's rounding about 2^8 times) spread over the slots.
type NoiseBudget struct {
	// Std is the standard deviation of the decoded error:
	// 2^LogSmudge·sqrt(2N·k)/2^AffineLogScale.
	Std float64
	// Bound is 40 standard deviations: the probability that a Gaussian error
	// exceeds it is below 2^-1150 per value.
	Bound float64
	// SmudgeRatio is log2 of σ_smudge over the standard deviation of the
	// ciphertext noise it hides (the sum of k fresh encryptions, about
	// 2^10.2·sqrt(k) per coefficient at N = 2^14; 2^9.2 at N = 2^12, measured
	// by TestFreshNoise).
	SmudgeRatio float64
}

// AffineNoise returns the noise budget of the affine circuit for k parties.
func (p *Preset) AffineNoise(k int) NoiseBudget {
	n := float64(p.Slots())
	std := math.Exp2(float64(p.LogSmudge)) * math.Sqrt(2*n*float64(k)) / math.Exp2(float64(p.AffineLogScale))
	fresh := math.Exp2(freshLogStd(p.LogN)) * math.Sqrt(float64(k))
	return NoiseBudget{Std: std, Bound: 40 * std, SmudgeRatio: float64(p.LogSmudge) - math.Log2(fresh)}
}

// freshLogStd is log2 of the standard deviation of one public-key
// encryption's noise per coefficient (TestFreshNoise checks it).
func freshLogStd(logN int) float64 { return 10.2 - float64(14-logN)/2 }
