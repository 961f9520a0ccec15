package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/bench"
)

func benchKernelsCmd() *cobra.Command {
	var o bench.KernelOptions
	var asJSON bool
	var outDir string
	cmd := &cobra.Command{
		Use:   "kernels [--ring standard,ci] [--logn 12,...,16] [--limbs 4] [--bits 30,50,61] [--ops NTT,...] [--variants generic,...] [--rounds 5] [--json]",
		Short: "Time the ring kernels of crypto/kernel (NTT, Montgomery products, add, sub, neg, reduce) against lattigo's on this CPU",
		Long: `For every ring type, ring degree, limb count and modulus size asked for, times each
operation with lattigo's ring code and with every crypto/kernel variant this
CPU runs (or those named with --variants), after checking that each variant's
output equals lattigo's. A call is the operation over every limb of one
polynomial. Each candidate is timed --rounds times, interleaved, and the median
is reported with the speedup over lattigo measured in the same run. The ring
types are lattigo's standard ring and the conjugate-invariant one ("ci") of
mitai's CKKS presets; only their NTTs differ, and lattigo runs on the same one.

The text table goes to stdout with one progress line per case; with --json
stdout has one JSON array of objects (op, ring, n, limbs, modulus_bits, variant,
ns_per_op, speedup, samples_ns; lattigo's code is variant "lattigo") and the
progress and host go to stderr.

With --out DIR it also writes kernels.md (the table), kernels.json (the
whole report) and kernels-speedup.svg (speedup by operation and N, a panel
per variant) to DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				o.Progress = cmd.ErrOrStderr()
			} else {
				o.Progress = cmd.OutOrStdout()
			}
			rep, err := bench.RunKernels(cmd.Context(), o)
			if err != nil {
				return err
			}
			if outDir != "" {
				paths, err := bench.WriteKernelReports(outDir, rep)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %v\n", paths)
			}
			if !asJSON {
				fmt.Fprintln(cmd.OutOrStdout())
				bench.WriteKernelTable(cmd.OutOrStdout(), rep)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "host: %s (%v), %s, variants %v\n", rep.CPU, rep.CPUFeatures, rep.GoVersion, rep.Variants)
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rep.Results)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Rings, "ring", nil, "ring types: standard, ci (conjugate-invariant) (default standard)")
	f.IntSliceVar(&o.LogN, "logn", nil, "ring degrees as log2 N (default 12,13,14,15,16)")
	f.IntSliceVar(&o.Limbs, "limbs", nil, "RNS limbs per polynomial (default 4)")
	f.IntSliceVar(&o.ModulusBits, "bits", nil, "prime sizes in bits, 30..61 (default 30,50,61)")
	f.StringSliceVar(&o.Ops, "ops", nil, "operations (default all)")
	f.StringSliceVar(&o.Variants, "variants", nil, "crypto/kernel variants (default every one this CPU runs)")
	f.IntVar(&o.Rounds, "rounds", 5, "timings per candidate; the median is reported")
	f.DurationVar(&o.MinTime, "min-time", 0, "least duration of one timing (default 10ms)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the random inputs")
	f.BoolVar(&asJSON, "json", false, "print a JSON array instead of the table")
	f.StringVar(&outDir, "out", "", "folder to write kernels.md, kernels.json and kernels-speedup.svg/.png to")
	return cmd
}
