package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"runtime"
	"syscall"
	"time"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/protocol/keygen"
	"github.com/mitai-dev/mitai/protocol/score"
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
	// PublicKeyShareBytes one party's share of it; SealedSecretBytes one
	// party's secret share sealed for storage.
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
		return nil, err
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	rep := &HEReport{Preset: o.Preset, Parties: o.Parties, ScoreRows: o.Rows,
		Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), CPU: cpuModel()}

	fmt.Fprintf(progress, "generating %d aligned rows for %v\n", o.Rows, o.Parties)
	start := time.Now()
	data, err := datagen.Credit{Parties: o.Parties, Rows: o.Rows, Overlap: 1, Seed: o.Seed}.Generate()
	if err != nil {
		return nil, err
	}
	blocks, _, _ := data.Aligned()
	rep.GenerateSeconds = time.Since(start).Seconds()
	rep.Features = len(data.Tables[0].Columns)

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
	rep.PublicKeyShareBytes = int(first.BytesSent) / (len(o.Parties) - 1) // each peer gets the same share; hello and digest are small
	sealed, err := first.Secret.Seal(seed)
	if err != nil {
		return nil, err
	}
	rep.SealedSecretBytes = len(sealed)

	var parties []score.LocalParty
	for _, t := range data.Tables {
		k := keys[t.Party]
		parties = append(parties, score.LocalParty{Name: t.Party, Block: blocks[t.Party], Model: t.Model, KeySet: k.KeySet, Secret: k.Secret})
	}
	fmt.Fprintf(progress, "scoring %d rows\n", o.Rows)
	runtime.GC()
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
	z := make([]float64, o.Rows)
	for i, t := range data.Tables {
		u, err := t.Model.Partial(blocks[t.Party], i == 0, false)
		if err != nil {
			return nil, err
		}
		for r := range u {
			z[r] += u[r]
		}
	}
	card := score.DefaultScorecard
	for r, v := range z {
		rep.MaxLogOddsError = max(rep.MaxLogOddsError, math.Abs(res.Scores.LogOdds[r]-v))
		rep.MaxProbabilityError = max(rep.MaxProbabilityError, math.Abs(res.Scores.Probability[r]-1/(1+math.Exp(-v))))
		rep.MaxPointsError = max(rep.MaxPointsError, math.Abs(res.Scores.Points[r]-card.Points(v)))
	}
	return rep, nil
}

// processCPU is this process's user plus system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
