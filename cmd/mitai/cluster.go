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

func clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "The coordinator cluster"}
	var f coordFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "Show every replica (Raft state, leader, term, applied index) and every node's health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var resp *mitaiv1.ClusterStatusResponse
			err = c.Call(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
				resp, err = cl.ClusterStatus(ctx, &mitaiv1.ClusterStatusRequest{})
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPLICA\tAPI\tSTATE\tLEADER\tTERM\tLAST INDEX\tAPPLIED\tERROR")
			for _, r := range resp.Replicas {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.Id, r.ApiAddress, r.State, r.LeaderId, r.Term, r.LastIndex, r.AppliedIndex, r.Error)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(resp.Nodes) == 0 {
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout())
			tw = tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tADDRESS\tHEALTH\tLEASE RENEWED\tRUNNING/SLOTS\tDATASETS")
			for _, n := range resp.Nodes {
				health, last := "dead", "unknown"
				if n.Alive {
					health = "alive"
				}
				if n.LastHeartbeatMsAgo >= 0 {
					last = (time.Duration(n.LastHeartbeatMsAgo) * time.Millisecond).String() + " ago"
				}
				fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%d/%d\t%s\n", n.Party, n.Node, n.Address, health, last, n.Running, n.Slots, strings.Join(n.Datasets, ","))
			}
			return tw.Flush()
		},
	}
	f.register(status)
	cmd.AddCommand(status)
	return cmd
}
