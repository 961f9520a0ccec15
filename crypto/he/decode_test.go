package he

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// TestDecodeMatchesLattigo: the 128-bit decoding of plaintexts above level 0
// gives lattigo's Decode bit for bit, for coefficients anywhere in [0, Q)
// (the largest magnitudes, the centering boundary) and for encoded values,
// at exact and inexact scales.
func TestDecodeMatchesLattigo(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for _, p := range []*Preset{AffineCI12, AffineCI14, Affine30CI14, SigmoidCI14} {
		params := p.MustParams()
		enc, _ := NewEncoder(p)
		ref := hefloat.NewEncoder(params)
		fast := 0
		for level := 1; level <= params.MaxLevel(); level++ {
			if enc.crt[level] == nil {
				continue
			}
			fast++
			rq := params.RingQ().AtLevel(level)
			for _, tc := range []struct {
				name  string
				scale float64 // log2
			}{{"uniform", 82}, {"uniform", 52.0007}, {"values", 94}, {"values", 82}, {"values", 52.0007}, {"values", 34}} {
				pt := hefloat.NewPlaintext(params, level)
				switch tc.name {
				case "uniform":
					for j, q := range rq.ModuliChain()[:level+1] {
						for i := range pt.Value.Coeffs[j] {
							pt.Value.Coeffs[j][i] = r.Uint64N(q)
						}
					}
					// Coefficients 0, 1 are ±Q/2 around the centering cut.
					half := new(big.Int).Rsh(rq.ModulusAtLevel[level], 1)
					for k, v := range []*big.Int{half, new(big.Int).Sub(half, big.NewInt(1))} {
						for j, q := range rq.ModuliChain()[:level+1] {
							pt.Value.Coeffs[j][k] = new(big.Int).Mod(v, new(big.Int).SetUint64(q)).Uint64()
						}
					}
					pt.IsNTT = false
				case "values":
					top := math.Exp2(math.Floor(rq.LogModuli()) - 3 - math.Ceil(tc.scale))
					vals := randomValues(r, p.Slots(), min(top/8, 1000))
					vals[0] = top
					pt.Scale = rlwe.NewScale(math.Exp2(tc.scale))
					if err := ref.Encode(vals, pt); err != nil {
						t.Fatal(err)
					}
				}
				pt.Scale = rlwe.NewScale(math.Exp2(tc.scale))
				got := make([]float64, p.Slots())
				want := make([]float64, p.Slots())
				if err := enc.Decode(pt, got); err != nil {
					t.Fatal(err)
				}
				if err := ref.Decode(pt, want); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%s level %d %s 2^%v: slot %d: %v, lattigo %v", p.Name, level, tc.name, tc.scale, i, got[i], want[i])
					}
				}
			}
		}
		if fast == 0 && p != SigmoidCI14 {
			t.Errorf("%s: no level decodes through 128 bits", p.Name)
		}
	}
}

// TestU128Float: the conversion rounds to nearest, ties to even, as
// big.Float.Float64 does.
func TestU128Float(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	cases := [][2]uint64{{0, 0}, {0, 1}, {0, math.MaxUint64}, {1, 0}, {math.MaxUint64, math.MaxUint64},
		{1 << 10, 1 << 11}, {1 << 10, 1<<11 + 1}, {1 << 10, 1<<12 + 1<<11}, {1 << 10, 1 << 12}}
	for range 100000 {
		hi := r.Uint64() >> r.UintN(64)
		cases = append(cases, [2]uint64{hi, r.Uint64()})
	}
	for _, c := range cases {
		x := new(big.Int).Lsh(new(big.Int).SetUint64(c[0]), 64)
		x.Add(x, new(big.Int).SetUint64(c[1]))
		want, _ := new(big.Float).SetInt(x).Float64()
		if got := u128Float(c[0], c[1]); got != want {
			t.Fatalf("%s: %v, want %v", fmt.Sprint(x), got, want)
		}
	}
}

// BenchmarkDecode decodes a plaintext at the level where affine results
// are decoded (affine-ci14: 1; affine30-ci14: 3, and 2 for comparison),
// through 128-bit words and through lattigo's big.Int path.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		p     *Preset
		level int
	}{{AffineCI14, 1}, {Affine30CI14, 2}, {Affine30CI14, 3}} {
		params := tc.p.MustParams()
		enc, _ := NewEncoder(tc.p)
		ref := hefloat.NewEncoder(params)
		pt, err := enc.Encode(randomValues(rand.New(rand.NewPCG(1, 1)), tc.p.Slots(), 3), tc.level, 52)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]float64, tc.p.Slots())
		b.Run(fmt.Sprintf("%s/level%d/crt", tc.p.Name, tc.level), func(b *testing.B) {
			for b.Loop() {
				if err := enc.Decode(pt, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.p.Slots()), "ns/slot")
		})
		b.Run(fmt.Sprintf("%s/level%d/lattigo", tc.p.Name, tc.level), func(b *testing.B) {
			for b.Loop() {
				if err := ref.Decode(pt, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.p.Slots()), "ns/slot")
		})
	}
}
