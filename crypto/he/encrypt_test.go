package he

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestSamplerDistributions checks the sampler against the presets'
// distributions: lattigo's rlwe.DefaultXs and DefaultXe are what it
// implements, and 2^20 samples of each, from either stream, have the right
// frequencies, mean, variance and support.
func TestSamplerDistributions(t *testing.T) {
	t.Parallel()
	if rlwe.DefaultXs != (ring.Ternary{P: 2 / 3.0}) {
		t.Fatalf("lattigo's DefaultXs is %+v, the sampler draws ternary with P = 2/3", rlwe.DefaultXs)
	}
	if rlwe.DefaultXe != (ring.DiscreteGaussian{Sigma: gaussSigma, Bound: rlwe.DefaultNoiseBound}) || int(math.Floor(rlwe.DefaultNoiseBound)) != gaussBound {
		t.Fatalf("lattigo's DefaultXe is %+v, the sampler draws σ = %v, |x| ≤ %d", rlwe.DefaultXe, gaussSigma, gaussBound)
	}
	// The table's probabilities, to the precision its doc comment states.
	var norm float64
	for k := -gaussBound; k <= gaussBound; k++ {
		norm += math.Exp(-float64(k*k) / (2 * gaussSigma * gaussSigma))
	}
	prev := uint64(0)
	for k := 0; k <= gaussBound; k++ {
		next := uint64(1 << 63)
		if k < gaussBound {
			next = gaussCDT[k]
		}
		got := math.Ldexp(float64(next-prev), -63)
		want := math.Exp(-float64(k*k)/(2*gaussSigma*gaussSigma)) / norm
		if k > 0 {
			want *= 2
		}
		if math.Abs(got-want) > want*math.Exp2(-35) {
			t.Errorf("P(|X| = %d) = %g in the table, want %g", k, got, want)
		}
		prev = next
	}
	for _, aes := range []bool{true, false} {
		s, err := newSampler(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		if s.rng, err = newStream(aes); err != nil {
			t.Fatal(err)
		}
		t.Run(s.rng.name, func(t *testing.T) { checkSampler(t, s) })
	}
}

// checkSampler: 2^20 samples of each distribution have the right
// frequencies, mean, variance and support.
func checkSampler(t *testing.T, s *sampler) {
	const n = 1 << 20
	x := make([]int64, n)

	s.ternary(x)
	var counts [3]int
	for _, v := range x {
		if v < -1 || v > 1 {
			t.Fatalf("ternary sample %d", v)
		}
		counts[v+1]++
	}
	for v, c := range counts { // 6 standard deviations: sqrt(2/9/n)
		if f := float64(c) / n; math.Abs(f-1/3.0) > 6*math.Sqrt(2/9.0/n) {
			t.Errorf("ternary: P(%d) = %.5f, want 1/3", v-1, f)
		}
	}

	s.gaussian(x)
	// The exact probabilities, for the frequencies and the variance.
	var prob [2*gaussBound + 1]float64
	total := 0.0
	for i := range prob {
		v := float64(i - gaussBound)
		prob[i] = math.Exp(-v * v / (2 * gaussSigma * gaussSigma))
		total += prob[i]
	}
	variance := 0.0
	for i := range prob {
		prob[i] /= total
		variance += prob[i] * float64((i-gaussBound)*(i-gaussBound))
	}
	var freq [2*gaussBound + 1]int
	var sum, ss float64
	for _, v := range x {
		if v < -gaussBound || v > gaussBound {
			t.Fatalf("Gaussian sample %d beyond ±%d", v, gaussBound)
		}
		freq[v+gaussBound]++
		sum += float64(v)
		ss += float64(v * v)
	}
	mean, vr := sum/n, ss/n-(sum/n)*(sum/n)
	t.Logf("Gaussian: mean %.4f, variance %.4f (exact %.4f, σ² = %.4f)", mean, vr, variance, gaussSigma*gaussSigma)
	if math.Abs(mean) > 6*gaussSigma/math.Sqrt(n) {
		t.Errorf("Gaussian mean %g", mean)
	}
	if math.Abs(vr-variance) > 6*math.Sqrt(2)*variance/math.Sqrt(n) || math.Abs(variance-gaussSigma*gaussSigma) > 1e-6 {
		t.Errorf("Gaussian variance %g, want %g", vr, variance)
	}
	for i, c := range freq {
		if p := prob[i]; math.Abs(float64(c)/n-p) > 6*math.Sqrt(p*(1-p)/n)+1e-6 {
			t.Errorf("Gaussian: P(%d) = %.6f, want %.6f", i-gaussBound, float64(c)/n, p)
		}
	}

	// Polynomials: the same small integer in every limb.
	rq := AffineCI12.MustParams().RingQ()
	p := rq.NewPoly()
	for name, fill := range map[string]func([]uint64, ring.Poly){"ternary": s.ternaryPoly, "gaussian": s.gaussianPoly} {
		fill(rq.ModuliChain(), p)
		for j := range rq.N() {
			a, b := centered(p.Coeffs[0][j], rq.ModuliChain()[0]), centered(p.Coeffs[1][j], rq.ModuliChain()[1])
			if a != b || a < -gaussBound || a > gaussBound || p.Coeffs[0][j] >= rq.ModuliChain()[0] {
				t.Fatalf("%s coefficient %d: %d mod q0, %d mod q1", name, j, p.Coeffs[0][j], p.Coeffs[1][j])
			}
		}
	}
}

// TestSetSigned: the residues of signed values, zero and the extremes
// included, are canonical and consistent.
func TestSetSigned(t *testing.T) {
	t.Parallel()
	rq := AffineCI12.MustParams().RingQ()
	x := make([]int64, rq.N())
	r := rand.New(rand.NewPCG(5, 6))
	for j := range x {
		x[j] = r.Int64N(1<<63-1) >> (r.IntN(64)) * int64(1-2*r.IntN(2))
	}
	copy(x, []int64{0, 1, -1, 1 << 62, -(1 << 62), int64(rq.ModuliChain()[0]), -int64(rq.ModuliChain()[0])})
	p := rq.NewPoly()
	setSigned(rq.SubRings, x, p)
	for i, q := range rq.ModuliChain() {
		for j, v := range x {
			want := uint64(((v % int64(q)) + int64(q)) % int64(q))
			if p.Coeffs[i][j] != want {
				t.Fatalf("limb %d: %d mod %d = %d, want %d", i, v, q, p.Coeffs[i][j], want)
			}
		}
	}
}

// smallPolys draws a ternary and two Gaussian polynomials at level with
// the package's sampler (coefficient domain).
func smallPolys(t *testing.T, rq *ring.Ring, level int) (u, e0, e1 ring.Poly) {
	s, err := newSampler(rq.N())
	if err != nil {
		t.Fatal(err)
	}
	moduli := rq.ModuliChain()[:level+1]
	u, e0, e1 = rq.NewPoly(), rq.NewPoly(), rq.NewPoly()
	s.ternaryPoly(moduli, u)
	s.gaussianPoly(moduli, e0)
	s.gaussianPoly(moduli, e1)
	return u, e0, e1
}

// clonePoly copies p.
func clonePoly(p ring.Poly) ring.Poly {
	c := ring.Poly{Coeffs: make([][]uint64, len(p.Coeffs))}
	for i, row := range p.Coeffs {
		c.Coeffs[i] = slices.Clone(row)
	}
	return c
}

func equalLimbs(a, b ring.Poly, level int) bool {
	for i := range level + 1 {
		if !slices.Equal(a.Coeffs[i], b.Coeffs[i]) {
			return false
		}
	}
	return true
}

// TestEncryptorMatchesLattigo: given the same u, e0 and e1, the
// Encryptor's ciphertext is word for word lattigo's encryption without P
// (encryptZeroPkNoP then addPtToCt), computed here with lattigo's ring
// operations; and lattigo decrypts it.
func TestEncryptorMatchesLattigo(t *testing.T) {
	t.Parallel()
	for _, p := range []*Preset{AffineCI12, AffineCI14} {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			tk := newTestKeys(t, p, 2)
			params := p.MustParams()
			enc, err := NewEncryptor(p, tk.pk)
			if err != nil {
				t.Fatal(err)
			}
			codec, err := NewEncoder(p)
			if err != nil {
				t.Fatal(err)
			}
			vals := randomValues(rand.New(rand.NewPCG(7, 8)), p.Slots(), 3)
			for _, level := range []int{0, p.AffineLevel} {
				pt, err := codec.Encode(vals, level, 40)
				if err != nil {
					t.Fatal(err)
				}
				rq := params.RingQ().AtLevel(level)
				u, e0, e1 := smallPolys(t, params.RingQ(), level)

				// lattigo's encryptZeroPkNoP and addPtToCt, with these u, e0, e1.
				want := rlwe.NewCiphertext(params, 1, level)
				lu, le0, le1 := clonePoly(u), clonePoly(e0), clonePoly(e1)
				rq.NTT(lu, lu)
				rq.MulCoeffsMontgomery(lu, tk.pk.Value[0].Q, want.Value[0])
				rq.MulCoeffsMontgomery(lu, tk.pk.Value[1].Q, want.Value[1])
				rq.NTT(le0, le0)
				rq.Add(want.Value[0], le0, want.Value[0])
				rq.NTT(le1, le1)
				rq.Add(want.Value[1], le1, want.Value[1])
				rq.Add(want.Value[0], pt.Value, want.Value[0])

				got := rlwe.NewCiphertext(params, 1, level)
				enc.encryptWith(pt.Value, u, e0, e1, got)
				for k := range 2 {
					if !equalLimbs(got.Value[k], want.Value[k], level) {
						t.Fatalf("level %d: c%d differs from lattigo's", level, k)
					}
				}

				// A fresh encryption decrypts with lattigo's decryptor.
				ct, err := enc.EncryptNew(pt)
				if err != nil {
					t.Fatal(err)
				}
				if ct.Level() != level || !ct.IsNTT || ct.Scale.Cmp(pt.Scale) != 0 {
					t.Fatalf("ciphertext at level %d, NTT %v, scale %v; plaintext level %d, scale %v", ct.Level(), ct.IsNTT, ct.Scale.Value.String(), level, pt.Scale.Value.String())
				}
				sk := rlwe.NewSecretKey(params)
				for _, s := range tk.sks {
					params.RingQP().Add(sk.Value, s.Value, sk.Value)
				}
				out := make([]float64, p.Slots())
				if err := codec.Decode(rlwe.NewDecryptor(params, sk).DecryptNew(ct), out); err != nil {
					t.Fatal(err)
				}
				// Noise 2^10.2 per coefficient at scale 2^40: 2^-22 per slot.
				for i := range out {
					if math.Abs(out[i]-vals[i]) > 1e-5 {
						t.Fatalf("level %d, slot %d: %v, want %v", level, i, out[i], vals[i])
					}
				}
			}
		})
	}
}

// TestEncryptorChecks: a public key of another ring is an error, and a
// preset with P goes through lattigo's encryptor and still decrypts.
func TestEncryptorChecks(t *testing.T) {
	t.Parallel()
	small := newTestKeys(t, AffineCI12, 1)
	if _, err := NewEncryptor(AffineCI14, small.pk); err == nil {
		t.Fatal("public key of degree 2^12 accepted for 2^14")
	}
	if _, err := NewEncryptor(AffineCI14, nil); err == nil {
		t.Fatal("nil public key accepted")
	}
	tk := newTestKeys(t, SigmoidCI14, 1)
	enc, err := NewEncryptor(SigmoidCI14, tk.pk)
	if err != nil {
		t.Fatal(err)
	}
	if enc.lattigo == nil {
		t.Fatal("preset with P not sent to lattigo's encryptor")
	}
	ct := tk.encrypt(t, []float64{1.5, -2})
	out := make([]float64, 2)
	codec, _ := NewEncoder(SigmoidCI14)
	if err := codec.Decode(rlwe.NewDecryptor(SigmoidCI14.MustParams(), tk.sks[0]).DecryptNew(ct), out); err != nil {
		t.Fatal(err)
	}
	if math.Abs(out[0]-1.5) > 1e-9 || math.Abs(out[1]+2) > 1e-9 {
		t.Fatalf("decrypted %v", out)
	}
}

// TestShareMatchesLattigo: given the same u, e0 (with the smudging noise)
// and e1, KeySwitcher.Share's share is word for word lattigo's GenShare
// (EncryptZero under pkR without P, then c1·s added in the NTT domain) plus
// the noise, computed here with lattigo's ring operations.
func TestShareMatchesLattigo(t *testing.T) {
	t.Parallel()
	for _, p := range []*Preset{AffineCI12, AffineCI14} {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			tk := newTestKeys(t, p, 2)
			params := p.MustParams()
			level := p.AffineLevel
			rq := params.RingQ().AtLevel(level)
			ct := tk.encrypt(t, randomValues(rand.New(rand.NewPCG(9, 10)), 100, 1))
			rk, err := NewReceiverKey(p, [32]byte{2})
			if err != nil {
				t.Fatal(err)
			}
			ks, err := NewKeySwitcher(p, p.LogSmudge)
			if err != nil {
				t.Fatal(err)
			}
			u, e0, e1 := smallPolys(t, params.RingQ(), level)
			// e0 with smudging noise, as Share draws it.
			x := make([]int64, params.N())
			ks.smudge.add(x)
			big := rq.NewPoly()
			setSigned(rq.SubRings[:level+1], x, big)
			rq.Add(e0, big, e0)

			sk, pkR := tk.sks[0], rk.Public
			want := ks.pcks.AllocateShare(level)
			lu, le0, le1 := clonePoly(u), clonePoly(e0), clonePoly(e1)
			rq.NTT(lu, lu)
			rq.MulCoeffsMontgomery(lu, pkR.Value[0].Q, want.Value[0])
			rq.MulCoeffsMontgomery(lu, pkR.Value[1].Q, want.Value[1])
			rq.NTT(le0, le0)
			rq.Add(want.Value[0], le0, want.Value[0])
			rq.NTT(le1, le1)
			rq.Add(want.Value[1], le1, want.Value[1])
			rq.MulCoeffsMontgomeryThenAdd(ct.Value[1], sk.Value.Q, want.Value[0])

			got := ks.pcks.AllocateShare(level)
			ks.shareWith(sk, pkR, ct.Value[1], u, e0, e1, &got)
			for k := range 2 {
				if !equalLimbs(got.Value[k], want.Value[k], level) {
					t.Fatalf("h%d differs from lattigo's", k)
				}
			}
		})
	}
}

// TestKeySwitchRoundTrip: three parties' shares, aggregated and applied by
// lattigo's KeySwitch, decrypt under the receiver's key to the values, for
// a small smudging noise (so that a wrong term would show) and for the
// non-NTT and with-P fallbacks to lattigo's GenShare.
func TestKeySwitchRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range []*Preset{AffineCI12, AffineCI14, SigmoidCI14} {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			const k = 3
			tk := newTestKeys(t, p, k)
			params := p.MustParams()
			vals := randomValues(rand.New(rand.NewPCG(11, 12)), 1000, 2)
			ct := tk.encrypt(t, vals)
			rk, err := NewReceiverKey(p, [32]byte{3})
			if err != nil {
				t.Fatal(err)
			}
			ks, err := NewKeySwitcher(p, 20)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := NewDecryptor(p, rk.Secret)
			if err != nil {
				t.Fatal(err)
			}
			for _, ntt := range []bool{true, false} {
				in := ct.CopyNew()
				if !ntt {
					rq := params.RingQ().AtLevel(in.Level())
					rq.INTT(in.Value[0], in.Value[0])
					rq.INTT(in.Value[1], in.Value[1])
					in.IsNTT = false
				}
				var acc *mhe.PublicKeySwitchShare
				for _, sk := range tk.sks {
					sh := ks.ShallowCopy().Share(sk, rk.Public, in)
					if acc == nil {
						acc = sh
					} else if err := ks.Aggregate(acc, sh); err != nil {
						t.Fatal(err)
					}
				}
				out, err := ks.Switch(in, acc)
				if err != nil {
					t.Fatal(err)
				}
				if !ntt {
					rq := params.RingQ().AtLevel(out.Level())
					rq.NTT(out.Value[0], out.Value[0])
					rq.NTT(out.Value[1], out.Value[1])
					out.IsNTT = true
				}
				got := make([]float64, len(vals))
				if err := dec.Decrypt(out, got); err != nil {
					t.Fatal(err)
				}
				// The smudging's 2^20·sqrt(2N·k) at scale 2^82 is negligible;
				// the rounding of the rescale to scale 2^32 has std 2e-6 at
				// N = 2^14, with maxima near 1.5e-5 over 1,000 slots (the same
				// with lattigo's GenShare).
				for i := range got {
					if math.Abs(got[i]-vals[i]) > 5e-5 {
						t.Fatalf("NTT %v, slot %d: %v, want %v", ntt, i, got[i], vals[i])
					}
				}
			}
		})
	}
}

// BenchmarkEncrypt: one block's encryption at the affine level of
// affine-ci14, lattigo's encryptor against the package's.
func BenchmarkEncrypt(b *testing.B) {
	p := AffineCI14
	tk := newTestKeys(b, p, 1)
	codec, err := NewEncoder(p)
	if err != nil {
		b.Fatal(err)
	}
	pt, err := codec.Encode(randomValues(rand.New(rand.NewPCG(1, 1)), p.Slots(), 1), p.AffineLevel, p.AffineLogScale)
	if err != nil {
		b.Fatal(err)
	}
	ours, err := NewEncryptor(p, tk.pk)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		encrypt func(*rlwe.Plaintext) (*rlwe.Ciphertext, error)
	}{
		{"lattigo", rlwe.NewEncryptor(p.MustParams(), tk.pk).EncryptNew},
		{"mitai", ours.EncryptNew},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.encrypt(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkShare: one key-switch share of a block of affine-ci14 with the
// preset's smudging, lattigo's GenShare plus Smudger.AddNTT (the path
// before this package had its own) against KeySwitcher.Share.
func BenchmarkShare(b *testing.B) {
	p := AffineCI14
	tk := newTestKeys(b, p, 1)
	ct := tk.encrypt(b, []float64{1})
	rk, err := NewReceiverKey(p, [32]byte{4})
	if err != nil {
		b.Fatal(err)
	}
	ks, err := NewKeySwitcher(p, p.LogSmudge)
	if err != nil {
		b.Fatal(err)
	}
	sk := tk.sks[0]
	b.Run("lattigo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sh := ks.pcks.AllocateShare(ct.Level())
			ks.pcks.GenShare(sk, rk.Public, ct, &sh)
			ks.smudge.AddNTT(ct.Level(), sh.Value[0])
		}
	})
	b.Run("mitai", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ks.Share(sk, rk.Public, ct)
		}
	})
}

// TestLimbParallelismSameResult: forEachLimb visits every limb once at every
// setting, and with the limbs of one ciphertext spread over goroutines the
// encryption and the share still equal lattigo's word for word (the two
// tests run again as subtests, after the setting is made 4).
func TestLimbParallelismSameResult(t *testing.T) {
	prev := LimbParallelism()
	t.Cleanup(func() { SetLimbParallelism(prev) })
	for _, par := range []int{1, 2, 4} {
		SetLimbParallelism(par)
		if LimbParallelism() != par {
			t.Fatalf("LimbParallelism() = %d after setting %d", LimbParallelism(), par)
		}
		hits := make([]int32, 7)
		forEachLimb(len(hits), func(i int) { hits[i]++ })
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("parallelism %d: limb %d visited %d times", par, i, h)
			}
		}
	}
	SetLimbParallelism(0)
	if LimbParallelism() != 1 {
		t.Fatalf("SetLimbParallelism(0) gave %d, want 1", LimbParallelism())
	}
	SetLimbParallelism(4)
	t.Run("encrypt", TestEncryptorMatchesLattigo)
	t.Run("share", TestShareMatchesLattigo)
}

// TestLattigoPath: with SetLattigoPath on, the Encryptor hands encryption to
// lattigo's rlwe.Encryptor, and the ciphertexts and shares it makes still
// switch and decrypt to the values; off again, the package's own path
// returns.
func TestLattigoPath(t *testing.T) {
	t.Cleanup(func() { SetLattigoPath(false) })
	p := AffineCI14
	tk := newTestKeys(t, p, 3)
	rk, err := NewReceiverKey(p, [32]byte{5})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySwitcher(p, p.LogSmudge)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecryptor(p, rk.Secret)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncryptor(p, tk.pk)
	if err != nil {
		t.Fatal(err)
	}
	vals := randomValues(rand.New(rand.NewPCG(13, 14)), 1000, 2)
	for _, on := range []bool{true, false, true} {
		SetLattigoPath(on)
		if LattigoPath() != on {
			t.Fatalf("LattigoPath() = %v after SetLattigoPath(%v)", !on, on)
		}
		ct := tk.encryptWith(t, vals, enc.EncryptNew)
		if enc.viaLattigo() != on || ks.viaLattigo(ct) != on {
			t.Fatalf("lattigo path %v, but the encryptor takes it: %v, the key switcher: %v", on, enc.viaLattigo(), ks.viaLattigo(ct))
		}
		var acc *mhe.PublicKeySwitchShare
		for _, sk := range tk.sks {
			sh := ks.Share(sk, rk.Public, ct)
			if acc == nil {
				acc = sh
			} else if err := ks.Aggregate(acc, sh); err != nil {
				t.Fatal(err)
			}
		}
		out, err := ks.Switch(ct, acc)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, len(vals))
		if err := dec.Decrypt(out, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(got[i]-vals[i]) > 1e-4 {
				t.Fatalf("lattigo path %v, slot %d: %v, want %v", on, i, got[i], vals[i])
			}
		}
	}
}

// TestDecryptMatchesLattigo: the Decryptor's c0 + c1·s, computed with
// crypto/kernel, is lattigo's decryption word for word, at the affine level
// and below, and a second call reuses its buffer without changing the
// first result's meaning (the caller decodes before calling again).
func TestDecryptMatchesLattigo(t *testing.T) {
	t.Parallel()
	for _, p := range []*Preset{AffineCI12, AffineCI14, Affine30CI14} {
		tk := newTestKeys(t, p, 1)
		dec, err := NewDecryptor(p, tk.sks[0])
		if err != nil {
			t.Fatal(err)
		}
		params := p.MustParams()
		ref := rlwe.NewDecryptor(params, tk.sks[0])
		ct := tk.encrypt(t, randomValues(rand.New(rand.NewPCG(15, 16)), 500, 3))
		for level := ct.Level(); level >= 0; level-- {
			c := ct.CopyNew()
			c.Resize(1, level)
			want := ref.DecryptNew(c)
			got := dec.decrypt(c)
			if got.Level() != level || !got.Value.Equal(&want.Value) || !got.MetaData.Equal(want.MetaData) {
				t.Fatalf("%s, level %d: decryption differs from lattigo's", p.Name, level)
			}
		}
	}
}
