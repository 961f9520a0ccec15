package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/bench"
	"github.com/mitai-dev/mitai/crypto/he"
)

func benchHECmd() *cobra.Command {
	var o bench.HEOptions
	var asJSON bool
	var runs int
	var cmpFlags compareFlags
	cmd := &cobra.Command{
		Use:   "he [--rows N] [--parties a,b,c] [--preset NAME] [--runs N] [--json]",
		Short: "Run a collective key generation and a joint score under threshold CKKS in this process and report wall time, CPU by party and phase, bytes per row and errors",
		Long: `Generates aligned credit data (bench/datagen: the bank first, 10 features per
party, the planted model as the parties' models), runs a collective key
generation and then one joint score job with every party in this process on
goroutines connected by in-memory pipes (no network, no TLS: "transport" is
serializing, strictly decoding, hashing and summing ciphertexts; bytes are
what the pipes carried). The bank receives the exact scores; every row is
compared with the plaintext computation.

With --runs N the measurement is repeated N times (the same data, new keys)
and the median score and key-generation wall times are reported with every
run; the detailed report is that of the run of the median score.

With --compare the score job runs under three configurations, interleaved,
--compare-runs times each: "lattigo" (lattigo's own encryptor and key-switch
shares, with its samplers and ring arithmetic: the path before mitai's
kernels), "generic" (mitai's samplers, encryptor and shares on the portable
Go kernels) and "tuned" (the profile named by --profile, or without one the
kernels the CPU features choose); all three use default workers and preset
unless the profile says otherwise. The medians are reported side by side
with how many times faster "tuned" ran than each.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runs < 1 {
				return fmt.Errorf("--runs %d: want at least 1", runs)
			}
			for _, p := range o.Parties {
				if p == "" {
					return fmt.Errorf("--parties %q: empty party name", strings.Join(o.Parties, ","))
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				o.Progress = cmd.ErrOrStderr()
			} else {
				o.Progress = w
			}
			if cmpFlags.compare {
				configs, err := cmpFlags.configs(true)
				if err != nil {
					return err
				}
				c, err := bench.RunHECompare(cmd.Context(), o, configs, cmpFlags.runs)
				if err != nil {
					return err
				}
				return printComparison(w, c, asJSON)
			}
			var out any
			if runs == 1 {
				rep, err := bench.RunHE(cmd.Context(), o)
				if err != nil {
					return err
				}
				if !asJSON {
					printHEReport(w, rep)
					return nil
				}
				out = rep
			} else {
				rs, err := bench.RunHERepeated(cmd.Context(), o, runs)
				if err != nil {
					return err
				}
				if !asJSON {
					printHERuns(w, rs)
					return nil
				}
				out = rs
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Rows, "rows", 1_000_000, "aligned rows scored")
	f.StringSliceVar(&o.Parties, "parties", []string{"bank", "bureau", "telco"}, "parties, the receiver (bank) first; two-party exact scoring is refused by the default policy")
	f.StringVar(&o.Preset, "preset", he.DefaultPreset, "CKKS parameter preset ("+presetNames()+")")
	f.Uint64Var(&o.Seed, "seed", 1, "data generator seed")
	f.IntVar(&o.Workers, "workers", 0, "goroutines per party for ciphertext work (0: GOMAXPROCS)")
	f.IntVar(&runs, "runs", 1, "repeat the measurement N times and report the medians and every run")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (progress goes to stderr)")
	cmpFlags.register(f)
	return cmd
}

// hePhases is the order the report prints the CPU phases in.
var hePhases = []string{"encode", "encrypt", "keyswitch", "transport", "evaluate", "decrypt", "plain"}

func printHEReport(w io.Writer, r *bench.HEReport) {
	fmt.Fprintf(w, "\njoint score under threshold CKKS: %d rows, parties %s (%d features each), preset %s (%s, %d cores, %s)\n",
		r.ScoreRows, strings.Join(r.Parties, ", "), r.Features, r.Preset, r.CPU, r.Cores, r.GoVersion)
	fmt.Fprintf(w, "  key generation        %.3f s wall\n", r.KeygenWallSeconds)
	fmt.Fprintf(w, "    key set             %d bytes\n", r.KeySetBytes)
	fmt.Fprintf(w, "    public-key share    %d bytes (sent to each peer)\n", r.PublicKeyShareBytes)
	fmt.Fprintf(w, "    sealed secret share %d bytes\n", r.SealedSecretBytes)
	fmt.Fprintf(w, "    sent per party      %d bytes\n", r.KeygenBytesPerParty)
	fmt.Fprintf(w, "  score wall time       %.3f s (%.0f rows/s, %d blocks; load average %.2f)\n",
		r.ScoreWallSeconds, float64(r.ScoreRows)/r.ScoreWallSeconds, r.Blocks, r.LoadAverage)
	fmt.Fprintf(w, "  process CPU           %.2f s (all parties, runtime, GC)\n", r.ProcessCPUSeconds)
	fmt.Fprintf(w, "  bytes per row         %.1f (all parties' sent)\n", r.BytesPerRow)
	fmt.Fprintf(w, "  max error vs plain    log-odds %.2g, probability %.2g, points %.2g\n",
		r.MaxLogOddsError, r.MaxProbabilityError, r.MaxPointsError)

	var phases []string
	for _, ph := range hePhases {
		if ph != "evaluate" || r.CPUByPhase[ph] > 0 {
			phases = append(phases, ph)
		}
	}
	fmt.Fprintf(w, "\n  CPU seconds by party and phase\n  %-10s", "party")
	for _, ph := range phases {
		fmt.Fprintf(w, " %9s", ph)
	}
	fmt.Fprintf(w, " %9s %11s %11s\n", "total", "sent MB", "received MB")
	var total float64
	var sent, received uint64
	for _, p := range r.PerParty {
		fmt.Fprintf(w, "  %-10s", p.Party)
		for _, ph := range phases {
			fmt.Fprintf(w, " %9.3f", p.CPUByPhase[ph])
		}
		fmt.Fprintf(w, " %9.3f %11.1f %11.1f\n", p.CPUSeconds, float64(p.BytesSent)/1e6, float64(p.BytesReceived)/1e6)
		total += p.CPUSeconds
		sent += p.BytesSent
		received += p.BytesReceived
	}
	fmt.Fprintf(w, "  %-10s", "all")
	for _, ph := range phases {
		fmt.Fprintf(w, " %9.3f", r.CPUByPhase[ph])
	}
	fmt.Fprintf(w, " %9.3f %11.1f %11.1f\n", total, float64(sent)/1e6, float64(received)/1e6)
	if total > 0 {
		fmt.Fprintf(w, "  %-10s", "share")
		for _, ph := range phases {
			fmt.Fprintf(w, " %8.0f%%", 100*r.CPUByPhase[ph]/total)
		}
		fmt.Fprintln(w)
	}
}

func printHERuns(w io.Writer, r *bench.HERuns) {
	fmt.Fprintf(w, "\n%d runs, %d rows, parties %s, preset %s\n", len(r.Runs), r.ScoreRows, strings.Join(r.Parties, ", "), r.Preset)
	fmt.Fprintf(w, "  %-4s %10s %10s %10s %6s\n", "run", "score s", "keygen s", "CPU s", "load")
	for i, x := range r.Runs {
		fmt.Fprintf(w, "  %-4d %10.3f %10.3f %10.2f %6.2f\n", i+1, x.ScoreWallSeconds, x.KeygenWallSeconds, x.ProcessCPUSeconds, x.LoadAverage)
	}
	fmt.Fprintf(w, "  %-4s %10.3f %10.3f %10.2f\n", "med.", r.ScoreWallSeconds, r.KeygenWallSeconds, r.ProcessCPUSeconds)
	fmt.Fprintf(w, "  worst error vs plain: log-odds %.2g, probability %.2g, points %.2g\n",
		r.MaxLogOddsError, r.MaxProbabilityError, r.MaxPointsError)
	fmt.Fprintf(w, "\nthe run of the median score, run %d:", r.MedianRun+1)
	printHEReport(w, r.Runs[r.MedianRun])
}

// presetNames lists crypto/he's parameter presets for flag help.
func presetNames() string {
	var names []string
	for _, p := range he.Presets() {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}
