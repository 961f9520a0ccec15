package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/bench/datagen"
)

func datagenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "datagen", Short: "Write synthetic party tables for demos and benchmarks"}
	var (
		c       datagen.Credit
		parties string
		out     string
	)
	creditCmd := &cobra.Command{
		Use:   "credit --parties bank,bureau,telco --rows N --overlap F --out DIR",
		Short: "Credit data: the bank's customers with a default label, other holders' features, a planted logistic model",
		Long: `Writes DIR/<party>.csv for every party (key column "id" first; the first
party is the bank and its second column is the label "default"), the planted
model of each party as DIR/model_<party>.json (the score job's model format:
the bank's holds the intercept), and DIR/manifest.json.

Each party holds --rows customers; a fraction --overlap of them is held by
every party, the rest by that party alone. The label is drawn from the
planted model over all parties' features, so joint scores beat the bank's
own (about 0.81 against 0.75 AUC with bank,bureau,telco).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Parties = strings.Split(parties, ",")
			for i, p := range c.Parties {
				c.Parties[i] = strings.TrimSpace(p)
			}
			if slices.Contains(c.Parties, "") {
				return fmt.Errorf("--parties %q: empty party name", parties)
			}
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			f, err := c.Write(out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %d parties x %d rows to %s (%d customers at every party, default rate %.1f%%)\n",
				len(c.Parties), c.Rows, out, f.Common, 100*f.DefaultRate)
			for _, p := range c.Parties {
				fmt.Fprintf(w, "  %-10s %s  %s\n", p, f.Tables[p], f.Models[p])
			}
			fmt.Fprintf(w, "  manifest   %s\n", f.Manifest)
			return nil
		},
	}
	fl := creditCmd.Flags()
	fl.StringVar(&parties, "parties", "bank,bureau,telco", "comma-separated parties, the bank (label holder) first")
	fl.IntVar(&c.Rows, "rows", 10000, "customers per party")
	fl.Float64Var(&c.Overlap, "overlap", 0.8, "fraction of each party's customers that every party holds")
	fl.Uint64Var(&c.Seed, "seed", 1, "generator seed")
	fl.StringVar(&out, "out", "", "output folder (created if missing)")
	cmd.AddCommand(creditCmd)
	return cmd
}
