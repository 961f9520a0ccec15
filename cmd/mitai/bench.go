package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/bench"
)

func benchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks: end-to-end jobs on real nodes, the coordinator cluster, joint scoring under HE, ring kernels"}
	var o bench.PSIOptions
	var asJSON bool
	var cmpFlags compareFlags
	psiCmd := &cobra.Command{
		Use:   "psi [--rows N] [--overlap F] [--group NAME] [--json]",
		Short: "Run a PSI intersection between two real nodes on loopback and report wall time, bytes, peak RSS and the crypto floor",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				o.Progress = os.Stderr
			} else {
				o.Progress = cmd.OutOrStdout()
			}
			if cmpFlags.compare {
				configs, err := cmpFlags.configs(false)
				if err != nil {
					return err
				}
				c, err := bench.RunPSICompare(cmd.Context(), o, configs, cmpFlags.runs)
				if err != nil {
					return err
				}
				return printComparison(cmd.OutOrStdout(), c, asJSON)
			}
			rep, err := bench.RunPSI(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printPSIReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := psiCmd.Flags()
	f.IntVar(&o.Rows, "rows", 1<<20, "keys per party")
	f.Float64Var(&o.Overlap, "overlap", 0.5, "fraction of each party's keys in the intersection")
	f.StringVar(&o.Group, "group", "", "group (x25519, ristretto255, p256; default x25519)")
	f.Uint64Var(&o.Seed, "seed", 1, "data generator seed")
	f.StringVar(&o.Dir, "dir", "", "working folder (default: a temporary folder, removed after)")
	f.BoolVar(&o.SkipFloor, "skip-floor", false, "do not measure the crypto floor")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	cmpFlags.register(f)
	cmd.AddCommand(psiCmd, benchClusterCmd(), benchHECmd(), benchKernelsCmd(), benchTuneCmd())
	return cmd
}

func printPSIReport(w io.Writer, r *bench.PSIReport) {
	fmt.Fprintf(w, "\nPSI %s, %d x %d keys, overlap %.2f, group %s (%s, %d cores, %s)\n", r.Mode, r.Rows, r.Rows, r.Overlap, r.Group, r.CPU, r.Cores, r.GoVersion)
	fmt.Fprintf(w, "  intersection      %d (planted %d)\n", r.Intersection, r.Expected)
	fmt.Fprintf(w, "  wall time         %.2f s (%.2f µs per key)\n", r.WallSeconds, r.MicrosPerKey)
	if r.FloorSeconds > 0 {
		fmt.Fprintf(w, "  crypto floor      %.2f s (hash+mult %.1f µs, validated mult %.1f µs, on one core); wall/floor %.2f\n", r.FloorSeconds, r.HashMulNanos/1e3, r.MulNanos/1e3, r.FloorRatio)
	}
	fmt.Fprintf(w, "  bytes per key     %.1f (receiver->sender %d, sender->receiver %d)\n", r.BytesPerElement, r.BytesReceiverTo, r.BytesSenderTo)
	for name, rss := range r.PeakRSSByNode {
		fmt.Fprintf(w, "  peak RSS %-8s %.1f MiB\n", name, float64(rss)/(1<<20))
	}
}
