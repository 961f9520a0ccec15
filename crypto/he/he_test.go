package he

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// heStandard is Table 1 of the HomomorphicEncryption.org security standard
// (uniform ternary secret, σ = 3.2): the largest log2 Q per ring dimension
// for 128, 192 and 256 bits of classical security.
var heStandard = map[int][3]int{
	1 << 10: {27, 19, 14},
	1 << 11: {54, 37, 29},
	1 << 12: {109, 75, 58},
	1 << 13: {218, 152, 118},
	1 << 14: {438, 305, 237},
	1 << 15: {881, 611, 476},
}

func TestPresets(t *testing.T) {
	t.Parallel()
	for _, p := range Presets() {
		t.Run(p.Name, func(t *testing.T) {
			params, err := p.Params()
			if err != nil {
				t.Fatal(err)
			}
			if params.MaxSlots() != p.Slots() || params.LogN() != p.LogN {
				t.Fatalf("slots %d, want %d (conjugate-invariant ring)", params.MaxSlots(), p.Slots())
			}
			if params.MaxLevel() < p.Depth || params.MaxLevel() < p.AffineLevel {
				t.Fatalf("max level %d too low for depth %d", params.MaxLevel(), p.Depth)
			}
			nth := uint64(4) << p.LogN
			for _, q := range append(append([]uint64{}, p.Q...), p.P...) {
				if !big.NewInt(0).SetUint64(q).ProbablyPrime(32) {
					t.Errorf("%d is not prime", q)
				}
				if q%nth != 1 {
					t.Errorf("%d is not 1 mod 4N", q)
				}
			}
			for i, q := range p.Q[1:] { // scale primes
				if bits.Len64(q) > 50 {
					t.Errorf("Q[%d] = %d has %d bits, more than 50", i+1, q, bits.Len64(q))
				}
			}
			if p.Name != SigmoidCI14.Name && p.MaxPrimeBits() > 50 {
				t.Errorf("largest prime has %d bits", p.MaxPrimeBits())
			}
			// The stated security level follows from the standard's table.
			row, ok := heStandard[1<<p.LogN]
			if !ok {
				t.Fatalf("no standard row for n = 2^%d", p.LogN)
			}
			level := 0
			for i, lim := range row {
				if p.LogQP() <= float64(lim) {
					level = []int{128, 192, 256}[i]
				}
			}
			if level < 128 {
				t.Fatalf("log2 QP = %.1f is above the 128-bit bound %d", p.LogQP(), row[0])
			}
			if !strings.Contains(p.Security, strings.TrimSuffix(map[int]string{128: "128-bit", 192: "192-bit", 256: "256-bit"}[level], "")) {
				t.Fatalf("security %q, but the table gives %d-bit for log2 QP = %.1f", p.Security, level, p.LogQP())
			}
		})
	}
	if _, err := PresetByName("nope"); err == nil {
		t.Fatal("unknown preset accepted")
	}
	// affine30-ci14 is affine-ci14 for 32-bit SIMD: primes below 2^30, the
	// same security row and the same precision and smudging margin.
	if b := Affine30CI14.MaxPrimeBits(); b > 30 {
		t.Errorf("%s: largest prime has %d bits, want at most 30", Affine30CI14.Name, b)
	}
	for k := 2; k <= 5; k++ {
		a, b := AffineCI14.AffineNoise(k), Affine30CI14.AffineNoise(k)
		if b.Std > a.Std || b.SmudgeRatio < a.SmudgeRatio {
			t.Errorf("k=%d: %s noise %+v, worse than %s's %+v", k, Affine30CI14.Name, b, AffineCI14.Name, a)
		}
	}
}

// testKeys makes a collective key of k parties for a preset.
type testKeys struct {
	p      *Preset
	sks    []*rlwe.SecretKey
	pk     *rlwe.PublicKey
	master [32]byte
	agg    *mhe.PublicKeyGenShare
}

func newTestKeys(t testing.TB, p *Preset, k int) *testKeys {
	t.Helper()
	params := p.MustParams()
	master, err := CRSMaster(bytes.Repeat([]byte{7}, 32), "job")
	if err != nil {
		t.Fatal(err)
	}
	ckg := mhe.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(CRS(master, "pk"))
	kg := rlwe.NewKeyGenerator(params)
	tk := &testKeys{p: p, master: master}
	agg := ckg.AllocateShare()
	for i := range k {
		sk := kg.GenSecretKeyNew()
		tk.sks = append(tk.sks, sk)
		sh := ckg.AllocateShare()
		ckg.GenShare(sk, crp, &sh)
		if i == 0 {
			agg = sh
		} else {
			ckg.AggregateShares(agg, sh, &agg)
		}
	}
	tk.agg = &agg
	tk.pk = rlwe.NewPublicKey(params)
	ckg.GenPublicKey(agg, crp, tk.pk)
	return tk
}

// encrypt encrypts vals at the affine level with the package's Encryptor.
func (tk *testKeys) encrypt(t testing.TB, vals []float64) *rlwe.Ciphertext {
	t.Helper()
	enc, err := NewEncryptor(tk.p, tk.pk)
	if err != nil {
		t.Fatal(err)
	}
	return tk.encryptWith(t, vals, enc.EncryptNew)
}

// encryptLattigo encrypts vals at the affine level with lattigo's
// rlwe.Encryptor, the reference.
func (tk *testKeys) encryptLattigo(t testing.TB, vals []float64) *rlwe.Ciphertext {
	t.Helper()
	return tk.encryptWith(t, vals, rlwe.NewEncryptor(tk.p.MustParams(), tk.pk).EncryptNew)
}

func (tk *testKeys) encryptWith(t testing.TB, vals []float64, encrypt func(*rlwe.Plaintext) (*rlwe.Ciphertext, error)) *rlwe.Ciphertext {
	t.Helper()
	enc, err := NewEncoder(tk.p)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := enc.Encode(vals, tk.p.AffineLevel, tk.p.AffineLogScale)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := encrypt(pt)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func randomValues(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64() * scale
	}
	return v
}

// TestAffineRoundTrip: k parties encrypt, the sum is key-switched to a
// receiver and decrypted; the error is within the preset's noise budget.
func TestAffineRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range []*Preset{AffineCI12, AffineCI14, Affine30CI14} {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			const k = 3
			tk := newTestKeys(t, p, k)
			r := rand.New(rand.NewPCG(1, 2))
			n := p.Slots() - 5 // a partial block
			want := make([]float64, n)
			var sum *rlwe.Ciphertext
			for range k {
				v := randomValues(r, n, 2)
				for i := range v {
					want[i] += v[i]
				}
				ct := tk.encrypt(t, v)
				if sum == nil {
					sum = ct
				} else {
					tk.p.MustParams().RingQ().AtLevel(ct.Level()).Add(sum.Value[0], ct.Value[0], sum.Value[0])
					tk.p.MustParams().RingQ().AtLevel(ct.Level()).Add(sum.Value[1], ct.Value[1], sum.Value[1])
				}
			}
			var seed [32]byte
			seed[0] = 1
			rk, err := NewReceiverKey(p, seed)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := NewKeySwitcher(p, p.LogSmudge)
			if err != nil {
				t.Fatal(err)
			}
			var acc *mhe.PublicKeySwitchShare
			for _, sk := range tk.sks {
				sh := ks.Share(sk, rk.Public, sum)
				if acc == nil {
					acc = sh
				} else if err := ks.Aggregate(acc, sh); err != nil {
					t.Fatal(err)
				}
			}
			out, err := ks.Switch(sum, acc)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := NewDecryptor(p, rk.Secret)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, n)
			if err := dec.Decrypt(out, got); err != nil {
				t.Fatal(err)
			}
			budget := p.AffineNoise(k)
			var maxErr, ss float64
			for i := range got {
				e := got[i] - want[i]
				maxErr = max(maxErr, math.Abs(e))
				ss += e * e
			}
			std := math.Sqrt(ss / float64(n))
			t.Logf("%s k=%d: error std %.3g (budget %.3g), max %.3g (bound %.3g), smudging 2^%.1f × the ciphertext noise",
				p.Name, k, std, budget.Std, maxErr, budget.Bound, budget.SmudgeRatio)
			if maxErr > budget.Bound {
				t.Fatalf("max error %g above the bound %g", maxErr, budget.Bound)
			}
			// The smudging really is there: the error is near its predicted
			// size, not far below (which would mean no smudging).
			if std < budget.Std/2 || std > budget.Std*2 {
				t.Fatalf("error std %g, predicted %g", std, budget.Std)
			}
		})
	}
}

// TestFreshNoise measures the coefficient noise of one public-key
// encryption, which AffineNoise assumes, for the package's Encryptor and
// lattigo's.
func TestFreshNoise(t *testing.T) {
	t.Parallel()
	for _, p := range []*Preset{AffineCI12, AffineCI14, Affine30CI14} {
		tk := newTestKeys(t, p, 3)
		ours := tk.freshLogStd(t, tk.encrypt)
		theirs := tk.freshLogStd(t, tk.encryptLattigo)
		t.Logf("%s: fresh noise 2^%.3f (lattigo's encryptor: 2^%.3f)", p.Name, ours, theirs)
		if math.Abs(ours-freshLogStd(p.LogN)) > 0.5 {
			t.Errorf("%s: fresh noise 2^%.2f, assumed 2^%.2f", p.Name, ours, freshLogStd(p.LogN))
		}
		// The two encryptors' noise has the same standard deviation: 2^0.05
		// is 3.5%, more than 6 times the spread of the estimate from 4N
		// coefficients.
		if math.Abs(ours-theirs) > 0.05 {
			t.Errorf("%s: fresh noise 2^%.3f, lattigo's 2^%.3f", p.Name, ours, theirs)
		}
	}
}

// freshLogStd returns log2 of the standard deviation of the decryption
// noise of encrypt's ciphertext of zeros under the collective secret.
func (tk *testKeys) freshLogStd(t *testing.T, encrypt func(testing.TB, []float64) *rlwe.Ciphertext) float64 {
	params := tk.p.MustParams()
	sk := rlwe.NewSecretKey(params)
	for _, s := range tk.sks {
		params.RingQP().Add(sk.Value, s.Value, sk.Value)
	}
	var ss float64
	var n int
	for range 4 {
		ct := encrypt(t, make([]float64, 8))
		pt := rlwe.NewDecryptor(params, sk).DecryptNew(ct)
		rq := params.RingQ().AtLevel(ct.Level())
		rq.INTT(pt.Value, pt.Value)
		q := params.Q()[0]
		for _, c := range pt.Value.Coeffs[0] {
			v := float64(centered(c, q))
			ss += v * v
			n++
		}
	}
	return math.Log2(math.Sqrt(ss / float64(n)))
}

func TestEncodeLimits(t *testing.T) {
	t.Parallel()
	enc, err := NewEncoder(AffineCI12)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), 1e9} {
		if _, err := enc.Encode([]float64{0, v}, 1, 82); err == nil || !strings.Contains(err.Error(), "value 1") {
			t.Errorf("value %v: error %v", v, err)
		}
	}
	if _, err := enc.Encode(make([]float64, AffineCI12.Slots()+1), 1, 82); err == nil {
		t.Error("too many values accepted")
	}
	pt, err := enc.Encode([]float64{1.5, -2.25, 3}, 1, 82)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 4)
	if err := enc.Decode(pt, out); err != nil {
		t.Fatal(err)
	}
	for i, w := range []float64{1.5, -2.25, 3, 0} {
		if math.Abs(out[i]-w) > 1e-9 {
			t.Fatalf("slot %d: %v, want %v", i, out[i], w)
		}
	}
}

func TestSmudger(t *testing.T) {
	t.Parallel()
	params := AffineCI12.MustParams()
	for _, logSigma := range []int{20, 55} {
		s, err := NewSmudger(params.RingQ(), logSigma)
		if err != nil {
			t.Fatal(err)
		}
		const n = 200000
		sigma := math.Exp2(float64(logSigma))
		var sum, ss float64
		for range n {
			x := float64(s.sample()) / sigma
			sum += x
			ss += x * x
			if math.Abs(x) > 16.01 {
				t.Fatalf("sample %gσ beyond the cut", x)
			}
		}
		mean, std := sum/n, math.Sqrt(ss/n)
		if math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.01 {
			t.Fatalf("σ=2^%d: mean %gσ, std %gσ", logSigma, mean, std)
		}
	}
	if _, err := NewSmudger(params.RingQ(), MaxLogSmudge+1); err == nil {
		t.Fatal("σ above the limit accepted")
	}
	// The noise lands in every row consistently (same integer mod each q).
	s, _ := NewSmudger(params.RingQ(), 45)
	p := params.RingQ().NewPoly()
	s.AddNTT(1, p)
	params.RingQ().INTT(p, p)
	q0, q1 := params.Q()[0], params.Q()[1]
	for j := range 64 {
		a, b := centered(p.Coeffs[0][j], q0), centered(p.Coeffs[1][j], q1)
		if a != b {
			t.Fatalf("coefficient %d: %d mod q0, %d mod q1", j, a, b)
		}
	}
}

func centered(c, q uint64) int64 {
	if c > q/2 {
		return -int64(q - c)
	}
	return int64(c)
}

func TestKeySet(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t, AffineCI12, 3)
	parties := []string{"bank", "bureau", "telco"}
	ks, err := NewKeySet(AffineCI12, parties, 3, tk.master, tk.agg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ks.MarshalBinary()
	back, err := UnmarshalKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Digest() != ks.Digest() || !back.PublicKey.Equal(tk.pk) {
		t.Fatal("key set does not round-trip")
	}
	// Seeded: the encoding holds p0 but not p1.
	if full := tk.pk.BinarySize(); len(b) > full*6/10 {
		t.Fatalf("key set of %d bytes; the unseeded public key alone is %d", len(b), full)
	}
	// A flipped header byte is an error; a flipped key byte is an error or
	// another key set (another digest), never the same one.
	for _, at := range []int{0, 20, len(b) / 2, len(b) - 1} {
		bad := bytes.Clone(b)
		bad[at] ^= 0x40
		if other, err := UnmarshalKeySet(bad); err == nil && (at < 100 || other.Digest() == ks.Digest()) {
			t.Errorf("flipped byte %d accepted as the same key set", at)
		}
	}
	if _, err := UnmarshalKeySet(b[:len(b)-3]); err == nil {
		t.Error("truncated key set accepted")
	}
	for _, bad := range [][]string{{"bank"}, {"telco", "bank"}, {"a", "a"}} {
		if _, err := NewKeySet(AffineCI12, bad, 1, tk.master, tk.agg, nil); err == nil {
			t.Errorf("parties %v accepted", bad)
		}
	}
	if _, err := NewKeySet(AffineCI12, parties, 4, tk.master, tk.agg, nil); err == nil {
		t.Error("threshold 4 of 3 accepted")
	}
	if _, err := CRSMaster([]byte("short"), "j"); err == nil {
		t.Error("short seed accepted")
	}
}

func TestSecretShare(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t, AffineCI12, 2)
	ks, err := NewKeySet(AffineCI12, []string{"bank", "telco"}, 2, tk.master, tk.agg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &SecretShare{Preset: AffineCI12, Party: "bank", KeySet: ks.Digest(), Secret: tk.sks[0]}
	node := bytes.Repeat([]byte{42}, 32)
	sealed, err := s.Seal(node)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("bank")) {
		t.Fatal("sealed share shows its contents")
	}
	back, err := OpenSecretShare(sealed, node)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Secret.Equal(s.Secret) || back.Party != "bank" || back.KeySet != ks.Digest() {
		t.Fatal("share does not round-trip")
	}
	if _, err := OpenSecretShare(sealed, bytes.Repeat([]byte{43}, 32)); !errors.Is(err, ErrWrongNodeSecret) {
		t.Fatalf("wrong node secret: %v", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-40] ^= 1
	if _, err := OpenSecretShare(tampered, node); !errors.Is(err, ErrWrongNodeSecret) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := s.Seal(node[:16]); err == nil {
		t.Fatal("short node secret accepted")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "share")
	if err := s.Save(path, node); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := s.Save(path, node); err == nil {
		t.Fatal("overwrote an existing share")
	}
	loaded, err := LoadSecretShare(path, node)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Secret.Equal(s.Secret) {
		t.Fatal("loaded share differs")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretShare(path, node); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("world-readable share: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left %d files behind", len(entries))
	}

	// N-of-N: the key-switch key is s_i itself, for the full set only.
	if k, err := s.KeySwitchKey(ks, []string{"telco", "bank"}); err != nil || k != s.Secret {
		t.Fatalf("key-switch key: %v", err)
	}
	if _, err := s.KeySwitchKey(ks, []string{"bank"}); err == nil {
		t.Fatal("N-of-N share used without all parties")
	}
	s.Erase()
	for _, c := range s.Secret.Value.Q.Coeffs[0][:16] {
		if c != 0 {
			t.Fatal("not erased")
		}
	}
}

// TestEmbedMatchesLattigo: Encoder's own coefficient conversion gives the
// plaintext lattigo's encoder gives, at every scale the fast path covers.
func TestEmbedMatchesLattigo(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 9))
	for _, p := range []*Preset{AffineCI12, SigmoidCI14} {
		params := p.MustParams()
		enc, _ := NewEncoder(p)
		ref := hefloat.NewEncoder(params)
		for _, tc := range []struct {
			n        int
			spread   float64
			logScale int
		}{{p.Slots(), 3, 40}, {p.Slots() - 17, 1000, 50}, {5, 0.001, 58}, {p.Slots(), 0, 30}} {
			vals := randomValues(r, tc.n, tc.spread)
			level := params.MaxLevel()
			got, err := enc.Encode(vals, level, tc.logScale)
			if err != nil {
				t.Fatal(err)
			}
			// embed itself against lattigo at a scale both encode exactly.
			encScale := min(tc.logScale, 50)
			mine := hefloat.NewPlaintext(params, level)
			mine.Scale = Scale(encScale)
			if err := enc.embed(vals, encScale, mine); err != nil {
				t.Fatal(err)
			}
			want := hefloat.NewPlaintext(params, level)
			want.Scale = Scale(encScale)
			if err := ref.Encode(vals, want); err != nil {
				t.Fatal(err)
			}
			if !want.Value.Equal(&mine.Value) {
				t.Fatalf("%s n=%d 2^%d: plaintexts differ from lattigo's", p.Name, tc.n, encScale)
			}
			out := make([]float64, tc.n)
			if err := enc.Decode(got, out); err != nil {
				t.Fatal(err)
			}
			for i := range vals {
				if math.Abs(out[i]-vals[i]) > 1e-6*(1+tc.spread) {
					t.Fatalf("%s: slot %d: %v, want %v", p.Name, i, out[i], vals[i])
				}
			}
		}
	}
}
