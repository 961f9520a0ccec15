package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

func keysetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keyset", Short: "Collective HE key sets published by keygen jobs"}
	var f coordFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the key sets your party holds a share of (id, keygen job, preset, threshold, participants)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var resp *mitaiv1.ListKeySetsResponse
			err = c.Call(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
				resp, err = cl.ListKeySets(ctx, &mitaiv1.ListKeySetsRequest{})
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY SET\tJOB\tPRESET\tTHRESHOLD\tCREATED\tPARTICIPANTS")
			for _, k := range resp.KeySets {
				th := "all"
				if k.Threshold > 0 {
					th = fmt.Sprintf("%d of %d", k.Threshold, len(k.Participants))
				}
				preset := k.Preset
				if preset == "" {
					preset = "(default)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Id, k.JobId, preset, th,
					time.UnixMilli(k.CreatedUnixMs).UTC().Format(time.RFC3339), strings.Join(k.Participants, ","))
			}
			return tw.Flush()
		},
	}
	f.register(list)
	cmd.AddCommand(list)
	return cmd
}
