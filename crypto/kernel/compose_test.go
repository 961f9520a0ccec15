package kernel

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCompose builds, for every variant and every operation, the
// composition that runs that one operation with that variant and the rest
// generic, and checks all operations against lattigo.
func TestCompose(t *testing.T) {
	t.Parallel()
	generic, err := Get(Generic)
	if err != nil {
		t.Fatal(err)
	}
	var impls []*Impl
	for _, v := range Variants() {
		for _, op := range Ops {
			k, err := Compose(v+"/"+op, generic, map[string]string{op: v})
			if err != nil {
				t.Fatal(err)
			}
			impls = append(impls, k)
		}
	}
	for _, bits := range []int{30, 50, 61} {
		r := testRing(t, 12, []int{bits, bits})
		rng := rand.New(rand.NewPCG(uint64(bits), 7))
		N := r.N()
		a, b, c := make([]uint64, N), make([]uint64, N), make([]uint64, N)
		for _, o := range ops {
			for _, s := range r.SubRings {
				fillOperands(rng, o, s.Modulus, a, b, c)
				checkOp(t, o, s, a, b, c, impls)
			}
		}
	}
}

func TestComposeErrors(t *testing.T) {
	generic, _ := Get(Generic)
	for _, tc := range []struct {
		choice map[string]string
		want   string
	}{
		{map[string]string{"FFT": Generic}, "unknown operation"},
		{map[string]string{"NTT": "sse9"}, "unknown variant"},
	} {
		_, err := Compose("x", generic, tc.choice)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compose(%v) error = %v, want %q", tc.choice, err, tc.want)
		}
	}
	if _, err := Compose("x", nil, nil); err == nil {
		t.Error("Compose with no base succeeded")
	}
}

// TestSetActive: the package-level functions follow SetActive.
func TestSetActive(t *testing.T) {
	prev := Active()
	defer SetActive(prev)
	generic, _ := Get(Generic)
	k, err := Compose("tuned", generic, map[string]string{"NTT": Variants()[len(Variants())-1]})
	if err != nil {
		t.Fatal(err)
	}
	SetActive(k)
	if Active().Name() != "tuned" {
		t.Fatalf("Active() = %s", Active().Name())
	}
}
