// Package bench measures mitai end to end and its kernels: the PSI
// benchmark runs two real node processes over gRPC + mTLS on loopback and
// compares the job's wall time with the crypto floor measured in the same
// run.
package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/bench/localnet"
	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/internal/tuning"
	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// PSIOptions configure RunPSI.
type PSIOptions struct {
	Rows    int     // keys per party
	Overlap float64 // fraction of each party's keys in the intersection
	Group   string  // crypto/group name; empty means the default
	Seed    uint64
	// Dir is the working folder; empty means a temporary one, removed after.
	Dir string
	// Binary is the mitai binary for the nodes; empty means this executable.
	Binary string
	// Env is added to the nodes' environment; Tuning is the host profile
	// they load (empty: none).
	Env    []string
	Tuning string
	// SkipFloor skips the crypto floor measurement.
	SkipFloor bool
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// PSIReport is the outcome of RunPSI. Every figure is measured in this run.
type PSIReport struct {
	Rows         int     `json:"rows"`
	Overlap      float64 `json:"overlap"`
	Group        string  `json:"group"`
	Mode         string  `json:"mode"`
	Intersection uint64  `json:"intersection"`
	Expected     int     `json:"expected_intersection"`
	// WallSeconds is the job's wall time as the client saw it: both nodes
	// loading their CSV, the protocol over gRPC, the result written.
	WallSeconds float64 `json:"wall_seconds"`
	// FloorSeconds is the time of the same group operations (2 hashes and 4
	// scalar multiplications per key pair, see CryptoFloor) alone, on all cores.
	FloorSeconds    float64          `json:"floor_seconds"`
	FloorRatio      float64          `json:"floor_ratio"`
	HashMulNanos    float64          `json:"hash_mul_ns_per_op"`
	MulNanos        float64          `json:"mul_ns_per_op"`
	MicrosPerKey    float64          `json:"us_per_element"`
	BytesPerElement float64          `json:"bytes_per_element"`
	BytesReceiverTo uint64           `json:"bytes_receiver_to_sender"`
	BytesSenderTo   uint64           `json:"bytes_sender_to_receiver"`
	PeakRSSBytes    int64            `json:"peak_rss_bytes"`
	PeakRSSByNode   map[string]int64 `json:"peak_rss_by_node"`
	GenerateSeconds float64          `json:"generate_seconds"`
	RegisterSeconds float64          `json:"register_seconds"`
	Cores           int              `json:"cores"`
	GoVersion       string           `json:"go_version"`
	CPU             string           `json:"cpu"`
}

// RunPSI generates two tables, starts two nodes, runs one intersection job
// from the receiver's node and measures it.
func RunPSI(ctx context.Context, o PSIOptions) (*PSIReport, error) {
	if o.Group == "" {
		o.Group = group.DefaultName
	}
	g, err := group.ByName(o.Group)
	if err != nil {
		return nil, err
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "mitai-bench-psi-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	rep := &PSIReport{Rows: o.Rows, Overlap: o.Overlap, Group: o.Group, Mode: psi.Intersection.String(),
		Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), CPU: tuning.CPUModel()}

	start := time.Now()
	files, err := datagen.PSIPair{Rows: o.Rows, Overlap: o.Overlap, Seed: o.Seed, KeysOnly: true}.Write(filepath.Join(o.Dir, "data"))
	if err != nil {
		return nil, err
	}
	rep.Expected = files.Common
	rep.GenerateSeconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "generated 2 x %d keys (%d common) in %.1f s\n", o.Rows, files.Common, rep.GenerateSeconds)

	start = time.Now()
	net, err := localnet.Start(ctx, localnet.Options{
		Dir: o.Dir, Binary: o.Binary, LogLevel: "warn", Env: o.Env, Tuning: o.Tuning,
		Parties: []localnet.Party{
			{Name: "bank", Datasets: []node.DatasetConfig{{Name: "customers", Path: files.Left, Key: "id",
				Policy: node.PolicyConfig{Partners: []string{"telco"}, Modes: []string{"intersection"}}}}},
			{Name: "telco", Datasets: []node.DatasetConfig{{Name: "subscribers", Path: files.Right, Key: "id",
				Policy: node.PolicyConfig{Partners: []string{"bank"}, Modes: []string{"intersection"}}}}},
		},
	})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			net.Stop()
		}
	}()
	rep.RegisterSeconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "started 2 nodes and registered the datasets in %.1f s\n", rep.RegisterSeconds)

	bank, telco := net.Nodes["bank"], net.Nodes["telco"]
	spec := node.NewPSITask(
		&mitaiv1.Participant{Party: "bank", Dataset: "customers"},
		&mitaiv1.Participant{Party: "telco", Dataset: "subscribers", Address: telco.Addr},
		[]string{"bank"}, &mitaiv1.PsiParams{Mode: psi.Intersection.Proto(), Group: o.Group})
	start = time.Now()
	report, err := bank.Admin().RunTask(ctx, &mitaiv1.RunTaskRequest{Task: spec})
	if err != nil {
		return nil, fmt.Errorf("bench: psi job: %w", err)
	}
	rep.WallSeconds = time.Since(start).Seconds()
	rep.Intersection = report.IntersectionSize
	if int(report.IntersectionSize) != files.Common {
		return nil, fmt.Errorf("bench: intersection %d, the generator planted %d", report.IntersectionSize, files.Common)
	}
	rep.BytesReceiverTo, rep.BytesSenderTo = report.BytesSent, report.BytesReceived
	rep.BytesPerElement = float64(report.BytesSent+report.BytesReceived) / float64(o.Rows)
	rep.MicrosPerKey = rep.WallSeconds * 1e6 / float64(o.Rows)
	fmt.Fprintf(progress, "psi job: %.1f s wall, %d in the intersection\n", rep.WallSeconds, rep.Intersection)

	net.Stop()
	stopped = true
	rep.PeakRSSByNode = map[string]int64{}
	for name, p := range net.Nodes {
		rep.PeakRSSByNode[name] = p.PeakRSS
		rep.PeakRSSBytes = max(rep.PeakRSSBytes, p.PeakRSS)
	}

	if !o.SkipFloor {
		fmt.Fprintf(progress, "measuring the crypto floor: %d hashes and %d scalar multiplications on %d cores\n", 2*o.Rows, 4*o.Rows, rep.Cores)
		floor, hashMulNs, mulNs, err := CryptoFloor(ctx, g, o.Rows)
		if err != nil {
			return nil, err
		}
		rep.FloorSeconds, rep.HashMulNanos, rep.MulNanos = floor.Seconds(), hashMulNs, mulNs
		rep.FloorRatio = rep.WallSeconds / rep.FloorSeconds
	}
	return rep, nil
}

// CryptoFloor times what ECDH-PSI must compute for n keys a side, on
// GOMAXPROCS goroutines: 2n hash-to-group with a scalar multiplication (each
// party blinding its own keys) and 2n scalar multiplications of validated
// peer elements (each re-blinding the other's). It returns the total and the
// cost of one of each on one core.
func CryptoFloor(ctx context.Context, g group.Group, n int) (total time.Duration, hashMulNs, mulNs float64, err error) {
	s, err := g.NewScalar(rand.Reader)
	if err != nil {
		return 0, 0, 0, err
	}
	defer s.Erase()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	hashMulTime := make([]time.Duration, workers)
	mulTime := make([]time.Duration, workers)
	errs := make([]error, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			el := make([]byte, g.ElementSize())
			msg := make([]byte, 12)
			dst := []byte("mitai/v1/psi/floor")
			lo, hi := w*n/workers, (w+1)*n/workers
			for i := lo; i < hi; i++ {
				if i%4096 == 0 && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				msg = fmt.Appendf(msg[:0], "%012d", i)
				// Per key pair: each party blinds its own key once (hash and
				// multiply), and re-blinds one of the other's, validating it.
				t0 := time.Now()
				for range 2 {
					if err := s.HashMul(el, msg, dst); err != nil {
						errs[w] = err
						return
					}
				}
				t1 := time.Now()
				for range 2 {
					if err := s.Mul(el, el); err != nil {
						errs[w] = err
						return
					}
				}
				hashMulTime[w] += t1.Sub(t0)
				mulTime[w] += time.Since(t1)
			}
		}()
	}
	wg.Wait()
	total = time.Since(start)
	for _, e := range errs {
		if e != nil {
			return 0, 0, 0, e
		}
	}
	var hm, m time.Duration
	for w := range workers {
		hm += hashMulTime[w]
		m += mulTime[w]
	}
	return total, float64(hm.Nanoseconds()) / float64(2*n), float64(m.Nanoseconds()) / float64(2*n), nil
}
