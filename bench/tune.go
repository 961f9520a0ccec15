package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/internal/tuning"
	"github.com/mitai-dev/mitai/protocol"
	"github.com/mitai-dev/mitai/protocol/keygen"
	"github.com/mitai-dev/mitai/protocol/psi"
	"github.com/mitai-dev/mitai/protocol/score"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"golang.org/x/sync/errgroup"
)

// TuneOptions configure RunTune. Zero values take the defaults.
type TuneOptions struct {
	// Presets are the score presets to choose from (default: every preset
	// for the affine score circuit at N = 2^14).
	Presets []string
	// ScoreRows is the size of the score job timed for each candidate
	// (default 131,072: eight ciphertexts a party at N = 2^14).
	ScoreRows int
	// PSIRows is the keys of the PSI work timed for each worker count
	// (default 20,000).
	PSIRows int
	// PSIBatchRows is the keys per party of the PSI job timed for each
	// batch size (default 65,536: at least four batches of the largest
	// candidate, so that no candidate wins by sending fewer messages only
	// because the set is small).
	PSIBatchRows int
	// Variants are the kernel variants to choose from (default
	// kernel.Variants(): every one this CPU runs). Naming fewer tunes for a
	// host without the others (generic,avx2 for an AVX2-only server).
	Variants []string
	// Rounds is the number of timings of each candidate (default 5).
	Rounds int
	// ChartLogN are the ring degrees of the kernel sweep behind the speedup
	// chart (default 12..16).
	ChartLogN []int
	Seed      uint64
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

func (o TuneOptions) withDefaults() (TuneOptions, error) {
	if len(o.Presets) == 0 {
		for _, p := range he.Presets() {
			if p.LogN == 14 && !p.Relinearization {
				o.Presets = append(o.Presets, p.Name)
			}
		}
	}
	for _, name := range o.Presets {
		if _, err := he.PresetByName(name); err != nil {
			return o, fmt.Errorf("bench tune: %w", err)
		}
	}
	if o.ScoreRows == 0 {
		o.ScoreRows = 8 << 14
	}
	if o.PSIBatchRows == 0 {
		o.PSIBatchRows = 4 * psiBatchSizes[len(psiBatchSizes)-1]
	}
	if o.PSIRows == 0 {
		o.PSIRows = 20_000
	}
	if o.Rounds == 0 {
		o.Rounds = 5
	}
	if len(o.ChartLogN) == 0 {
		o.ChartLogN = []int{12, 13, 14, 15, 16}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if len(o.Variants) == 0 {
		o.Variants = kernel.Variants()
	}
	for _, v := range o.Variants {
		if _, err := kernel.Get(v); err != nil {
			return o, fmt.Errorf("bench tune: %w", err)
		}
	}
	if o.ScoreRows < 1 || o.PSIRows < 1 || o.PSIBatchRows < 1 || o.Rounds < 1 {
		return o, fmt.Errorf("bench tune: score rows %d, psi rows %d, psi batch rows %d, rounds %d: each must be at least 1", o.ScoreRows, o.PSIRows, o.PSIBatchRows, o.Rounds)
	}
	return o, nil
}

// TuneReport is the outcome of RunTune: the profile and the kernel sweep
// behind the speedup chart.
type TuneReport struct {
	Profile *tuning.Profile `json:"profile"`
	// Sweep times every operation at the chosen preset's prime size and
	// limb count over ChartLogN, lattigo beside every variant.
	Sweep *KernelReport `json:"kernel_sweep"`
}

// RunTune searches this host's choices and returns the fastest profile:
//
//  1. for each preset, every kernel operation with every variant the CPU
//     runs, on the ring and limb count of the preset's score circuit: the
//     fastest variant per operation;
//  2. the score job on each preset with its kernels: the fastest preset;
//  3. one party's score work (encode, encrypt, key-switch share of its
//     blocks) with 1, GOMAXPROCS and 2·GOMAXPROCS workers (parallelism
//     across ciphertexts), each with the limbs of a ciphertext one after the
//     other or on up to GOMAXPROCS goroutines (across limbs), as one node
//     does it (in the in-process job every party shares the cores);
//  4. one PSI role's group work (hash and blind its keys, batch by batch)
//     with the same worker counts, as a node does it;
//  5. the same PSI job with batches of a quarter of, and four times, the
//     default size (psi.DefaultBatchSize), with the chosen workers.
//
// Each candidate is timed Rounds times, the candidates interleaved (the
// order rotating each round) so that the machine's load touches them alike;
// the median decides. The process's kernel variant is restored afterwards.
func RunTune(ctx context.Context, o TuneOptions) (*TuneReport, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	prev := kernel.Active()
	defer kernel.SetActive(prev)
	prof := &tuning.Profile{Version: tuning.Version, Created: time.Now().UTC(), Host: tuning.ThisHost()}
	progress := o.Progress

	// 1. Kernels per preset.
	kernelsFor := map[string]map[string]string{}
	choicesFor := map[string][]tuning.Choice{}
	for _, name := range o.Presets {
		p, _ := he.PresetByName(name)
		r, err := presetRing(p)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "kernels on %s's ring: N=2^%d, %d limbs of %d bits\n", p.Name, p.LogN, len(r.SubRings), bitLen(r.SubRings[0].Modulus))
		kernelsFor[name], choicesFor[name], err = tuneKernels(ctx, r, p, o)
		if err != nil {
			return nil, err
		}
	}

	// 2. The preset, each with its kernels (operations not tuned run the best
	// of o.Variants).
	base, err := kernel.Get(o.Variants[len(o.Variants)-1])
	if err != nil {
		return nil, err
	}
	runner, err := newScoreRunner(ctx, o.Presets, o.ScoreRows, o.Seed, progress)
	if err != nil {
		return nil, err
	}
	var presetCands []tuneCandidate
	for _, name := range o.Presets {
		k, err := kernel.Compose("tuned", base, kernelsFor[name])
		if err != nil {
			return nil, err
		}
		presetCands = append(presetCands, tuneCandidate{name: name, run: func() (float64, error) {
			kernel.SetActive(k)
			return runner.run(ctx, name, 0)
		}})
	}
	choice, _, err := timeCandidates(fmt.Sprintf("score preset (%d rows, 3 parties, kernels tuned per preset)", o.ScoreRows), "score preset", "s", presetCands, he.DefaultPreset, o.Rounds, progress)
	if err != nil {
		return nil, err
	}
	prof.Preset = choice.Chosen
	prof.Kernels = kernelsFor[prof.Preset]
	prof.Choices = append(prof.Choices, choicesFor[prof.Preset]...)
	prof.Choices = append(prof.Choices, choice)
	tuned, err := prof.KernelImpl()
	if err != nil {
		return nil, err
	}
	kernel.SetActive(tuned)

	// 3. Score parallelism across ciphertexts (workers) and across the
	// limbs of one ciphertext: one party's ciphertext work, as a node does it.
	preset, _ := he.PresetByName(prof.Preset)
	blocks := max(4*runtime.GOMAXPROCS(0), he.Blocks(o.ScoreRows, preset.Slots()))
	work, err := newPartyWork(preset, runner.keys[prof.Preset][runner.names[0]], runner.names, blocks)
	if err != nil {
		return nil, err
	}
	defer he.SetLimbParallelism(he.LimbParallelism())
	limbs := preset.AffineLevel + 1
	type parallelism struct{ workers, limbs int }
	var pars []parallelism
	var parCands []tuneCandidate
	for _, w := range workerCounts() {
		for _, lp := range slices.Compact([]int{1, min(limbs, runtime.GOMAXPROCS(0))}) {
			pars = append(pars, parallelism{w, lp})
			parCands = append(parCands, tuneCandidate{name: fmt.Sprintf("workers=%d limbs=%d", w, lp), run: func() (float64, error) {
				he.SetLimbParallelism(lp)
				return work.run(w)
			}})
		}
	}
	def := slices.Index(pars, parallelism{runtime.GOMAXPROCS(0), 1})
	choice, chosen, err := timeCandidates(fmt.Sprintf("one party's score work: encode, encrypt and key-switch share of %d blocks, %s (%d limbs)", blocks, prof.Preset, limbs),
		"score parallelism", "s", parCands, parCands[def].name, o.Rounds, progress)
	if err != nil {
		return nil, err
	}
	prof.ScoreWorkers, prof.LimbParallelism = pars[chosen].workers, pars[chosen].limbs
	prof.Choices = append(prof.Choices, choice)

	// 4. PSI workers: one role's group work, as a node does it (the other
	// role runs on another host; in one process the two would share the
	// cores and favour fewer workers).
	keys, _ := psiKeys(o.PSIRows, o.Seed)
	g, err := group.ByName(group.DefaultName)
	if err != nil {
		return nil, err
	}
	workers := workerCounts()
	var workerCands []tuneCandidate
	for _, w := range workers {
		workerCands = append(workerCands, tuneCandidate{name: strconv.Itoa(w), run: func() (float64, error) {
			return psiRoleWork(ctx, g, keys, w, psi.DefaultBatchSize)
		}})
	}
	choice, chosen, err = timeCandidates(fmt.Sprintf("one psi role's group work: %s hash and blind of %d keys in batches of %d", group.DefaultName, o.PSIRows, psi.DefaultBatchSize),
		"psi workers", "s", workerCands, strconv.Itoa(runtime.GOMAXPROCS(0)), o.Rounds, progress)
	if err != nil {
		return nil, err
	}
	prof.PSIWorkers = workers[chosen]
	prof.Choices = append(prof.Choices, choice)

	// 5. PSI batch size, with those workers: both roles over a pipe, since
	// the batch size sets how their work overlaps.
	bleft, bright := psiKeys(o.PSIBatchRows, o.Seed)
	var batchCands []tuneCandidate
	for _, b := range psiBatchSizes {
		batchCands = append(batchCands, tuneCandidate{name: strconv.Itoa(b), run: func() (float64, error) {
			return runPSIPipe(ctx, bleft, bright, prof.PSIWorkers, b)
		}})
	}
	choice, chosen, err = timeCandidates(fmt.Sprintf("psi intersection, %s, %d keys a side, %d workers, both roles in one process", group.DefaultName, o.PSIBatchRows, prof.PSIWorkers),
		"psi batch size", "s", batchCands, strconv.Itoa(psi.DefaultBatchSize), o.Rounds, progress)
	if err != nil {
		return nil, err
	}
	if b := psiBatchSizes[chosen]; b != psi.DefaultBatchSize {
		prof.PSIBatchSize = b
	}
	prof.Choices = append(prof.Choices, choice)

	// The sweep behind the chart, at the chosen preset's prime size and limbs.
	fmt.Fprintf(progress, "kernel sweep for the chart: N=2^%v, %d limbs of %d bits\n", o.ChartLogN, limbs, preset.MaxPrimeBits())
	sweep, err := RunKernels(ctx, KernelOptions{LogN: o.ChartLogN, Limbs: []int{limbs}, ModulusBits: []int{preset.MaxPrimeBits()},
		Rings: []string{RingConjugateInvariant}, Variants: o.Variants, Rounds: o.Rounds, Seed: o.Seed, Progress: progress})
	if err != nil {
		return nil, err
	}
	return &TuneReport{Profile: prof, Sweep: sweep}, nil
}

// workerCounts are the candidate goroutine counts: 1, GOMAXPROCS and twice
// that.
func workerCounts() []int {
	n := runtime.GOMAXPROCS(0)
	ws := []int{1, n, 2 * n}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// presetRing is the ring of a preset's score circuit: its ring type, degree
// and the primes of the affine level.
func presetRing(p *he.Preset) (*ring.Ring, error) {
	params, err := p.Params()
	if err != nil {
		return nil, err
	}
	return ring.NewRingFromType(params.N(), p.Q[:p.AffineLevel+1], params.RingType())
}

// tuneKernels picks, for each operation, the variant with the lowest median
// time on r.
func tuneKernels(ctx context.Context, r *ring.Ring, p *he.Preset, o TuneOptions) (map[string]string, []tuning.Choice, error) {
	var impls []*kernel.Impl
	for _, v := range o.Variants {
		k, err := kernel.Get(v)
		if err != nil {
			return nil, nil, err
		}
		impls = append(impls, k)
	}
	in := newKernelInputs(r, mrand.New(mrand.NewPCG(o.Seed, 0x74756e65)))
	on := fmt.Sprintf("%s ring: N=2^%d, %d limbs of %d bits, one call over all limbs", p.Name, p.LogN, len(r.SubRings), bitLen(r.SubRings[0].Modulus))
	chosen := map[string]string{}
	var choices []tuning.Choice
	for _, op := range kernel.Ops {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		res, err := timeKernelOp(op, r, in, impls, KernelOptions{Rounds: o.Rounds, MinTime: 10 * time.Millisecond})
		if err != nil {
			return nil, nil, err
		}
		c := tuning.Choice{Setting: "kernel " + op, On: on, Unit: "ns"}
		for _, kr := range res {
			if kr.Variant == LattigoVariant {
				continue // a reference, not a choice: generic computes the same in Go
			}
			c.Candidates = append(c.Candidates, tuning.Candidate{Name: kr.Variant, Median: kr.NsPerOp, Samples: kr.SamplesNs})
		}
		decide(&c)
		chosen[op] = c.Chosen
		choices = append(choices, c)
		fmt.Fprintf(o.Progress, "  %-36s %s\n", op, describe(c))
	}
	return chosen, choices, nil
}

// settle is how much faster than the default a candidate must be to replace
// it in a whole-job choice: a smaller difference is within the noise of a
// shared machine.
const settle = 1.03

// decideWithDefault is decide, except that the default candidate (named
// def) stays chosen unless another's median beats it by the factor settle.
func decideWithDefault(c *tuning.Choice, def string) {
	decide(c)
	best, worst := math.Inf(1), 0.0
	for _, cand := range c.Candidates {
		best, worst = min(best, cand.Median), max(worst, cand.Median)
	}
	for _, cand := range c.Candidates {
		if cand.Name == def && cand.Median <= settle*best {
			c.Chosen, c.Gain = def, worst/cand.Median
		}
	}
}

// decide sets the choice's Chosen (lowest median) and Gain.
func decide(c *tuning.Choice) {
	best, worst := 0, 0
	for i, cand := range c.Candidates {
		if cand.Median < c.Candidates[best].Median {
			best = i
		}
		if cand.Median > c.Candidates[worst].Median {
			worst = i
		}
	}
	c.Chosen = c.Candidates[best].Name
	c.Gain = c.Candidates[worst].Median / c.Candidates[best].Median
}

func describe(c tuning.Choice) string {
	var b strings.Builder
	for i, cand := range c.Candidates {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.4g %s", cand.Name, cand.Median, c.Unit)
	}
	fmt.Fprintf(&b, " -> %s", c.Chosen)
	return b.String()
}

// tuneCandidate is one option of a whole-job choice: run returns seconds.
type tuneCandidate struct {
	name string
	run  func() (float64, error)
}

// timeCandidates times every candidate rounds times, interleaved (the order
// rotating each round), after one untimed warm-up run each, and keeps the
// lowest median, or the default candidate def when it is within settle of it;
// it returns the choice and the index in cands of the one chosen.
func timeCandidates(on, setting, unit string, cands []tuneCandidate, def string, rounds int, progress io.Writer) (tuning.Choice, int, error) {
	fmt.Fprintf(progress, "%s: %d candidates × %d rounds on %s\n", setting, len(cands), rounds, on)
	samples := make([][]float64, len(cands))
	for _, c := range cands {
		if _, err := c.run(); err != nil {
			return tuning.Choice{}, 0, fmt.Errorf("bench tune: %s %s: %w", setting, c.name, err)
		}
	}
	for round := range rounds {
		for j := range cands {
			i := (j + round) % len(cands)
			s, err := cands[i].run()
			if err != nil {
				return tuning.Choice{}, 0, fmt.Errorf("bench tune: %s %s: %w", setting, cands[i].name, err)
			}
			samples[i] = append(samples[i], s)
		}
	}
	c := tuning.Choice{Setting: setting, On: on, Unit: unit}
	for i, cand := range cands {
		c.Candidates = append(c.Candidates, tuning.Candidate{Name: cand.name, Median: median(samples[i]), Samples: samples[i]})
	}
	decideWithDefault(&c, def)
	fmt.Fprintf(progress, "  %s\n", describe(c))
	return c, slices.IndexFunc(cands, func(t tuneCandidate) bool { return t.name == c.Chosen }), nil
}

// scoreRunner holds generated credit data and a collective key set per
// preset, to time score jobs on.
type scoreRunner struct {
	*heData
	keys  map[string]map[string]*keygen.Result // preset -> party -> keys
	names []string                             // the parties, the receiver first
}

func newScoreRunner(ctx context.Context, presets []string, rows int, seed uint64, progress io.Writer) (*scoreRunner, error) {
	o, err := HEOptions{Rows: rows, Seed: seed, Progress: progress}.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := generateHE(o)
	if err != nil {
		return nil, err
	}
	r := &scoreRunner{heData: d, keys: map[string]map[string]*keygen.Result{}, names: o.Parties}
	for _, p := range presets {
		s := make([]byte, 32)
		if _, err := rand.Read(s); err != nil {
			return nil, err
		}
		keys, _, err := keygen.RunLocal(ctx, keygen.Options{JobID: "tune-keygen-" + p, Seed: s, Preset: p, Parties: o.Parties})
		if err != nil {
			return nil, fmt.Errorf("bench tune: keys for %s: %w", p, err)
		}
		r.keys[p] = keys
	}
	return r, nil
}

// run scores the rows on the preset with workers goroutines a party (0:
// GOMAXPROCS) and returns the job's wall seconds. It checks the scores
// against plaintext, so that a fast wrong configuration is an error.
func (r *scoreRunner) run(ctx context.Context, preset string, workers int) (float64, error) {
	res, err := score.RunLocal(ctx, r.parties(r.keys[preset]), score.Options{JobID: "tune-score", Receiver: r.names[0], Workers: workers})
	if err != nil {
		return 0, err
	}
	for j, v := range r.logOdds {
		if d := math.Abs(res.Scores.LogOdds[j] - v); !(d < 1e-3) {
			return 0, fmt.Errorf("score row %d: log-odds off by %g", j, d)
		}
	}
	return res.Wall.Seconds(), nil
}

// keyTable is a psi.Table of keys in memory.
type keyTable [][]byte

func (t keyTable) Len() int                               { return len(t) }
func (t keyTable) Key(i int) []byte                       { return t[i] }
func (t keyTable) AppendPayload(dst []byte, _ int) []byte { return dst }

// psiKeys returns two key lists of n keys with half of them in common.
func psiKeys(n int, seed uint64) (left, right keyTable) {
	rng := mrand.New(mrand.NewPCG(seed, 0x707369))
	for i := range n {
		left = append(left, []byte(fmt.Sprintf("c%016x", rng.Uint64())))
		if i%2 == 0 {
			right = append(right, left[i])
		} else {
			right = append(right, []byte(fmt.Sprintf("c%016x", rng.Uint64())))
		}
	}
	return left, right
}

// psiRoleWork times what dominates one PSI role's CPU: hashing its keys to
// the group and blinding them, batch by batch, each batch's keys split over
// workers goroutines in contiguous chunks, as protocol/psi does.
func psiRoleWork(ctx context.Context, g group.Group, keys keyTable, workers, batch int) (float64, error) {
	a, err := g.NewScalar(rand.Reader)
	if err != nil {
		return 0, err
	}
	defer a.Erase()
	es, dst := g.ElementSize(), []byte("mitai/v1/psi/tune")
	out := make([]byte, batch*es)
	start := time.Now()
	for lo := 0; lo < len(keys); lo += batch {
		hi := min(lo+batch, len(keys))
		var eg errgroup.Group
		chunk := (hi - lo + workers - 1) / workers
		for from := lo; from < hi; from += chunk {
			to := min(from+chunk, hi)
			eg.Go(func() error {
				for i := from; i < to; i++ {
					if err := a.HashMul(out[(i-lo)*es:(i-lo+1)*es], keys[i], dst); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return 0, err
		}
	}
	return time.Since(start).Seconds(), ctx.Err()
}

// psiBatchSizes are the candidate PSI batch sizes: the default, a quarter
// and four times it.
var psiBatchSizes = []int{psi.DefaultBatchSize / 4, psi.DefaultBatchSize, 4 * psi.DefaultBatchSize}

// runPSIPipe runs one intersection between the two tables over an
// in-memory pipe, both roles with workers goroutines and batches of batch
// elements, and returns seconds.
func runPSIPipe(ctx context.Context, left, right keyTable, workers, batch int) (float64, error) {
	g, err := group.ByName(group.DefaultName)
	if err != nil {
		return 0, err
	}
	a, b := protocol.Pipe()
	defer a.Close()
	defer b.Close()
	opts := psi.Options{JobID: "tune-psi", Group: g, Mode: psi.Intersection, Workers: workers, BatchSize: batch}
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := psi.RunSender(ctx, b, right, opts)
		errc <- err
	}()
	res, err := psi.RunReceiver(ctx, a, left, opts)
	if err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	if want := (len(left) + 1) / 2; res.IntersectionSize != want {
		return 0, fmt.Errorf("psi: intersection of %d, want %d", res.IntersectionSize, want)
	}
	return time.Since(start).Seconds(), nil
}

// partyWork is one party's ciphertext work in a score job, for timing the
// worker count a node should use: encode, encrypt and key-switch-share each
// of blocks blocks, spread over workers goroutines, with the party's keys.
// In a real job each node does this for its own party alone, which is why
// it is timed apart from the in-process job (where every party shares the
// cores).
type partyWork struct {
	preset *he.Preset
	keys   *keygen.Result
	sk     *rlwe.SecretKey
	pkR    *rlwe.PublicKey
	values []float64
	blocks int
}

func newPartyWork(p *he.Preset, keys *keygen.Result, parties []string, blocks int) (*partyWork, error) {
	sk, err := keys.Secret.KeySwitchKey(keys.KeySet, parties)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	rk, err := he.NewReceiverKey(p, seed)
	if err != nil {
		return nil, err
	}
	values := make([]float64, p.Slots())
	rng := mrand.New(mrand.NewPCG(uint64(blocks), 0x776f726b))
	for i := range values {
		values[i] = rng.NormFloat64()
	}
	return &partyWork{preset: p, keys: keys, sk: sk, pkR: rk.Public, values: values, blocks: blocks}, nil
}

// run does the work on workers goroutines and returns its wall seconds.
func (w *partyWork) run(workers int) (float64, error) {
	next := make(chan int, w.blocks)
	for b := range w.blocks {
		next <- b
	}
	close(next)
	errs := make(chan error, workers)
	start := time.Now()
	for range workers {
		go func() {
			errs <- w.worker(next)
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return time.Since(start).Seconds(), first
}

func (w *partyWork) worker(next <-chan int) error {
	p := w.preset
	enc, err := he.NewEncoder(p)
	if err != nil {
		return err
	}
	encr, err := he.NewEncryptor(p, w.keys.KeySet.PublicKey)
	if err != nil {
		return err
	}
	ks, err := he.NewKeySwitcher(p, p.LogSmudge)
	if err != nil {
		return err
	}
	for range next {
		pt, err := enc.Encode(w.values, p.AffineLevel, p.AffineLogScale)
		if err != nil {
			return err
		}
		ct, err := encr.EncryptNew(pt)
		if err != nil {
			return err
		}
		ks.Share(w.sk, w.pkR, ct)
	}
	return nil
}
