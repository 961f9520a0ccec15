package he

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

var (
	wireOnce sync.Once
	wireKeys *testKeys
	wireCT   []byte // a valid affine-ci12 ciphertext at level 1, scale 2^82
)

func wireFixture(t testing.TB) (*testKeys, []byte) {
	wireOnce.Do(func() {
		wireKeys = newTestKeys(t, AffineCI12, 2)
		ct := wireKeys.encrypt(t, randomValues(rand.New(rand.NewPCG(3, 4)), 100, 1))
		var err error
		if wireCT, err = ct.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
	return wireKeys, wireCT
}

func TestUnmarshalCiphertext(t *testing.T) {
	t.Parallel()
	tk, good := wireFixture(t)
	codec, err := NewCodec(AffineCI12)
	if err != nil {
		t.Fatal(err)
	}
	scale := Scale(AffineCI12.AffineLogScale)
	ct, err := codec.UnmarshalCiphertext(good, 1, scale)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ct.MarshalBinary(); !bytes.Equal(again, good) {
		t.Fatal("ciphertext does not round-trip")
	}
	if codec.CiphertextSize(1) != len(good) {
		t.Fatalf("CiphertextSize %d, encoding %d", codec.CiphertextSize(1), len(good))
	}

	params := AffineCI12.MustParams()
	level0 := rlwe.NewCiphertext(params, 1, 0)
	*level0.MetaData = *ct.MetaData
	l0, _ := level0.MarshalBinary()
	degree2 := rlwe.NewCiphertext(params, 2, 1)
	*degree2.MetaData = *ct.MetaData
	d2, _ := degree2.MarshalBinary()
	big14 := newTestKeys(t, AffineCI14, 2).encrypt(t, []float64{1})
	b14, _ := big14.MarshalBinary()
	otherScale := bytes.Clone(good)
	if i := bytes.Index(otherScale, []byte("p+82")); i < 0 {
		t.Fatal("no scale in the metadata")
	} else {
		copy(otherScale[i:], "p+81")
	}
	unreduced := bytes.Clone(good)
	// The last coefficient of the last row: set it to 2^64-1.
	binary.LittleEndian.PutUint64(unreduced[len(unreduced)-8:], ^uint64(0))
	hugeCount := bytes.Clone(good)
	// The polynomial count follows the metadata; make it 2^40.
	metaEnd := 1 + ct.MetaData.BinarySize()
	binary.LittleEndian.PutUint64(hugeCount[metaEnd:], 1<<40)
	_ = tk

	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "bytes, want"},
		{"garbage", bytes.Repeat([]byte{0xA5}, len(good)), "header byte 0"},
		{"truncated", good[:len(good)-1], "bytes, want"},
		{"wrong level", l0, "bytes, want"},
		{"wrong degree", d2, "bytes, want"},
		{"wrong ring size", b14, "bytes, want"},
		{"wrong scale", otherScale, "header byte"},
		{"unreduced coefficient", unreduced, "not reduced"},
		{"huge length field", hugeCount, "header byte"},
	} {
		if _, err := codec.UnmarshalCiphertext(tc.b, 1, scale); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := codec.UnmarshalCiphertext(good, 5, scale); err == nil {
		t.Error("level beyond the preset accepted")
	}
}

func TestUnmarshalShares(t *testing.T) {
	t.Parallel()
	tk, good := wireFixture(t)
	codec, _ := NewCodec(AffineCI12)
	ct, err := codec.UnmarshalCiphertext(good, 1, Scale(82))
	if err != nil {
		t.Fatal(err)
	}
	var seed [32]byte
	rk, _ := NewReceiverKey(AffineCI12, seed)
	ks, _ := NewKeySwitcher(AffineCI12, 40)
	sh := ks.Share(tk.sks[0], rk.Public, ct)
	b, _ := sh.MarshalBinary()
	if _, err := codec.UnmarshalKeySwitchShare(b, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := codec.UnmarshalKeySwitchShare(b, 0); err == nil {
		t.Fatal("share at the wrong level accepted")
	}
	if _, err := codec.UnmarshalKeySwitchShare(b[:100], 1); err == nil {
		t.Fatal("short share accepted")
	}
	pkb, _ := tk.agg.MarshalBinary()
	if _, err := codec.UnmarshalPublicKeyShare(pkb); err != nil {
		t.Fatal(err)
	}
	if _, err := codec.UnmarshalPublicKeyShare(b); err == nil {
		t.Fatal("a key-switch share accepted as a public-key share")
	}
	pub, _ := rk.MarshalPublic()
	back, err := codec.UnmarshalReceiverPublic(pub)
	if err != nil || !back.Equal(rk.Public) {
		t.Fatalf("receiver public key does not round-trip: %v", err)
	}
	if _, err := codec.UnmarshalRelinShare(pkb); err == nil {
		t.Fatal("relinearization share on a preset without P accepted")
	}
	thr := mhe.NewThresholdizer(AffineCI12.MustParams())
	poly, err := thr.GenShamirPolynomial(2, tk.sks[0])
	if err != nil {
		t.Fatal(err)
	}
	share := thr.AllocateThresholdSecretShare()
	thr.GenShamirSecretShare(1, poly, &share)
	sb, _ := share.MarshalBinary()
	if _, err := codec.UnmarshalShamirShare(sb); err != nil {
		t.Fatal(err)
	}
}

// fuzzPreset is a toy preset (ring degree 32, so a ciphertext is about 1
// KiB) with the same structure as the real ones, so that the fuzzer can
// mutate whole ciphertexts quickly. It is not registered and not secure.
var fuzzPreset = func() *Preset {
	g := ring.NewNTTFriendlyPrimesGenerator(50, 4<<5)
	q, err := g.NextDownstreamPrimes(2)
	if err != nil {
		panic(err)
	}
	return &Preset{Name: "fuzz-ci5", LogN: 5, Q: q, AffineLevel: 1, AffineLogScale: 82, LogSmudge: 40}
}()

// FuzzUnmarshalCiphertext feeds the strict decoder arbitrary bytes: it
// must return an error or a valid ciphertext, never panic, and anything it
// accepts re-encodes to the same bytes.
func FuzzUnmarshalCiphertext(f *testing.F) {
	tk := newTestKeys(f, fuzzPreset, 2)
	good, err := tk.encrypt(f, []float64{1, -2, 3}).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:64])
	f.Add([]byte{})
	f.Add([]byte{1, '{'})
	codec, err := NewCodec(fuzzPreset)
	if err != nil {
		f.Fatal(err)
	}
	scale := Scale(82)
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := codec.UnmarshalCiphertext(b, 1, scale)
		if err != nil {
			return
		}
		again, err := ct.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes do not re-encode identically (%v)", err)
		}
	})
}

// FuzzAddPoly: the score job adds peers' ciphertext parts with AddPoly.
// On any bytes it must not panic; what it accepts is what UnmarshalPoly
// accepts, and the sum is lattigo's; what it refuses leaves the sum as it
// was.
func FuzzAddPoly(f *testing.F) {
	tk := newTestKeys(f, fuzzPreset, 2)
	ct := tk.encrypt(f, []float64{1, -2, 3})
	codec, err := NewCodec(fuzzPreset)
	if err != nil {
		f.Fatal(err)
	}
	good, err := codec.Marshal(&ct.Value[1])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte{})
	rq := fuzzPreset.MustParams().RingQ().AtLevel(1)
	f.Fuzz(func(t *testing.T, b []byte) {
		acc := *ct.Value[0].CopyNew()
		err := codec.AddPoly(acc, b, 1, "c1")
		p, perr := codec.UnmarshalPoly(b, 1, "c1")
		if (err == nil) != (perr == nil) {
			t.Fatalf("AddPoly error %v, UnmarshalPoly error %v", err, perr)
		}
		want := *ct.Value[0].CopyNew()
		if err == nil {
			rq.Add(want, p, want)
		}
		if !acc.Equal(&want) {
			t.Fatalf("sum differs (AddPoly error %v)", err)
		}
	})
}

// FuzzUnmarshalKeySet: key sets are read from files and catalogs.
func FuzzUnmarshalKeySet(f *testing.F) {
	tk := newTestKeys(f, AffineCI12, 2)
	ks, err := NewKeySet(AffineCI12, []string{"a", "b"}, 2, tk.master, tk.agg, nil)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := ks.MarshalBinary()
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte(keySetMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := UnmarshalKeySet(b)
		if err != nil {
			return
		}
		if again, _ := ks.MarshalBinary(); !bytes.Equal(again, b) {
			t.Fatal("accepted key set does not re-encode identically")
		}
	})
}

// TestFastWire: the fast encodings are lattigo's bytes, and the fast
// decoding gives lattigo's objects.
func TestFastWire(t *testing.T) {
	t.Parallel()
	tk, good := wireFixture(t)
	codec, _ := NewCodec(AffineCI12)
	ct, err := codec.UnmarshalCiphertext(good, 1, Scale(82))
	if err != nil {
		t.Fatal(err)
	}
	ref := new(rlwe.Ciphertext)
	if err := ref.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	if !ref.Equal(ct) {
		t.Fatal("fast decoding differs from lattigo's")
	}
	for _, o := range []object{ct, &ct.Value[0], &ct.Value[1]} {
		fast, err := codec.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		slow, _ := o.MarshalBinary()
		if !bytes.Equal(fast, slow) {
			t.Fatalf("%T: fast encoding differs from lattigo's", o)
		}
	}
	rk, _ := NewReceiverKey(AffineCI12, [32]byte{})
	ks, _ := NewKeySwitcher(AffineCI12, 40)
	sh := ks.Share(tk.sks[0], rk.Public, ct)
	fast, _ := codec.Marshal(sh)
	slow, _ := sh.MarshalBinary()
	if !bytes.Equal(fast, slow) {
		t.Fatal("key-switch share: fast encoding differs from lattigo's")
	}
	back, err := codec.UnmarshalKeySwitchShare(fast, 1)
	if err != nil || !back.Value[0].Equal(&sh.Value[0]) || !back.Value[1].Equal(&sh.Value[1]) {
		t.Fatalf("key-switch share does not round-trip: %v", err)
	}
	p, err := codec.UnmarshalPoly(fast[len(fast)-ct.Value[1].BinarySize():], 1, "c1")
	if err != nil || !p.Equal(&sh.Value[1]) {
		t.Fatalf("polynomial does not round-trip: %v", err)
	}
}

func TestAddPolyDigestPoly(t *testing.T) {
	t.Parallel()
	_, good := wireFixture(t)
	codec, _ := NewCodec(AffineCI12)
	ct, err := codec.UnmarshalCiphertext(good, 1, Scale(82))
	if err != nil {
		t.Fatal(err)
	}
	params := AffineCI12.MustParams()
	rq := params.RingQ().AtLevel(1)
	enc, _ := codec.Marshal(&ct.Value[1])
	if d := codec.DigestPoly(&ct.Value[1]); d != sha256.Sum256(enc) {
		t.Fatal("DigestPoly differs from SHA-256 of the encoding")
	}
	acc := *ct.Value[0].CopyNew()
	want := rq.NewPoly()
	rq.Add(ct.Value[0], ct.Value[1], want)
	if err := codec.AddPoly(acc, enc, 1, "c1"); err != nil {
		t.Fatal(err)
	}
	if !acc.Equal(&want) {
		t.Fatal("AddPoly differs from decoding and adding")
	}
	before := *acc.CopyNew()
	bad := bytes.Clone(enc)
	binary.LittleEndian.PutUint64(bad[len(bad)-8:], ^uint64(0))
	if err := codec.AddPoly(acc, bad, 1, "c1"); err == nil || !strings.Contains(err.Error(), "not reduced") {
		t.Fatalf("unreduced: %v", err)
	}
	// A word equal to q, in the middle of the second row: named by position.
	bad = bytes.Clone(enc)
	n := params.N()
	binary.LittleEndian.PutUint64(bad[8+(8+8*n)+8+8*5:], params.Q()[1])
	if err := codec.AddPoly(acc, bad, 1, "c1"); err == nil || !strings.Contains(err.Error(), "coefficient 5 of row 1") {
		t.Fatalf("coefficient equal to q: %v", err)
	}
	if err := codec.AddPoly(acc, enc[:len(enc)-1], 1, "c1"); err == nil {
		t.Fatal("short accepted")
	}
	bad = bytes.Clone(enc)
	bad[0] = 9
	if err := codec.AddPoly(acc, bad, 1, "c1"); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("bad header: %v", err)
	}
	if !acc.Equal(&before) {
		t.Fatal("a rejected polynomial changed the sum")
	}
}

// shareFixture is a key-switch share of a fresh ciphertext of preset p
// (affine level), its encoding, and a second share to add it to.
func shareFixture(t testing.TB, p *Preset) (codec *Codec, enc []byte, acc *mhe.PublicKeySwitchShare) {
	tk := newTestKeys(t, p, 2)
	ct := tk.encrypt(t, []float64{1, -2, 3})
	rk, err := NewReceiverKey(p, [32]byte{6})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySwitcher(p, p.LogSmudge)
	if err != nil {
		t.Fatal(err)
	}
	if codec, err = NewCodec(p); err != nil {
		t.Fatal(err)
	}
	sh := ks.Share(tk.sks[0], rk.Public, ct)
	if enc, err = codec.Marshal(sh); err != nil {
		t.Fatal(err)
	}
	return codec, enc, ks.Share(tk.sks[1], rk.Public, ct)
}

// TestAddKeySwitchShare: the sum equals decoding and aggregating; refused
// encodings (a word equal to q in the second part, a bad header, a short
// one, a share at another level) name what is wrong and leave the sum as
// it was.
func TestAddKeySwitchShare(t *testing.T) {
	t.Parallel()
	p := AffineCI12
	codec, enc, acc := shareFixture(t, p)
	level := p.AffineLevel
	sh, err := codec.UnmarshalKeySwitchShare(enc, level)
	if err != nil {
		t.Fatal(err)
	}
	want := mhe.PublicKeySwitchShare{Element: *acc.Element.CopyNew()}
	addShare(p.MustParams().RingQ().SubRings, &want, sh)
	if err := codec.AddKeySwitchShare(acc, enc, level); err != nil {
		t.Fatal(err)
	}
	if !acc.Equal(&want.Element) {
		t.Fatal("AddKeySwitchShare differs from decoding and aggregating")
	}
	before := acc.Element.CopyNew()
	n, q := p.MustParams().N(), p.MustParams().Q()
	bad := bytes.Clone(enc)
	last := len(bad) - 8*n + 8*7 // the second part's last row, word 7
	binary.LittleEndian.PutUint64(bad[last:], q[level])
	if err := codec.AddKeySwitchShare(acc, bad, level); err == nil || !strings.Contains(err.Error(), "coefficient 7 of row 3") {
		t.Fatalf("coefficient equal to q: %v", err)
	}
	bad = bytes.Clone(enc)
	bad[0] ^= 1
	if err := codec.AddKeySwitchShare(acc, bad, level); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("bad header: %v", err)
	}
	if err := codec.AddKeySwitchShare(acc, enc[:len(enc)-1], level); err == nil {
		t.Fatal("short share accepted")
	}
	if err := codec.AddKeySwitchShare(acc, enc, 0); err == nil {
		t.Fatal("a share at level 1 added to a sum at level 0")
	}
	if !acc.Equal(before) {
		t.Fatal("a refused share changed the sum")
	}
}

// FuzzAddKeySwitchShare: on any bytes no panic; accepted exactly when
// UnmarshalKeySwitchShare accepts, with the same sum; refused, the sum
// unchanged.
func FuzzAddKeySwitchShare(f *testing.F) {
	codec, enc, acc := shareFixture(f, fuzzPreset)
	f.Add(enc)
	f.Add(enc[:48])
	f.Add([]byte{})
	subs := fuzzPreset.MustParams().RingQ().SubRings
	f.Fuzz(func(t *testing.T, b []byte) {
		got := mhe.PublicKeySwitchShare{Element: *acc.Element.CopyNew()}
		err := codec.AddKeySwitchShare(&got, b, 1)
		sh, uerr := codec.UnmarshalKeySwitchShare(b, 1)
		if (err == nil) != (uerr == nil) {
			t.Fatalf("AddKeySwitchShare error %v, UnmarshalKeySwitchShare error %v", err, uerr)
		}
		want := mhe.PublicKeySwitchShare{Element: *acc.Element.CopyNew()}
		if err == nil {
			addShare(subs, &want, sh)
		}
		if !got.Equal(&want.Element) {
			t.Fatalf("sum differs (error %v)", err)
		}
	})
}
