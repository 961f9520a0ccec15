package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/internal/tuning"
	"github.com/mitai-dev/mitai/protocol/keygen"
	"github.com/mitai-dev/mitai/protocol/score"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// HEOptions configure RunHE.
type HEOptions struct {
	// Rows is the number of aligned rows scored (default 1,000,000).
	Rows int
	// Parties: the receiver (bank) first; default bank, bureau, telco (10
	// features each in datagen's credit schema).
	Parties []string
	// Preset is the parameter preset (default he.DefaultPreset).
	Preset string
	Seed   uint64
	// Workers per party (0: GOMAXPROCS).
	Workers int
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// HEPartyReport is one party's share of the work.
type HEPartyReport struct {
	Party         string             `json:"party"`
	CPUSeconds    float64            `json:"cpu_seconds"`
	CPUByPhase    map[string]float64 `json:"cpu_seconds_by_phase"`
	BytesSent     uint64             `json:"bytes_sent"`
	BytesReceived uint64             `json:"bytes_received"`
	Ciphertexts   int                `json:"ciphertexts"`
}

// HEReport is the outcome of RunHE. Every figure is measured in this run.
type HEReport struct {
	Preset   string   `json:"preset"`
	Parties  []string `json:"parties"`
	Features int      `json:"features_per_party"`

	KeygenWallSeconds float64 `json:"keygen_wall_seconds"`
	// KeySetBytes is the encoded public key set (seeded public key);
	// PublicKeyShareBytes the encoding of one party's share of it, as key
	// generation sends it to each peer; SealedSecretBytes one party's secret
	// share sealed for storage; KeygenBytesPerParty all a party sent during
	// key generation (the share to each peer, hellos, digests).
	KeySetBytes         int    `json:"key_set_bytes"`
	PublicKeyShareBytes int    `json:"public_key_share_bytes"`
	SealedSecretBytes   int    `json:"sealed_secret_share_bytes"`
	KeygenBytesPerParty uint64 `json:"keygen_bytes_sent_per_party"`

	ScoreRows        int     `json:"score_rows"`
	Blocks           int     `json:"blocks"`
	ScoreWallSeconds float64 `json:"score_wall_seconds"`
	// ProcessCPUSeconds is user+system CPU of this process during scoring
	// (all parties, the runtime and the garbage collector).
	ProcessCPUSeconds float64 `json:"process_cpu_seconds"`
	// LoadAverage is the machine's 1-minute load average when scoring
	// began (Linux; 0 elsewhere): other tenants' work shows here.
	LoadAverage float64 `json:"load_average_1m"`
	// CPUByPhase sums the parties' measured CPU per phase: encode, encrypt,
	// transport (serialize, decode, hash, sum), keyswitch, decrypt, plain.
	CPUByPhase  map[string]float64 `json:"cpu_seconds_by_phase"`
	BytesPerRow float64            `json:"bytes_per_row"`
	PerParty    []HEPartyReport    `json:"per_party"`

	// Agreement with the plaintext computation on every row.
	MaxLogOddsError     float64 `json:"max_log_odds_error"`
	MaxProbabilityError float64 `json:"max_probability_error"`
	MaxPointsError      float64 `json:"max_points_error"`

	GenerateSeconds float64 `json:"generate_seconds"`
	Cores           int     `json:"cores"`
	GoVersion       string  `json:"go_version"`
	CPU             string  `json:"cpu"`
}

// RunHE generates aligned credit data for the parties, runs a collective
// key generation and a joint score job with every party in this process
// (connected by protocol pipes, as the protocols' tests do), and measures
// both. It is what `mitai bench he` runs.
func RunHE(ctx context.Context, o HEOptions) (*HEReport, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := generateHE(o)
	if err != nil {
		return nil, err
	}
	return d.measure(ctx, o)
}

func (o HEOptions) withDefaults() (HEOptions, error) {
	if o.Rows == 0 {
		o.Rows = 1_000_000
	}
	if len(o.Parties) == 0 {
		o.Parties = []string{"bank", "bureau", "telco"}
	}
	if o.Preset == "" {
		o.Preset = he.DefaultPreset
	}
	if _, err := he.PresetByName(o.Preset); err != nil {
		return o, err
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o, nil
}

// heData is the generated data a measurement scores.
type heData struct {
	data            *datagen.CreditData
	blocks          map[string]*score.Block
	logOdds         []float64 // the plaintext reference, per aligned row
	generateSeconds float64
}

func generateHE(o HEOptions) (*heData, error) {
	fmt.Fprintf(o.Progress, "generating %d aligned rows for %v\n", o.Rows, o.Parties)
	start := time.Now()
	data, err := datagen.Credit{Parties: o.Parties, Rows: o.Rows, Overlap: 1, Seed: o.Seed}.Generate()
	if err != nil {
		return nil, err
	}
	blocks, _, _ := data.Aligned()
	z, err := data.PlainLogOdds(blocks)
	if err != nil {
		return nil, err
	}
	return &heData{data: data, blocks: blocks, logOdds: z, generateSeconds: time.Since(start).Seconds()}, nil
}

// parties are the data's parties, the receiver first, with their keys.
func (d *heData) parties(keys map[string]*keygen.Result) []score.LocalParty {
	var ps []score.LocalParty
	for _, t := range d.data.Tables {
		k := keys[t.Party]
		ps = append(ps, score.LocalParty{Name: t.Party, Block: d.blocks[t.Party], Model: t.Model, KeySet: k.KeySet, Secret: k.Secret})
	}
	return ps
}

// measure runs a key generation and a score job on d and checks the
// scores against plaintext. o has its defaults.
func (d *heData) measure(ctx context.Context, o HEOptions) (*HEReport, error) {
	data, progress := d.data, o.Progress
	rep := &HEReport{Preset: o.Preset, Parties: o.Parties, ScoreRows: o.Rows, Features: len(data.Tables[0].Columns),
		GenerateSeconds: d.generateSeconds, Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), CPU: tuning.CPUModel()}

	fmt.Fprintf(progress, "collective key generation, %d parties, %s\n", len(o.Parties), o.Preset)
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	keys, wall, err := keygen.RunLocal(ctx, keygen.Options{JobID: "bench-keygen", Seed: seed, Preset: o.Preset, Parties: o.Parties})
	if err != nil {
		return nil, err
	}
	rep.KeygenWallSeconds = wall.Seconds()
	first := keys[o.Parties[0]]
	rep.KeySetBytes = first.KeySet.Size()
	rep.KeygenBytesPerParty = first.BytesSent
	if rep.PublicKeyShareBytes, err = publicKeyShareBytes(o.Preset); err != nil {
		return nil, err
	}
	sealed, err := first.Secret.Seal(seed)
	if err != nil {
		return nil, err
	}
	rep.SealedSecretBytes = len(sealed)

	parties := d.parties(keys)
	fmt.Fprintf(progress, "scoring %d rows\n", o.Rows)
	runtime.GC()
	rep.LoadAverage = loadAverage()
	cpu0 := processCPU()
	res, err := score.RunLocal(ctx, parties, score.Options{JobID: "bench-score", Receiver: o.Parties[0], Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	rep.ProcessCPUSeconds = (processCPU() - cpu0).Seconds()
	rep.ScoreWallSeconds = res.Wall.Seconds()
	rep.CPUByPhase = map[string]float64{}
	var sent uint64
	for _, p := range o.Parties {
		st := res.Stats[p]
		pr := HEPartyReport{Party: p, CPUSeconds: st.TotalCPU().Seconds(), CPUByPhase: map[string]float64{},
			BytesSent: st.BytesSent, BytesReceived: st.BytesReceived, Ciphertexts: st.Ciphertexts}
		for ph, d := range st.CPU {
			if d > 0 {
				name := score.Phase(ph).String()
				pr.CPUByPhase[name] = d.Seconds()
				rep.CPUByPhase[name] += d.Seconds()
			}
		}
		rep.PerParty = append(rep.PerParty, pr)
		rep.Blocks = st.Blocks
		sent += st.BytesSent
	}
	rep.BytesPerRow = float64(sent) / float64(o.Rows)

	// Agreement with plaintext float64 on every row.
	card := score.DefaultScorecard
	for r, v := range d.logOdds {
		rep.MaxLogOddsError = max(rep.MaxLogOddsError, math.Abs(res.Scores.LogOdds[r]-v))
		rep.MaxProbabilityError = max(rep.MaxProbabilityError, math.Abs(res.Scores.Probability[r]-1/(1+math.Exp(-v))))
		rep.MaxPointsError = max(rep.MaxPointsError, math.Abs(res.Scores.Points[r]-card.Points(v)))
	}
	return rep, nil
}

// HERuns is RunHE repeated: the medians of what varies with the machine's
// load, the worst agreement with plaintext, and every run. The fields it
// shares with HEReport have the same JSON names.
type HERuns struct {
	Preset    string   `json:"preset"`
	Parties   []string `json:"parties"`
	Features  int      `json:"features_per_party"`
	ScoreRows int      `json:"score_rows"`

	// Medians over the runs.
	ScoreWallSeconds  float64 `json:"score_wall_seconds"`
	KeygenWallSeconds float64 `json:"keygen_wall_seconds"`
	ProcessCPUSeconds float64 `json:"process_cpu_seconds"`
	BytesPerRow       float64 `json:"bytes_per_row"`

	// The largest over the runs.
	MaxLogOddsError     float64 `json:"max_log_odds_error"`
	MaxProbabilityError float64 `json:"max_probability_error"`
	MaxPointsError      float64 `json:"max_points_error"`

	// MedianRun is the index in Runs of the run whose score wall time is
	// the median (for an even number of runs, the faster of the two in the
	// middle).
	MedianRun int         `json:"median_run"`
	Runs      []*HEReport `json:"runs"`
}

// RunHERepeated generates the data once and measures it n times, one run
// after the other (new keys each time), and summarizes the runs. Every
// run's GenerateSeconds is that one generation.
func RunHERepeated(ctx context.Context, o HEOptions, n int) (*HERuns, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: %d runs, want at least 1", n)
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := generateHE(o)
	if err != nil {
		return nil, err
	}
	progress := o.Progress
	var runs []*HEReport
	for i := range n {
		fmt.Fprintf(progress, "run %d of %d\n", i+1, n)
		rep, err := d.measure(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("bench: run %d of %d: %w", i+1, n, err)
		}
		fmt.Fprintf(progress, "run %d: score %.3f s, key generation %.3f s, process CPU %.2f s, load %.2f\n",
			i+1, rep.ScoreWallSeconds, rep.KeygenWallSeconds, rep.ProcessCPUSeconds, rep.LoadAverage)
		runs = append(runs, rep)
	}
	first := runs[0]
	r := &HERuns{Preset: first.Preset, Parties: first.Parties, Features: first.Features, ScoreRows: first.ScoreRows, Runs: runs}
	med := func(f func(*HEReport) float64) float64 {
		xs := make([]float64, n)
		for i, rep := range runs {
			xs[i] = f(rep)
		}
		return quantile(xs, 0.5)
	}
	r.ScoreWallSeconds = med(func(x *HEReport) float64 { return x.ScoreWallSeconds })
	r.KeygenWallSeconds = med(func(x *HEReport) float64 { return x.KeygenWallSeconds })
	r.ProcessCPUSeconds = med(func(x *HEReport) float64 { return x.ProcessCPUSeconds })
	r.BytesPerRow = med(func(x *HEReport) float64 { return x.BytesPerRow })
	for _, rep := range runs {
		r.MaxLogOddsError = max(r.MaxLogOddsError, rep.MaxLogOddsError)
		r.MaxProbabilityError = max(r.MaxProbabilityError, rep.MaxProbabilityError)
		r.MaxPointsError = max(r.MaxPointsError, rep.MaxPointsError)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(runs[a].ScoreWallSeconds, runs[b].ScoreWallSeconds) })
	r.MedianRun = order[(n-1)/2]
	return r, nil
}

// publicKeyShareBytes is the size of one party's public-key share in the
// encoding key generation sends (fixed by the preset: the codec accepts no
// other size).
func publicKeyShareBytes(preset string) (int, error) {
	p, err := he.PresetByName(preset)
	if err != nil {
		return 0, err
	}
	params, err := p.Params()
	if err != nil {
		return 0, err
	}
	codec, err := he.NewCodec(p)
	if err != nil {
		return 0, err
	}
	share := mhe.NewPublicKeyGenProtocol(params).AllocateShare()
	b, err := codec.Marshal(&share)
	if err != nil {
		return 0, fmt.Errorf("bench: encode a public-key share: %w", err)
	}
	return len(b), nil
}

// loadAverage is the 1-minute load average, or 0 where /proc/loadavg is
// missing.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

// processCPU is this process's user plus system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
