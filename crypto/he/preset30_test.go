package he

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestWire30: affine30-ci14 ciphertexts at the affine level round-trip, and
// a coefficient that a 50-bit prime would allow but a 30-bit one does not
// is rejected, in every limb.
func TestWire30(t *testing.T) {
	t.Parallel()
	p := Affine30CI14
	tk := newTestKeys(t, p, 2)
	ct := tk.encrypt(t, randomValues(rand.New(rand.NewPCG(7, 8)), 100, 1))
	good, err := ct.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := NewCodec(p)
	if err != nil {
		t.Fatal(err)
	}
	scale := Scale(p.AffineLogScale)
	back, err := codec.UnmarshalCiphertext(good, p.AffineLevel, scale)
	if err != nil || !back.Equal(ct) {
		t.Fatalf("round trip: %v", err)
	}
	if fast, _ := codec.Marshal(ct); !bytes.Equal(fast, good) || codec.CiphertextSize(p.AffineLevel) != len(good) {
		t.Fatal("fast encoding or size differs from lattigo's")
	}
	// Rows are [count][N words]; the last word of limb j of c1 sits
	// (4-1-j) rows before the end; the error counts c0's rows first.
	n := p.Slots()
	for j, q := range p.Q {
		bad := bytes.Clone(good)
		off := len(bad) - 8 - (len(p.Q)-1-j)*(8+8*n)
		binary.LittleEndian.PutUint64(bad[off:], q+1<<31)
		if _, err := codec.UnmarshalCiphertext(bad, p.AffineLevel, scale); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("row %d is", len(p.Q)+j)) {
			t.Errorf("limb %d: coefficient above q = %d: error %v", j, q, err)
		}
	}
}
