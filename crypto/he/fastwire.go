package he

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

// The hot objects (polynomials, ciphertexts, key-switch shares) are
// encoded and decoded here without lattigo's coefficient-by-coefficient
// loops, in exactly lattigo's byte format (TestFastWire checks both ways).

// littleEndian reports whether this machine stores a uint64 as lattigo's
// encoding does, so that coefficient rows can be copied as bytes.
var littleEndian = func() bool {
	x := uint64(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func rowBytes(row []uint64) []byte {
	if len(row) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&row[0])), 8*len(row))
}

func appendRow(b []byte, row []uint64) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(row)))
	if littleEndian {
		return append(b, rowBytes(row)...)
	}
	for _, c := range row {
		b = binary.LittleEndian.AppendUint64(b, c)
	}
	return b
}

func appendPoly(b []byte, p ring.Poly) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(p.Coeffs)))
	for _, row := range p.Coeffs {
		b = appendRow(b, row)
	}
	return b
}

func polySize(p ring.Poly) int {
	n := 8
	for _, row := range p.Coeffs {
		n += 8 + 8*len(row)
	}
	return n
}

// appendElement encodes an rlwe.Element[ring.Poly] as lattigo does.
func appendElement(b []byte, meta *rlwe.MetaData, polys []ring.Poly) ([]byte, error) {
	size := 1 + 8
	var mb []byte
	if meta != nil {
		var err error
		if mb, err = meta.MarshalBinary(); err != nil {
			return nil, err
		}
		size += len(mb)
	}
	for _, p := range polys {
		size += polySize(p)
	}
	b = grow(b, size)
	if meta != nil {
		b = append(b, 1)
		b = append(b, mb...)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(polys)))
	for _, p := range polys {
		b = appendPoly(b, p)
	}
	return b, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}

// fastAppend appends the encoding of a hot type to b; ok is false for the
// other types.
func fastAppend(b []byte, o object) (out []byte, ok bool, err error) {
	switch v := o.(type) {
	case *ring.Poly:
		return appendPoly(grow(b, polySize(*v)), *v), true, nil
	case *rlwe.Ciphertext:
		out, err = appendElement(b, v.MetaData, v.Value)
		return out, true, err
	case *mhe.PublicKeySwitchShare:
		out, err = appendElement(b, v.MetaData, v.Value)
		return out, true, err
	}
	return b, false, nil
}

// fillRuns copies the coefficient runs of b (already checked against the
// shape) into the rows of a fresh object, in the order visit gives them,
// and checks every coefficient against its prime. It reports false if the
// shape's runs do not line up with the rows (then the caller decodes with
// lattigo).
func (s *shape) fillRuns(b []byte, o object, visit polyVisit) (ok bool, bad error) {
	if !littleEndian {
		return false, nil
	}
	type rowRef struct {
		row []uint64
		q   uint64
	}
	var rows []rowRef
	visit(o, func(p ring.Poly, moduli []uint64) {
		for i, row := range p.Coeffs {
			q := uint64(0)
			if i < len(moduli) {
				q = moduli[i]
			}
			rows = append(rows, rowRef{row, q})
		}
	})
	if len(rows) != len(s.runs) {
		return false, nil
	}
	for i, r := range rows {
		if s.runs[i][1]-s.runs[i][0] != 8*len(r.row) || r.q == 0 {
			return false, nil
		}
	}
	for i, r := range rows {
		copy(rowBytes(r.row), b[s.runs[i][0]:s.runs[i][1]])
		for j, c := range r.row {
			if c >= r.q {
				return true, fmt.Errorf("he: %s: coefficient %d of row %d is %d, not reduced modulo %d", s.what, j, i, c, r.q)
			}
		}
	}
	return true, nil
}

// AddPoly checks that b is the encoding of a polynomial over Q at the given
// level (the checks of UnmarshalPoly) and adds it to dst, whose
// coefficients must be reduced, with crypto/kernel's Add, without decoding
// into a fresh polynomial. On error dst is unchanged.
func (c *Codec) AddPoly(dst ring.Poly, b []byte, level int, what string) error {
	s, visit, err := c.polyShape(level, what)
	if err != nil {
		return err
	}
	if len(dst.Coeffs) <= level {
		return fmt.Errorf("he: %s: destination at level %d", s.what, len(dst.Coeffs)-1)
	}
	if ok, err := c.addEncoded(s, b, dst.Coeffs[:level+1], level+1); ok {
		return err
	}
	o, err := s.decode(b, visit) // not lattigo's layout as this code knows it
	if err != nil {
		return err
	}
	p := o.(*ring.Poly)
	for i, sub := range c.params.RingQ().SubRings[:level+1] {
		kernel.Add(sub, dst.Coeffs[i], p.Coeffs[i], dst.Coeffs[i])
	}
	return nil
}

// words returns scratch space of at least n words from the codec's pool
// (AddPoly runs on many goroutines at once).
func (c *Codec) words(n int) *[]uint64 {
	if w, ok := c.scratch.Get().(*[]uint64); ok && len(*w) >= n {
		return w
	}
	w := make([]uint64, n)
	return &w
}

// decodeRow sets row to the little-endian words of b (8·len(row) bytes).
func decodeRow(row []uint64, b []byte) {
	if littleEndian {
		copy(rowBytes(row), b)
		return
	}
	for j := range row {
		row[j] = binary.LittleEndian.Uint64(b[8*j:])
	}
}

// firstNotBelow returns the index of the first word of row that is q or
// more, or -1. The common case, every word below q, is one branch-free
// pass for the maximum.
func firstNotBelow(row []uint64, q uint64) int {
	var m uint64
	for _, x := range row {
		m = max(m, x)
	}
	if m < q {
		return -1
	}
	for j, x := range row {
		if x >= q {
			return j
		}
	}
	return -1
}

// DigestPoly is SHA-256 of the canonical encoding of p (reducing it in
// place), computed without building the encoding.
func (c *Codec) DigestPoly(p *ring.Poly) [32]byte {
	moduli := c.params.Q()
	h := sha256.New()
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(len(p.Coeffs)))
	h.Write(hdr[:])
	buf := make([]byte, 0, 8*len(p.Coeffs[0]))
	for i, row := range p.Coeffs {
		q := moduli[i]
		for j, x := range row {
			if x >= q {
				row[j] = x % q
			}
		}
		binary.LittleEndian.PutUint64(hdr[:], uint64(len(row)))
		h.Write(hdr[:])
		if littleEndian {
			h.Write(rowBytes(row))
			continue
		}
		buf = buf[:0]
		for _, x := range row {
			buf = binary.LittleEndian.AppendUint64(buf, x)
		}
		h.Write(buf)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
