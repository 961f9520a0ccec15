package bench

import (
	"context"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/crypto/kernel"
)

func TestRunKernelsTiny(t *testing.T) {
	t.Parallel()
	rep, err := RunKernels(context.Background(), KernelOptions{LogN: []int{3, 5}, Limbs: []int{1, 3}, ModulusBits: []int{30, 61},
		Rounds: 2, MinTime: 100 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * 2 * 2 * len(kernel.Ops) * len(rep.Variants); len(rep.Results) != want {
		t.Fatalf("%d results, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		if len(r.SamplesNs) != 2 || r.NsPerOp <= 0 {
			t.Fatalf("bad result %+v", r)
		}
		if r.ModulusBits != 30 && r.ModulusBits != 61 {
			t.Fatalf("modulus of %d bits, want 30 or 61", r.ModulusBits)
		}
	}
}

func TestRunKernelsBothRings(t *testing.T) {
	t.Parallel()
	rep, err := RunKernels(context.Background(), KernelOptions{LogN: []int{4}, Limbs: []int{2}, ModulusBits: []int{50},
		Rings: []string{RingStandard, RingConjugateInvariant}, Ops: []string{"NTT", "INTT"}, Rounds: 1, MinTime: 100 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	rings := map[string]int{}
	for _, r := range rep.Results {
		rings[r.Ring]++
	}
	if n := 2 * len(rep.Variants); rings[RingStandard] != n || rings[RingConjugateInvariant] != n {
		t.Fatalf("results per ring type %v, want %d of each", rings, n)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
