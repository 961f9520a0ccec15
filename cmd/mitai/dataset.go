package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

func datasetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dataset", Short: "Register, list and remove a node's datasets"}

	var af adminFlags
	var name, file, key, expires string
	var partners, modes, reveal []string
	var minSize uint64
	add := &cobra.Command{
		Use:   "add --name NAME --file PATH --key-column COLUMN --partner PARTY [--reveal PARTY=col1,col2]",
		Short: "Register a CSV file on the node (the node scans it; only metadata is published)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, closeFn, err := af.dial()
			if err != nil {
				return err
			}
			defer closeFn()
			abs, err := filepath.Abs(file)
			if err != nil {
				return err
			}
			pol := &mitaiv1.Policy{Partners: partners, Modes: modes, MinIntersection: minSize}
			for _, r := range reveal {
				party, cols, ok := strings.Cut(r, "=")
				if !ok || party == "" || cols == "" {
					return fmt.Errorf("--reveal %q: want PARTY=col1,col2", r)
				}
				pol.Reveal = append(pol.Reveal, &mitaiv1.ColumnGrant{Party: party, Columns: strings.Split(cols, ",")})
			}
			if expires != "" {
				t, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return fmt.Errorf("--expires: %w", err)
				}
				pol.ExpiresUnix = t.Unix()
			}
			info, err := client.AddDataset(cmd.Context(), &mitaiv1.AddDatasetRequest{Name: name, Path: abs, KeyColumn: key, Policy: pol})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %q: %d rows, key %q, columns %v, sha256 %s, %d duplicate keys\n",
				info.Name, info.Rows, info.KeyColumn, info.Columns, info.Digest, info.DuplicateKeys)
			return nil
		},
	}
	af.register(add)
	add.Flags().StringVar(&name, "name", "", "dataset name")
	add.Flags().StringVar(&file, "file", "", "CSV file with a header, readable by the node")
	add.Flags().StringVar(&key, "key-column", "id", "key column")
	add.Flags().StringSliceVar(&partners, "partner", nil, "party allowed to use the dataset (repeatable)")
	add.Flags().StringSliceVar(&modes, "modes", []string{"intersection", "cardinality", "join"}, "allowed uses: psi modes (intersection, cardinality, join) and job kinds (mpsi, keygen, score)")
	add.Flags().StringArrayVar(&reveal, "reveal", nil, "columns a partner may receive in a join: PARTY=col1,col2 (repeatable)")
	add.Flags().Uint64Var(&minSize, "min-intersection", 0, "smallest intersection a receiver may learn")
	add.Flags().StringVar(&expires, "expires", "", "policy expiry, RFC 3339")
	for _, f := range []string{"name", "file", "partner"} {
		_ = add.MarkFlagRequired(f)
	}

	var lf adminFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the node's datasets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, closeFn, err := lf.dial()
			if err != nil {
				return err
			}
			defer closeFn()
			resp, err := client.ListDatasets(cmd.Context(), &mitaiv1.ListDatasetsRequest{})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROWS\tKEY\tPARTNERS\tMODES\tSHA256")
			for _, d := range resp.Datasets {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.16s…\n", d.Name, d.Rows, d.KeyColumn,
					strings.Join(d.Policy.GetPartners(), ","), strings.Join(d.Policy.GetModes(), ","), d.Digest)
			}
			return tw.Flush()
		},
	}
	lf.register(list)

	var rf adminFlags
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Unregister a dataset (the file is left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, closeFn, err := rf.dial()
			if err != nil {
				return err
			}
			defer closeFn()
			_, err = client.RemoveDataset(cmd.Context(), &mitaiv1.RemoveDatasetRequest{Name: args[0]})
			return err
		},
	}
	rf.register(remove)
	cmd.AddCommand(add, list, remove)
	return cmd
}
