package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

func jobCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Submit and follow jobs (coordinator), or run one directly on a node (run)"}
	var af adminFlags
	var jobID, mode, dataset, peer, peerAddr, peerDataset, group string
	var receivers, columns []string
	var dedupe bool
	run := &cobra.Command{
		Use:   "run --dataset NAME --peer PARTY --peer-address HOST:PORT --peer-dataset NAME [--mode join --columns a,b]",
		Short: "Run a psi task directly from this node's admin API, without the coordinator, and wait for it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, self, closeFn, err := af.dial()
			if err != nil {
				return err
			}
			defer closeFn()
			m, err := psi.ParseMode(mode)
			if err != nil {
				return err
			}
			if len(receivers) == 0 {
				receivers = []string{self}
			}
			spec := node.NewPSITask(
				&mitaiv1.Participant{Party: self, Dataset: dataset},
				&mitaiv1.Participant{Party: peer, Dataset: peerDataset, Address: peerAddr},
				receivers, &mitaiv1.PsiParams{Mode: m.Proto(), Group: group, Columns: columns, Dedupe: dedupe})
			if jobID != "" {
				spec.JobId = jobID
			}
			report, err := client.RunTask(cmd.Context(), &mitaiv1.RunTaskRequest{Task: spec})
			if err != nil {
				return fmt.Errorf("job %s: %s", jobID, status.Convert(err).Message())
			}
			printReport(cmd.OutOrStdout(), report)
			return nil
		},
	}
	af.register(run)
	f := run.Flags()
	f.StringVar(&jobID, "job-id", "", "job identifier (default: random)")
	f.StringVar(&mode, "mode", "intersection", "intersection, cardinality or join")
	f.StringVar(&dataset, "dataset", "", "this node's dataset")
	f.StringVar(&peer, "peer", "", "the other party")
	f.StringVar(&peerAddr, "peer-address", "", "the other party's node, host:port")
	f.StringVar(&peerDataset, "peer-dataset", "", "the other party's dataset")
	f.StringSliceVar(&receivers, "receivers", nil, "parties that receive the result (default: this node's party)")
	f.StringSliceVar(&columns, "columns", nil, "join: the peer's columns to receive")
	f.StringVar(&group, "group", "", "group for the blinding (x25519, ristretto255, p256; default: the node's)")
	f.BoolVar(&dedupe, "dedupe", false, "keep the first row of each duplicated key instead of failing")
	for _, name := range []string{"dataset", "peer", "peer-address", "peer-dataset"} {
		_ = run.MarkFlagRequired(name)
	}
	cmd.AddCommand(run)
	cmd.AddCommand(coordinatorJobCmds()...)
	return cmd
}

// printReport prints what the initiating node learned about a task.
func printReport(w io.Writer, r *mitaiv1.TaskReport) {
	fmt.Fprintf(w, "job %s: ok, this node was the %s\n", r.JobId, r.Role)
	fmt.Fprintf(w, "  rows: %d here, %d at the peer\n", r.LocalRows, r.PeerRows)
	if r.IntersectionKnown {
		fmt.Fprintf(w, "  intersection: %d\n", r.IntersectionSize)
	}
	if r.ResultPath != "" {
		fmt.Fprintf(w, "  result: %s (sha256 %s)\n", r.ResultPath, r.ResultDigest)
	}
	fmt.Fprintf(w, "  bytes: %d sent, %d received; %.2f s\n", r.BytesSent, r.BytesReceived, r.Seconds)
	fmt.Fprintf(w, "  learned:\n    %s\n", strings.Join(r.Learned, "\n    "))
}
