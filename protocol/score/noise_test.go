package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"

	"github.com/mitai-dev/mitai/crypto/he"
)

// coeffStd converts the standard deviation of a decoded error to that of
// the coefficients that carry it (slot error ≈ coefficient error ·
// sqrt(2N) / scale on the conjugate-invariant ring; crypto/he's tests
// check the factor).
func coeffStd(slotStd float64, logScale float64, n int) float64 {
	return slotStd * math.Exp2(logScale) / math.Sqrt(2*float64(n))
}

func stdDiff(a, b []float64) float64 {
	var ss float64
	for i := range a {
		d := a[i] - b[i]
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(a)))
}

// TestNoiseMargins measures the ciphertext noise that the smudging of the
// band lookup and of the encrypted probability must hide, and checks the
// margins the package documentation states (log2 of σ_smudge over the
// noise's standard deviation per coefficient).
func TestNoiseMargins(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("arithmetic only (sigmoid-ci14 keys, 2^14-slot blocks); skipped in -short and under -race")
	}
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))

	// The band lookup, as the partner computes it, before re-randomising.
	for _, p := range []*he.Preset{he.AffineCI14, he.Affine30CI14} {
		params := p.MustParams()
		rk, err := he.NewReceiverKey(p, [32]byte{1})
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := he.NewEncoder(p)
		encr := rlwe.NewEncryptor(params, rk.Public)
		rq := params.RingQ().AtLevel(p.AffineLevel)
		n := p.Slots()
		const levels = 64
		q := make([]int, n)
		for i := range q {
			q[i] = r.IntN(levels)
		}
		want := make([]float64, n)
		acc := rlwe.NewCiphertext(params, 1, p.AffineLevel)
		codec, _ := he.NewCodec(p)
		*acc.MetaData = codec.Meta(he.Scale(LogTableScale + LogMaskScale))
		for v := range levels {
			vals := make([]float64, n)
			mask := make([]float64, n)
			for i := range vals {
				vals[i] = float64(r.IntN(15) - 7)
				if q[i] == v {
					mask[i] = 1
					want[i] = vals[i]
				}
			}
			pt, _ := enc.Encode(vals, p.AffineLevel, LogTableScale)
			ct, _ := encr.EncryptNew(pt)
			m, _ := enc.Encode(mask, p.AffineLevel, LogMaskScale)
			rq.MForm(m.Value, m.Value)
			rq.MulCoeffsMontgomeryThenAdd(ct.Value[0], m.Value, acc.Value[0])
			rq.MulCoeffsMontgomeryThenAdd(ct.Value[1], m.Value, acc.Value[1])
		}
		got := make([]float64, n)
		pt := rlwe.NewDecryptor(params, rk.Secret).DecryptNew(acc)
		if err := enc.Decode(pt, got); err != nil {
			t.Fatal(err)
		}
		// Everything but the selected entry, in the slots: the masks'
		// rounding and the table noise they carry.
		dev := stdDiff(got, want)
		margin := LogBandNoise - math.Log2(dev)
		t.Logf("%s band lookup: mask-dependent error std 2^%.1f per slot, slot noise 2^%d: margin 2^%.1f", p.Name, math.Log2(dev), LogBandNoise, margin)
		if margin < 24 {
			t.Errorf("band lookup noise margin 2^%.1f, documented ≥ 2^24", margin)
		}
	}

	// The affine sum: what the smudging of the exact release hides is the
	// sum of three fresh encryptions' noise and encoding roundings.
	for _, preset := range []string{"affine-ci14", "affine30-ci14"} {
		names := []string{"bank", "bureau", "telco"}
		ks := keys(t, preset, names, 0)
		set := ks["bank"].KeySet
		p := set.Preset
		params := p.MustParams()
		sk := rlwe.NewSecretKey(params)
		for _, n := range names {
			params.RingQP().Add(sk.Value, ks[n].Secret.Secret.Value, sk.Value)
		}
		enc, _ := he.NewEncoder(p)
		encr := rlwe.NewEncryptor(params, set.PublicKey)
		n := p.Slots()
		want := make([]float64, n)
		var sum *rlwe.Ciphertext
		for range names {
			x := make([]float64, n)
			for i := range x {
				x[i] = r.NormFloat64() * 2
				want[i] += x[i]
			}
			pt, _ := enc.Encode(x, p.AffineLevel, p.AffineLogScale)
			ct, _ := encr.EncryptNew(pt)
			if sum == nil {
				sum = ct
			} else {
				rq := params.RingQ().AtLevel(ct.Level())
				rq.Add(sum.Value[0], ct.Value[0], sum.Value[0])
				rq.Add(sum.Value[1], ct.Value[1], sum.Value[1])
			}
		}
		got := make([]float64, n)
		if err := enc.Decode(rlwe.NewDecryptor(params, sk).DecryptNew(sum), got); err != nil {
			t.Fatal(err)
		}
		dev := stdDiff(got, want)
		noise := coeffStd(dev, float64(p.AffineLogScale), n)
		margin := float64(p.LogSmudge) - math.Log2(noise)
		t.Logf("%s affine sum of 3: error before the key switch std %.3g (2^%.1f per coefficient), smudging 2^%d per party: margin 2^%.1f",
			p.Name, dev, math.Log2(noise), p.LogSmudge, margin)
		// The encryption noise alone is 2^11 (crypto/he TestFreshNoise); the
		// rest is float64 rounding of the encoded values (2^-53 relative).
		if margin < 28 {
			t.Errorf("exact release smudging margin 2^%.1f, documented ≥ 2^28", margin)
		}
	}

	// The encrypted probability: the polynomial on a sum of three fresh
	// encryptions, decrypted with the collective secret.
	{
		names := []string{"bank", "bureau", "telco"}
		ks := keys(t, "sigmoid-ci14", names, 0)
		set := ks["bank"].KeySet
		params := set.Preset.MustParams()
		sk := rlwe.NewSecretKey(params)
		for _, n := range names {
			params.RingQP().Add(sk.Value, ks[n].Secret.Secret.Value, sk.Value)
		}
		enc, _ := he.NewEncoder(set.Preset)
		encr := rlwe.NewEncryptor(params, set.PublicKey)
		n := set.Preset.Slots()
		z := make([]float64, n)
		var sum *rlwe.Ciphertext
		for range names {
			x := make([]float64, n)
			for i := range x {
				x[i] = (r.Float64()*2 - 1) * 8 / 3 / SigmoidInterval
				z[i] += x[i] * SigmoidInterval
			}
			pt, _ := enc.Encode(x, params.MaxLevel(), set.Preset.LogScale)
			ct, _ := encr.EncryptNew(pt)
			if sum == nil {
				sum = ct
			} else {
				rq := params.RingQ().AtLevel(ct.Level())
				rq.Add(sum.Value[0], ct.Value[0], sum.Value[0])
				rq.Add(sum.Value[1], ct.Value[1], sum.Value[1])
			}
		}
		eval := hefloat.NewEvaluator(params, rlwe.NewMemEvaluationKeySet(set.RelinKey))
		out, err := hefloat.NewPolynomialEvaluator(params, eval).Evaluate(sum, sigmoidPoly(), params.DefaultScale())
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, n)
		if err := enc.Decode(rlwe.NewDecryptor(params, sk).DecryptNew(out), got); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, n)
		for i := range z {
			want[i] = SigmoidApprox(z[i])
		}
		logScale := math.Log2(out.Scale.Float64())
		noise := coeffStd(stdDiff(got, want), logScale, n)
		margin := LogSmudgeProbability - math.Log2(noise)
		t.Logf("encrypted sigmoid: output at level %d, scale 2^%.2f; evaluation noise 2^%.1f per coefficient (decoded std %.3g), smudging 2^%d: margin 2^%.1f",
			out.Level(), logScale, math.Log2(noise), stdDiff(got, want), LogSmudgeProbability, margin)
		if margin < 4 {
			t.Errorf("encrypted sigmoid smudging margin 2^%.1f, documented ≥ 2^4", margin)
		}
	}
}
