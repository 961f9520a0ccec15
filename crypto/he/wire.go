package he

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// Objects travel in lattigo's own binary encoding (MarshalBinary). lattigo's
// decoder trusts its input: a length field from a peer sizes an allocation
// (a huge one panics), and coefficients are not checked to be reduced. So
// nothing a peer sends reaches lattigo's decoder unchecked. For every kind
// of object a role expects, a shape is derived from a template of exactly
// the expected type, level, degree, ring and metadata: the template is
// encoded once with all coefficients 0 and once with all coefficients
// 2^64-1; the bytes where the two agree are the headers (counts, lengths,
// ring degree, metadata such as the scale), the others are coefficients. A
// peer's bytes must have the template's length and its headers byte for
// byte; only then are they decoded (into a fresh object whose slices
// already have the right sizes, so the decoder allocates nothing), and every
// coefficient is checked to be below its prime. Any difference is an error
// that names the object and what differed; nothing panics (the decoder also
// runs under recover, as a second line).

// A shape is the only encoding accepted for one kind of object.
type shape struct {
	what  string // the object, for errors
	size  int
	zero  []byte   // the template's encoding with zero coefficients
	runs  [][2]int // [start, end) of coefficient bytes, ascending
	fresh func() object
}

// object is what lattigo's serializable types share.
type object interface {
	BinarySize() int
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// polyVisit calls fn for every polynomial of an object with the primes of
// its rows.
type polyVisit func(o object, fn func(p ring.Poly, moduli []uint64))

func newShape(what string, fresh func() object, visit polyVisit) (*shape, error) {
	t := fresh()
	fill := func(v uint64) {
		visit(t, func(p ring.Poly, _ []uint64) {
			for _, row := range p.Coeffs {
				for j := range row {
					row[j] = v
				}
			}
		})
	}
	fill(0)
	zero, err := t.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("he: encode %s template: %w", what, err)
	}
	fill(^uint64(0))
	ones, err := t.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("he: encode %s template: %w", what, err)
	}
	if len(zero) != len(ones) || len(zero) != t.BinarySize() {
		return nil, fmt.Errorf("he: %s: lattigo's encoding is not of fixed size", what)
	}
	s := &shape{what: what, size: len(zero), zero: zero, fresh: fresh}
	for i := 0; i < len(zero); {
		if zero[i] == ones[i] {
			i++
			continue
		}
		j := i
		for j < len(zero) && zero[j] != ones[j] {
			j++
		}
		s.runs = append(s.runs, [2]int{i, j})
		i = j
	}
	return s, nil
}

// checkHeaders checks b's length and every byte outside the coefficient
// runs against the shape.
func (s *shape) checkHeaders(b []byte) error {
	if len(b) != s.size {
		return fmt.Errorf("he: %s: %d bytes, want %d", s.what, len(b), s.size)
	}
	at := 0
	for _, r := range s.runs {
		if i := mismatch(b[at:r[0]], s.zero[at:r[0]]); i >= 0 {
			return fmt.Errorf("he: %s: header byte %d differs from the expected encoding (wrong level, degree, ring size, scale or garbage)", s.what, at+i)
		}
		at = r[1]
	}
	if i := mismatch(b[at:], s.zero[at:]); i >= 0 {
		return fmt.Errorf("he: %s: header byte %d differs from the expected encoding (wrong level, degree, ring size, scale or garbage)", s.what, at+i)
	}
	return nil
}

// decode checks b against the shape and decodes it into a fresh object.
func (s *shape) decode(b []byte, visit polyVisit) (o object, err error) {
	if err := s.checkHeaders(b); err != nil {
		return nil, err
	}
	o = s.fresh()
	if ok, err := s.fillRuns(b, o, visit); ok {
		if err != nil {
			return nil, err
		}
		return o, nil
	}
	defer func() {
		if r := recover(); r != nil {
			o, err = nil, fmt.Errorf("he: %s: decoder failed: %v", s.what, r)
		}
	}()
	if err := o.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("he: %s: %w", s.what, err)
	}
	var bad error
	visit(o, func(p ring.Poly, moduli []uint64) {
		if bad != nil {
			return
		}
		if len(p.Coeffs) != len(moduli) {
			bad = fmt.Errorf("he: %s: %d rows, want %d", s.what, len(p.Coeffs), len(moduli))
			return
		}
		for i, row := range p.Coeffs {
			q := moduli[i]
			for j, c := range row {
				if c >= q {
					bad = fmt.Errorf("he: %s: coefficient %d of row %d is %d, not reduced modulo %d", s.what, j, i, c, q)
					return
				}
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	return o, nil
}

func mismatch(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// Codec encodes and strictly decodes the objects of one preset. It is safe
// for concurrent use.
type Codec struct {
	preset *Preset
	params rlwe.Parameters
	logDim ring.Dimensions
	mu     sync.Mutex
	shapes map[string]*shape
	// scratch holds *[]uint64 for AddPoly.
	scratch sync.Pool
}

// NewCodec returns the codec of a preset.
func NewCodec(p *Preset) (*Codec, error) {
	pp, err := p.Params()
	if err != nil {
		return nil, err
	}
	return &Codec{preset: p, params: *pp.GetRLWEParameters(), logDim: pp.LogMaxDimensions(), shapes: map[string]*shape{}}, nil
}

func (c *Codec) shape(key, what string, fresh func() object, visit polyVisit) (*shape, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.shapes[key]; ok {
		return s, nil
	}
	s, err := newShape(what, fresh, visit)
	if err != nil {
		return nil, err
	}
	c.shapes[key] = s
	return s, nil
}

// decodeAs decodes b as the one shape of its kind (made once per codec
// under key) and returns the object as its concrete type.
func decodeAs[T object](c *Codec, b []byte, key, what string, fresh func() object, visit polyVisit) (T, error) {
	var zero T
	s, err := c.shape(key, what, fresh, visit)
	if err != nil {
		return zero, err
	}
	o, err := s.decode(b, visit)
	if err != nil {
		return zero, err
	}
	return o.(T), nil
}

func (c *Codec) moduliQ(level int) []uint64 { return c.params.Q()[:level+1] }

func (c *Codec) checkLevel(what string, level int) error {
	if level < 0 || level > c.params.MaxLevelQ() {
		return fmt.Errorf("he: %s at level %d: preset %s has levels 0..%d", what, level, c.preset.Name, c.params.MaxLevelQ())
	}
	return nil
}

// Meta is the metadata every ciphertext of this package carries: NTT
// form, all N real slots, the given scale.
func (c *Codec) Meta(scale rlwe.Scale) rlwe.MetaData {
	return rlwe.MetaData{
		PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: scale, LogDimensions: c.logDim, IsBatched: true},
		CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true},
	}
}

func visitElement(o object, fn func(p ring.Poly, moduli []uint64), moduli []uint64) {
	var vals []ring.Poly
	switch e := o.(type) {
	case *rlwe.Ciphertext:
		vals = e.Value
	case *mhe.PublicKeySwitchShare:
		vals = e.Value
	}
	for _, p := range vals {
		fn(p, moduli)
	}
}

// UnmarshalCiphertext decodes a peer's degree-1 ciphertext, which must be at
// the given level with exactly the given scale.
func (c *Codec) UnmarshalCiphertext(b []byte, level int, scale rlwe.Scale) (*rlwe.Ciphertext, error) {
	if err := c.checkLevel("ciphertext", level); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("ciphertext (level %d, degree 1, N=%d, scale 2^%.2f)", level, c.params.N(), logScale(scale))
	moduli := c.moduliQ(level)
	visit := func(o object, fn func(ring.Poly, []uint64)) { visitElement(o, fn, moduli) }
	return decodeAs[*rlwe.Ciphertext](c, b, "ct/"+what+scale.Value.Text('g', 40), what, func() object {
		ct := rlwe.NewCiphertext(c.params, 1, level)
		*ct.MetaData = c.Meta(scale)
		return ct
	}, visit)
}

// CiphertextSize is the encoded size of a degree-1 ciphertext at level.
func (c *Codec) CiphertextSize(level int) int {
	return rlwe.NewCiphertext(c.params, 1, level).BinarySize()
}

// UnmarshalKeySwitchShare decodes a peer's public-key-switch share of a
// ciphertext at the given level.
func (c *Codec) UnmarshalKeySwitchShare(b []byte, level int) (*mhe.PublicKeySwitchShare, error) {
	s, visit, err := c.shareShape(level)
	if err != nil {
		return nil, err
	}
	o, err := s.decode(b, visit)
	if err != nil {
		return nil, err
	}
	return o.(*mhe.PublicKeySwitchShare), nil
}

// shareShape returns the shape of a key-switch share at level.
func (c *Codec) shareShape(level int) (*shape, polyVisit, error) {
	if err := c.checkLevel("key-switch share", level); err != nil {
		return nil, nil, err
	}
	what := fmt.Sprintf("public-key-switch share (level %d, N=%d)", level, c.params.N())
	moduli := c.moduliQ(level)
	visit := func(o object, fn func(ring.Poly, []uint64)) { visitElement(o, fn, moduli) }
	s, err := c.shape("pks/"+what, what, func() object {
		sh := mhe.PublicKeySwitchShare{Element: *rlwe.NewElement(c.params, 1, level)}
		return &sh
	}, visit)
	return s, visit, err
}

// addEncoded checks b against the shape s and adds its coefficient runs, in
// order, to rows: the rows of the object s describes, row k over limb
// k mod limbs, every coefficient reduced. The runs are decoded into scratch
// words and checked before anything is added, so on error rows are
// unchanged. ok is false, with nothing checked, when the runs do not line
// up with rows (a layout this code does not know): the caller decodes.
func (c *Codec) addEncoded(s *shape, b []byte, rows [][]uint64, limbs int) (ok bool, err error) {
	n := c.params.N()
	if !littleEndian || len(s.runs) != len(rows) {
		return false, nil
	}
	for _, r := range s.runs {
		if r[1]-r[0] != 8*n {
			return false, nil
		}
	}
	if err := s.checkHeaders(b); err != nil {
		return true, err
	}
	scratch := c.words(len(rows) * n)
	defer c.scratch.Put(scratch)
	words, moduli := *scratch, c.params.Q()
	for k, r := range s.runs {
		row := words[k*n : (k+1)*n]
		decodeRow(row, b[r[0]:r[1]])
		if j := firstNotBelow(row, moduli[k%limbs]); j >= 0 {
			return true, fmt.Errorf("he: %s: coefficient %d of row %d is %d, not reduced modulo %d", s.what, j, k, row[j], moduli[k%limbs])
		}
	}
	subs := c.params.RingQ().SubRings
	for k, d := range rows {
		kernel.Add(subs[k%limbs], d[:n], words[k*n:(k+1)*n], d[:n])
	}
	return true, nil
}

// AddKeySwitchShare checks that b is the encoding of a key-switch share at
// level (the checks of UnmarshalKeySwitchShare) and adds it to acc, a share
// at that level with reduced coefficients: UnmarshalKeySwitchShare and
// KeySwitcher.Aggregate in one pass, without a fresh share. On error acc is
// unchanged.
func (c *Codec) AddKeySwitchShare(acc *mhe.PublicKeySwitchShare, b []byte, level int) error {
	if err := sameLevel(level, acc); err != nil {
		return err
	}
	s, visit, err := c.shareShape(level)
	if err != nil {
		return err
	}
	rows := append(slices.Clip(acc.Value[0].Coeffs[:level+1]), acc.Value[1].Coeffs[:level+1]...)
	if ok, err := c.addEncoded(s, b, rows, level+1); ok {
		return err
	}
	o, err := s.decode(b, visit) // not lattigo's layout as this code knows it
	if err != nil {
		return err
	}
	addShare(c.params.RingQ().SubRings, acc, o.(*mhe.PublicKeySwitchShare))
	return nil
}

func visitQP(p ringqp.Poly, fn func(ring.Poly, []uint64), q, pm []uint64) {
	fn(p.Q, q)
	if len(pm) > 0 {
		fn(p.P, pm)
	}
}

// UnmarshalPublicKeyShare decodes a peer's share of the collective public
// key (its p0 part; the p1 part is the common reference polynomial).
func (c *Codec) UnmarshalPublicKeyShare(b []byte) (*mhe.PublicKeyGenShare, error) {
	what := fmt.Sprintf("public-key share (N=%d)", c.params.N())
	q, pm := c.params.Q(), c.params.P()
	visit := func(o object, fn func(ring.Poly, []uint64)) {
		visitQP(o.(*mhe.PublicKeyGenShare).Value, fn, q, pm)
	}
	return decodeAs[*mhe.PublicKeyGenShare](c, b, "cpk", what, func() object {
		sh := mhe.NewPublicKeyGenProtocol(c.params).AllocateShare()
		return &sh
	}, visit)
}

// UnmarshalRelinShare decodes a peer's share of either round of the
// relinearization-key protocol.
func (c *Codec) UnmarshalRelinShare(b []byte) (*mhe.RelinearizationKeyGenShare, error) {
	if c.params.PCount() == 0 {
		return nil, fmt.Errorf("he: preset %s has no key-switching primes: no relinearization key", c.preset.Name)
	}
	what := fmt.Sprintf("relinearization-key share (N=%d)", c.params.N())
	visit := func(o object, fn func(ring.Poly, []uint64)) {
		visitGadget(&o.(*mhe.RelinearizationKeyGenShare).GadgetCiphertext, fn, c.params)
	}
	return decodeAs[*mhe.RelinearizationKeyGenShare](c, b, "rlk", what, func() object {
		p := mhe.NewRelinearizationKeyGenProtocol(c.params)
		_, r1, _ := p.AllocateShare()
		return &r1
	}, visit)
}

func visitGadget(g *rlwe.GadgetCiphertext, fn func(ring.Poly, []uint64), params rlwe.Parameters) {
	for _, row := range g.Value {
		for _, v := range row {
			for _, p := range v {
				visitQP(p, fn, params.Q()[:p.Q.Level()+1], params.P()[:p.LevelP()+1])
			}
		}
	}
}

// UnmarshalRelinKey decodes a relinearization key (of a key set file).
func (c *Codec) UnmarshalRelinKey(b []byte) (*rlwe.RelinearizationKey, error) {
	if c.params.PCount() == 0 {
		return nil, fmt.Errorf("he: preset %s has no key-switching primes: no relinearization key", c.preset.Name)
	}
	what := fmt.Sprintf("relinearization key (N=%d)", c.params.N())
	visit := func(o object, fn func(ring.Poly, []uint64)) {
		visitGadget(&o.(*rlwe.RelinearizationKey).GadgetCiphertext, fn, c.params)
	}
	return decodeAs[*rlwe.RelinearizationKey](c, b, "rlkfull", what, func() object { return rlwe.NewRelinearizationKey(c.params) }, visit)
}

// UnmarshalShamirShare decodes a peer's Shamir share of its secret (t-of-N
// key generation).
func (c *Codec) UnmarshalShamirShare(b []byte) (*mhe.ShamirSecretShare, error) {
	what := fmt.Sprintf("threshold secret share (N=%d)", c.params.N())
	q, pm := c.params.Q(), c.params.P()
	visit := func(o object, fn func(ring.Poly, []uint64)) {
		visitQP(o.(*mhe.ShamirSecretShare).Poly, fn, q, pm)
	}
	return decodeAs[*mhe.ShamirSecretShare](c, b, "shamir", what, func() object {
		sh := mhe.NewThresholdizer(c.params).AllocateThresholdSecretShare()
		return &sh
	}, visit)
}

// unmarshalSecretKey decodes a secret key (from a sealed file).
func (c *Codec) unmarshalSecretKey(b []byte) (*rlwe.SecretKey, error) {
	what := fmt.Sprintf("secret key (N=%d)", c.params.N())
	q, pm := c.params.Q(), c.params.P()
	visit := func(o object, fn func(ring.Poly, []uint64)) {
		visitQP(o.(*rlwe.SecretKey).Value, fn, q, pm)
	}
	return decodeAs[*rlwe.SecretKey](c, b, "sk", what, func() object { return rlwe.NewSecretKey(c.params) }, visit)
}

// UnmarshalPoly decodes one polynomial over Q at the given level (one part
// of a ciphertext); what names it in errors.
func (c *Codec) UnmarshalPoly(b []byte, level int, what string) (ring.Poly, error) {
	s, visit, err := c.polyShape(level, what)
	if err != nil {
		return ring.Poly{}, err
	}
	o, err := s.decode(b, visit)
	if err != nil {
		return ring.Poly{}, err
	}
	return *o.(*ring.Poly), nil
}

// polyShape returns the shape of a polynomial over Q at level.
func (c *Codec) polyShape(level int, what string) (*shape, polyVisit, error) {
	if err := c.checkLevel(what, level); err != nil {
		return nil, nil, err
	}
	what = fmt.Sprintf("%s (level %d, N=%d)", what, level, c.params.N())
	q := c.moduliQ(level)
	visit := func(o object, fn func(ring.Poly, []uint64)) { fn(*o.(*ring.Poly), q) }
	s, err := c.shape("poly/"+what, what, func() object {
		p := c.params.RingQ().AtLevel(level).NewPoly()
		return &p
	}, visit)
	return s, visit, err
}

// Marshal encodes an object this package decodes (a ciphertext, a
// key-switch share, a public-key, relinearization-key or threshold share, a
// secret key, a polynomial over Q) with every coefficient fully reduced.
// lattigo leaves some results lazily reduced (in [0, 2q)), which its own
// arithmetic tolerates but the strict decoders here reject: every party
// sends canonical encodings.
func (c *Codec) Marshal(o object) ([]byte, error) { return c.AppendMarshal(nil, o) }

// AppendMarshal is Marshal appending to dst (a message header, say).
func (c *Codec) AppendMarshal(dst []byte, o object) ([]byte, error) {
	reduce := func(p ring.Poly, moduli []uint64) {
		for i, row := range p.Coeffs {
			if i >= len(moduli) {
				return
			}
			q := moduli[i]
			for j, x := range row {
				if x >= q {
					row[j] = x % q
				}
			}
		}
	}
	switch v := o.(type) {
	case *rlwe.Ciphertext:
		visitElement(v, reduce, c.params.Q()[:v.Level()+1])
	case *mhe.PublicKeySwitchShare:
		visitElement(v, reduce, c.params.Q()[:v.Level()+1])
	case *mhe.PublicKeyGenShare:
		visitQP(v.Value, reduce, c.params.Q(), c.params.P())
	case *mhe.RelinearizationKeyGenShare:
		visitGadget(&v.GadgetCiphertext, reduce, c.params)
	case *rlwe.RelinearizationKey:
		visitGadget(&v.GadgetCiphertext, reduce, c.params)
	case *mhe.ShamirSecretShare:
		visitQP(v.Poly, reduce, c.params.Q(), c.params.P())
	case *rlwe.SecretKey:
		visitQP(v.Value, reduce, c.params.Q(), c.params.P())
	case *ring.Poly:
		reduce(*v, c.params.Q()[:v.Level()+1])
	default:
		return nil, fmt.Errorf("he: Marshal: unsupported %T", o)
	}
	if b, ok, err := fastAppend(dst, o); ok {
		return b, err
	}
	b, err := o.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}
