package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/internal/tuning"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// LattigoVariant names lattigo's own ring code in kernel benchmark results.
const LattigoVariant = "lattigo"

// Ring types of KernelOptions.Rings: lattigo's ring.Standard (NthRoot 2N)
// and ring.ConjugateInvariant (NthRoot 4N, the CKKS presets' ring).
const (
	RingStandard           = "standard"
	RingConjugateInvariant = "ci"
)

// KernelOptions configure RunKernels. Zero values take the defaults.
type KernelOptions struct {
	// LogN are the ring degrees as log2 N (default 12..16; at least 3).
	LogN []int
	// Limbs are the numbers of RNS limbs per polynomial (default 4).
	Limbs []int
	// ModulusBits are the sizes of the primes, 30..61 (default 30, 50, 61:
	// the AVX2, IFMA and generic ranges).
	ModulusBits []int
	// Rings are the ring types, RingStandard or RingConjugateInvariant
	// (default RingStandard). Only the NTTs differ between them; lattigo is
	// timed on the same ring.
	Rings []string
	// Ops are the operations to time (default kernel.Ops).
	Ops []string
	// Variants are the crypto/kernel variants to time beside lattigo
	// (default kernel.Variants(): every one this CPU runs).
	Variants []string
	// Rounds is the number of timings of each candidate; the median is
	// reported (default 5).
	Rounds int
	// MinTime is the least duration of one timing (default 10ms).
	MinTime time.Duration
	// Seed of the random inputs.
	Seed uint64
	// Progress receives one line per measured case; nil discards.
	Progress io.Writer
}

func (o KernelOptions) withDefaults() (KernelOptions, error) {
	if len(o.LogN) == 0 {
		o.LogN = []int{12, 13, 14, 15, 16}
	}
	if len(o.Limbs) == 0 {
		o.Limbs = []int{4}
	}
	if len(o.ModulusBits) == 0 {
		o.ModulusBits = []int{30, 50, 61}
	}
	if len(o.Ops) == 0 {
		o.Ops = kernel.Ops
	}
	if len(o.Rings) == 0 {
		o.Rings = []string{RingStandard}
	}
	if len(o.Variants) == 0 {
		o.Variants = kernel.Variants()
	}
	if o.Rounds == 0 {
		o.Rounds = 5
	}
	if o.MinTime == 0 {
		o.MinTime = 10 * time.Millisecond
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for _, l := range o.LogN {
		if l < 3 || l > 17 {
			return o, fmt.Errorf("bench kernels: log2 N %d: want 3..17", l)
		}
	}
	for _, l := range o.Limbs {
		if l < 1 || l > 64 {
			return o, fmt.Errorf("bench kernels: %d limbs: want 1..64", l)
		}
	}
	for _, b := range o.ModulusBits {
		if b < 30 || b > 61 {
			return o, fmt.Errorf("bench kernels: %d-bit moduli: want 30..61 (lattigo's NTT needs q < 2^61)", b)
		}
	}
	for _, r := range o.Rings {
		if r != RingStandard && r != RingConjugateInvariant {
			return o, fmt.Errorf("bench kernels: unknown ring type %q (known: %s, %s)", r, RingStandard, RingConjugateInvariant)
		}
	}
	for _, op := range o.Ops {
		if !slices.Contains(kernel.Ops, op) {
			return o, fmt.Errorf("bench kernels: unknown op %q (known: %s)", op, strings.Join(kernel.Ops, ", "))
		}
	}
	for _, v := range o.Variants {
		if _, err := kernel.Get(v); err != nil {
			return o, fmt.Errorf("bench kernels: %w", err)
		}
	}
	if o.Rounds < 1 {
		return o, fmt.Errorf("bench kernels: %d rounds: want at least 1", o.Rounds)
	}
	return o, nil
}

// KernelResult is the timing of one operation by one candidate on one ring.
// A call is the operation over every limb of one polynomial.
type KernelResult struct {
	Op          string `json:"op"`
	N           int    `json:"n"`
	Limbs       int    `json:"limbs"`
	ModulusBits int    `json:"modulus_bits"`
	// Ring is the ring type, RingStandard or RingConjugateInvariant.
	Ring string `json:"ring"`
	// Variant is a crypto/kernel variant or LattigoVariant.
	Variant string `json:"variant"`
	// NsPerOp is the median of the rounds' ns per call.
	NsPerOp float64 `json:"ns_per_op"`
	// Speedup is lattigo's NsPerOp over this one's, from the same run
	// (1 for lattigo itself).
	Speedup float64 `json:"speedup"`
	// SamplesNs are the rounds' ns per call, in round order.
	SamplesNs []float64 `json:"samples_ns"`
}

// KernelReport is the outcome of RunKernels.
type KernelReport struct {
	CPU         string         `json:"cpu"`
	CPUFeatures []string       `json:"cpu_features"`
	GoVersion   string         `json:"go_version"`
	Variants    []string       `json:"variants"`
	Rounds      int            `json:"rounds"`
	Results     []KernelResult `json:"results"`
}

// RunKernels times each operation of crypto/kernel for every ring type, ring
// degree, limb count and modulus size of o, with lattigo's ring code and with each
// variant. Before timing it checks that every variant's output equals
// lattigo's on the benchmark inputs. Each candidate is timed o.Rounds times,
// the candidates interleaved (the order rotates each round) so that a change
// in the machine's load touches them alike, and the median is kept.
func RunKernels(ctx context.Context, o KernelOptions) (*KernelReport, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	impls := make([]*kernel.Impl, len(o.Variants))
	for i, v := range o.Variants {
		impls[i], _ = kernel.Get(v)
	}
	rep := &KernelReport{CPU: tuning.CPUModel(), CPUFeatures: kernel.CPUFeatures(), GoVersion: runtime.Version(),
		Variants: append([]string{LattigoVariant}, o.Variants...), Rounds: o.Rounds}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6b65726e656c))
	for _, typ := range o.Rings {
		for _, logN := range o.LogN {
			for _, bitSize := range o.ModulusBits {
				for _, limbs := range o.Limbs {
					r, err := kernelRing(typ, logN, bitSize, limbs)
					if err != nil {
						return nil, err
					}
					in := newKernelInputs(r, rng)
					for _, op := range o.Ops {
						if err := ctx.Err(); err != nil {
							return nil, err
						}
						res, err := timeKernelOp(op, r, in, impls, o)
						if err != nil {
							return nil, err
						}
						for i := range res {
							res[i].Ring = typ
						}
						rep.Results = append(rep.Results, res...)
						fmt.Fprintf(o.Progress, "%-36s %s N=2^%d limbs=%d %d-bit: %s\n", op, typ, logN, limbs, bitSize, summary(res))
					}
				}
			}
		}
	}
	return rep, nil
}

func summary(res []KernelResult) string {
	var b strings.Builder
	for i, r := range res {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f ns", r.Variant, r.NsPerOp)
	}
	return b.String()
}

// kernelRing builds a ring of type typ and degree 2^logN with limbs
// NTT-friendly primes of bitSize bits (lattigo's generator, downwards from
// 2^bitSize; 1 mod 4N for a conjugate-invariant ring).
func kernelRing(typ string, logN, bitSize, limbs int) (*ring.Ring, error) {
	N := 1 << logN
	rt, nthRoot := ring.Standard, 2*N
	if typ == RingConjugateInvariant {
		rt, nthRoot = ring.ConjugateInvariant, 4*N
	}
	g := ring.NewNTTFriendlyPrimesGenerator(uint64(bitSize), uint64(nthRoot))
	moduli, err := g.NextDownstreamPrimes(limbs)
	if err != nil {
		return nil, fmt.Errorf("bench kernels: %d primes of %d bits for a %s ring of N=2^%d: %w", limbs, bitSize, typ, logN, err)
	}
	r, err := ring.NewRingFromType(N, moduli, rt)
	if err != nil {
		return nil, fmt.Errorf("bench kernels: %s ring N=2^%d: %w", typ, logN, err)
	}
	return r, nil
}

// kernelInputs are reduced random polynomials, a Montgomery scalar per limb
// and an output polynomial.
type kernelInputs struct {
	a, b, out ring.Poly
	scalar    []uint64
}

func newKernelInputs(r *ring.Ring, rng *rand.Rand) *kernelInputs {
	in := &kernelInputs{a: r.NewPoly(), b: r.NewPoly(), out: r.NewPoly(), scalar: make([]uint64, len(r.SubRings))}
	for i, s := range r.SubRings {
		for j := range in.a.Coeffs[i] {
			in.a.Coeffs[i][j] = rng.Uint64N(s.Modulus)
			in.b.Coeffs[i][j] = rng.Uint64N(s.Modulus)
			in.out.Coeffs[i][j] = rng.Uint64N(s.Modulus)
		}
		in.scalar[i] = rng.Uint64N(s.Modulus)
	}
	return in
}

// limbOp runs one operation on limb i, as lattigo (k == nil) or a variant.
type limbOp func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int)

var kernelOpFuncs = map[string]limbOp{
	"NTT": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.NTT(in.a.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.NTT(s, in.a.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"INTT": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.INTT(in.a.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.INTT(s, in.a.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"MulCoeffsMontgomery": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.MulCoeffsMontgomery(in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.MulCoeffsMontgomery(s, in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"MulCoeffsMontgomeryLazy": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.MulCoeffsMontgomeryLazy(in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.MulCoeffsMontgomeryLazy(s, in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"MulCoeffsMontgomeryThenAdd": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.MulCoeffsMontgomeryThenAdd(in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.MulCoeffsMontgomeryThenAdd(s, in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"MulCoeffsMontgomeryLazyThenAddLazy": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.MulCoeffsMontgomeryLazyThenAddLazy(in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.MulCoeffsMontgomeryLazyThenAddLazy(s, in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"MulScalarMontgomeryThenAdd": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.MulScalarMontgomeryThenAdd(in.a.Coeffs[i], in.scalar[i], in.out.Coeffs[i])
		} else {
			k.MulScalarMontgomeryThenAdd(s, in.a.Coeffs[i], in.scalar[i], in.out.Coeffs[i])
		}
	},
	"Add": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.Add(in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.Add(s, in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"Sub": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.Sub(in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.Sub(s, in.a.Coeffs[i], in.b.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"Neg": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.Neg(in.a.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.Neg(s, in.a.Coeffs[i], in.out.Coeffs[i])
		}
	},
	"Reduce": func(k *kernel.Impl, s *ring.SubRing, in *kernelInputs, i int) {
		if k == nil {
			s.Reduce(in.a.Coeffs[i], in.out.Coeffs[i])
		} else {
			k.Reduce(s, in.a.Coeffs[i], in.out.Coeffs[i])
		}
	},
}

// timeKernelOp checks and times op on r for lattigo and every variant.
func timeKernelOp(op string, r *ring.Ring, in *kernelInputs, impls []*kernel.Impl, o KernelOptions) ([]KernelResult, error) {
	f := kernelOpFuncs[op]
	call := func(k *kernel.Impl) {
		for i, s := range r.SubRings {
			f(k, s, in, i)
		}
	}
	cands := append([]*kernel.Impl{nil}, impls...)
	name := func(k *kernel.Impl) string {
		if k == nil {
			return LattigoVariant
		}
		return k.Name()
	}

	// Same words as lattigo, from the same output state (the ThenAdd forms
	// read it).
	start := in.out.CopyNew()
	call(nil)
	want := in.out.CopyNew()
	for _, k := range impls {
		in.out.Copy(*start)
		call(k)
		if !in.out.Equal(want) {
			return nil, fmt.Errorf("bench kernels: %s %s N=%d differs from lattigo", k.Name(), op, r.N())
		}
	}
	in.out.Copy(*start)

	// Calibrate: iterations so that one timing lasts about MinTime, the
	// same count for every candidate, from the slowest one.
	iters := 1
	for {
		var slowest time.Duration
		for _, k := range cands {
			t0 := time.Now()
			for range iters {
				call(k)
			}
			slowest = max(slowest, time.Since(t0))
		}
		if slowest >= o.MinTime || iters >= 1<<24 {
			break
		}
		if slowest <= 0 {
			iters *= 16
			continue
		}
		next := int(float64(iters) * 1.2 * float64(o.MinTime) / float64(slowest))
		iters = max(iters+1, min(next, iters*16))
	}

	samples := make([][]float64, len(cands))
	for round := range o.Rounds {
		for j := range cands {
			c := (j + round) % len(cands)
			k := cands[c]
			// the ThenAdd forms accumulate into out: every timing starts
			// from the same reduced state
			in.out.Copy(*start)
			t0 := time.Now()
			for range iters {
				call(k)
			}
			samples[c] = append(samples[c], float64(time.Since(t0).Nanoseconds())/float64(iters))
		}
	}
	in.out.Copy(*start)

	res := make([]KernelResult, len(cands))
	for c, k := range cands {
		res[c] = KernelResult{Op: op, N: r.N(), Limbs: len(r.SubRings), ModulusBits: bitLen(r.SubRings[0].Modulus),
			Variant: name(k), NsPerOp: median(samples[c]), SamplesNs: samples[c]}
	}
	for c := range res {
		res[c].Speedup = res[0].NsPerOp / res[c].NsPerOp
	}
	return res, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func bitLen(q uint64) int {
	n := 0
	for ; q > 0; q >>= 1 {
		n++
	}
	return n
}

// WriteKernelTable prints rep as a text table: one line per operation and
// ring, ns per call for lattigo and each variant with its speedup.
func WriteKernelTable(w io.Writer, rep *KernelReport) {
	fmt.Fprintf(w, "kernels on %s (%s), %s; median of %d interleaved timings; ns per call over all limbs\n",
		rep.CPU, strings.Join(rep.CPUFeatures, " "), rep.GoVersion, rep.Rounds)
	fmt.Fprintf(w, "%-36s %-8s %7s %5s %4s", "op", "ring", "N", "limbs", "bits")
	for _, v := range rep.Variants {
		if v == LattigoVariant {
			fmt.Fprintf(w, " %12s", v)
		} else {
			fmt.Fprintf(w, " %12s %7s", v, "speedup")
		}
	}
	fmt.Fprintln(w)
	for _, c := range cases(rep.Results) {
		r0 := c[0]
		fmt.Fprintf(w, "%-36s %-8s %7d %5d %4d", r0.Op, r0.Ring, r0.N, r0.Limbs, r0.ModulusBits)
		for _, r := range c {
			if r.Variant == LattigoVariant {
				fmt.Fprintf(w, " %12.0f", r.NsPerOp)
			} else {
				fmt.Fprintf(w, " %12.0f %6.2fx", r.NsPerOp, r.Speedup)
			}
		}
		fmt.Fprintln(w)
	}
}

// cases splits results into runs of one case (operation, ring type, N,
// limbs, prime size), each holding lattigo's and every variant's result.
func cases(results []KernelResult) [][]KernelResult {
	var out [][]KernelResult
	for i := 0; i < len(results); {
		j := i + 1
		for j < len(results) && sameCase(results[j], results[i]) {
			j++
		}
		out = append(out, results[i:j])
		i = j
	}
	return out
}

func sameCase(a, b KernelResult) bool {
	return a.Op == b.Op && a.Ring == b.Ring && a.N == b.N && a.Limbs == b.Limbs && a.ModulusBits == b.ModulusBits
}
