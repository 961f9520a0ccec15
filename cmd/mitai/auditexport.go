package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/internal/coordclient"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// auditExportCmd writes the coordinator's ledger (read through the leader)
// to a JSON Lines file that `mitai audit verify` checks.
func auditExportCmd() *cobra.Command {
	var f coordFlags
	var out string
	var from, to uint64
	cmd := &cobra.Command{
		Use:   "export --out ledger.jsonl",
		Short: "Export the audit ledger from a live replica (consistent read through the leader)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			entries, err := fetchLedger(cmd.Context(), c, from, to)
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), ".ledger-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if err := ledger.WriteJSONL(tmp, entries); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			head := "none"
			if n := len(entries); n > 0 {
				head = fmt.Sprintf("%x", entries[n-1].Hash)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d entries to %s (head %s)\n", len(entries), out, head)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&out, "out", "ledger.jsonl", "output file")
	cmd.Flags().Uint64Var(&from, "from", 1, "first entry")
	cmd.Flags().Uint64Var(&to, "to", 0, "last entry (0: the end)")
	return cmd
}

// fetchLedger reads ledger entries from..to (0: the end) through the
// leader, page by page.
func fetchLedger(ctx context.Context, c *coordclient.Client, from, to uint64) ([]*mitaiv1.AuditEntry, error) {
	var out []*mitaiv1.AuditEntry
	for {
		var resp *mitaiv1.AuditRangeResponse
		err := c.Call(ctx, func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
			resp, err = cl.AuditRange(ctx, &mitaiv1.AuditRangeRequest{From: from, To: to, Read: &mitaiv1.ReadOptions{Consistent: true}})
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Entries...)
		if resp.Next == 0 || resp.Next <= from {
			return out, nil
		}
		from = resp.Next
	}
}
