package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/bench"
	"github.com/mitai-dev/mitai/protocol/psi"
)

func benchTuneCmd() *cobra.Command {
	var o bench.TuneOptions
	var out, reportDir string
	cmd := &cobra.Command{
		Use:   "tune --out tuning.json [--presets affine-ci14,...] [--rows 131072] [--psi-rows 20000] [--psi-batch-rows 65536] [--rounds 5]",
		Short: "Find this host's fastest kernels, preset, worker counts and PSI batch size, and write the profile nodes load",
		Long: `Measures, on this host and at the sizes of real jobs:

  1. every crypto/kernel operation with every variant this CPU runs, on the
     ring of each score preset (its degree, limbs and prime sizes);
  2. a 3-party score job on each preset, with that preset's fastest kernels;
  3. one party's score work (encode, encrypt, key-switch share), as one node
     does it, with 1, GOMAXPROCS and 2×GOMAXPROCS workers (across
     ciphertexts), each with a ciphertext's limbs in sequence or in parallel;
  4. one PSI role's group work (hashing and blinding its keys, batch by
     batch) with the same worker counts, as one node does it;
  5. a PSI intersection, both roles in this process, with batches of a
     quarter of, and four times, the default 4,096 elements (a node's PSI
     batch size: two nodes use the smaller of theirs);

and writes the fastest choices to --out, a profile that 'mitai node
--tuning FILE' loads (or that a node finds as tuning.json in its data folder).
Each candidate is timed --rounds times, interleaved with the others, and the
lowest median decides (a worker count or preset keeps its default unless
another candidate is 3% faster); the profile records the CPU model, its
flags, the Go version and every timing behind each choice. A kernel sweep over
N = 2^12..2^16 at the chosen preset's primes follows, for the report.

Reports go to the folder of --out (or --report): tuning.md,
tuning-report.json and tuning-speedup.svg/.png. The preset is advice: all
parties of a key generation job must use the same one, so nodes do not pick
it alone. PSI's batch size is not searched: both roles of a PSI job must use
the same one, so it belongs to the job, not to a host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunTune(cmd.Context(), o)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := rep.Profile.Save(out); err != nil {
				return err
			}
			if reportDir == "" {
				reportDir = filepath.Dir(out)
			}
			paths, err := bench.WriteTuneReports(reportDir, rep)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			p := rep.Profile
			fmt.Fprintf(w, "profile written to %s (reports: %v)\n", out, paths)
			fmt.Fprintf(w, "host: %s %v, %s\n", p.Host.CPU, p.Host.CPUFeatures, p.Host.GoVersion)
			fmt.Fprintf(w, "preset advice: %s; score workers %d, limb parallelism %d; psi workers %d, psi batch size %d\n", p.Preset, p.ScoreWorkers, p.LimbParallelism, p.PSIWorkers, cmp.Or(p.PSIBatchSize, psi.DefaultBatchSize))
			for _, c := range p.Choices {
				fmt.Fprintf(w, "  %-42s %-10s gain %.2fx\n", c.Setting, c.Chosen, c.Gain)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "tuning.json", "where to write the profile")
	f.StringVar(&reportDir, "report", "", "folder for tuning.md, tuning-report.json and tuning-speedup.svg/.png (default: the folder of --out)")
	f.StringSliceVar(&o.Presets, "presets", nil, "score presets to choose from (default: every affine preset at N = 2^14)")
	f.IntVar(&o.ScoreRows, "rows", 0, "rows of the score job timed per candidate (default 131072)")
	f.IntVar(&o.PSIRows, "psi-rows", 0, "keys of one PSI role's work timed per worker count (default 20000)")
	f.IntVar(&o.PSIBatchRows, "psi-batch-rows", 0, "keys a side of the PSI job timed per batch size (default 65536)")
	f.IntVar(&o.Rounds, "rounds", 5, "timings per candidate; the median decides")
	f.StringSliceVar(&o.Variants, "variants", nil, "kernel variants to choose from (default every one this CPU runs; generic,avx2 tunes for an AVX2-only host)")
	f.IntSliceVar(&o.ChartLogN, "chart-logn", nil, "ring degrees (log2 N) of the kernel sweep for the report (default 12..16)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the generated data and inputs")
	return cmd
}
