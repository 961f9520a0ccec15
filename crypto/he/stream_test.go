package he

import (
	"math/bits"
	"testing"
)

// TestStream: both generators give balanced bits, fill and Uint64 read
// the same kind of output, two streams differ, and a host with AES
// instructions gets AES-CTR.
func TestStream(t *testing.T) {
	t.Parallel()
	for _, aes := range []bool{true, false} {
		a, err := newStream(aes)
		if err != nil {
			t.Fatal(err)
		}
		b, err := newStream(aes)
		if err != nil {
			t.Fatal(err)
		}
		if want := aes && hardwareAES; (a.ctr != nil) != want {
			t.Fatalf("newStream(%v) on a host with hardware AES %v: %s", aes, hardwareAES, a.name)
		}
		const n = 1 << 16
		w := make([]uint64, n)
		a.fill(w[:n/2])
		for i := n / 2; i < n; i++ { // across several buffer refills
			w[i] = a.Uint64()
		}
		ones, same := 0, 0
		for _, x := range w {
			ones += bits.OnesCount64(x)
			if x == b.Uint64() {
				same++
			}
		}
		// 2^22 bits: 6 standard deviations are 6·1024.
		if d := ones - 32*n; d > 6*1024 || d < -6*1024 {
			t.Errorf("%s: %d ones in %d bits", a.name, ones, 64*n)
		}
		if same > 0 {
			t.Errorf("%s: two streams agree on %d words", a.name, same)
		}
	}
}

// BenchmarkStream: a polynomial's worth (2^14 words) of random bits from
// each generator.
func BenchmarkStream(b *testing.B) {
	for _, aes := range []bool{true, false} {
		s, err := newStream(aes)
		if err != nil {
			b.Fatal(err)
		}
		w := make([]uint64, 1<<14)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(8 << 14)
			for b.Loop() {
				s.fill(w)
			}
		})
	}
}
