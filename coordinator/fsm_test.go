package coordinator

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// TestApplyBatchMatchesApply checks that applying a batch (several lock
// chunks, with a rejected command and non-command entries among them) gives
// the same results and the same state as applying the entries one by one.
func TestApplyBatchMatchesApply(t *testing.T) {
	var logs []*raft.Log
	add := func(typ raft.LogType, cmd *mitaiv1.Command) {
		var data []byte
		if cmd != nil {
			cmd.TimeUnixMs = int64(1000 + len(logs))
			var err error
			if data, err = proto.Marshal(cmd); err != nil {
				t.Fatal(err)
			}
		}
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: typ, Data: data})
	}
	for _, d := range []struct{ party, name, partner string }{{"bank", "customers", "telco"}, {"telco", "subscribers", "bank"}} {
		add(raft.LogCommand, &mitaiv1.Command{Actor: d.party, Body: &mitaiv1.Command_PublishDataset{PublishDataset: &mitaiv1.PublishDatasetCommand{
			Info: &mitaiv1.DatasetInfo{Name: d.name, Policy: &mitaiv1.Policy{Partners: []string{d.partner}, Modes: []string{"intersection"}, AutoApprove: []string{d.partner}}},
		}}})
	}
	add(raft.LogNoop, nil)
	for i := range 3*applyChunk + 5 {
		id := fmt.Sprintf("job-%04d", i)
		if i == 70 {
			id = "job-0003" // taken: rejected
		}
		add(raft.LogCommand, &mitaiv1.Command{Actor: "bank", Body: &mitaiv1.Command_SubmitJob{SubmitJob: &mitaiv1.SubmitJobCommand{JobId: id, Spec: &mitaiv1.JobSpec{
			Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
			Psi: &mitaiv1.PsiParams{Mode: psi.Intersection.Proto()}, IdempotencyKey: fmt.Sprint(i),
		}}}})
		if i == 100 {
			add(raft.LogConfiguration, nil)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	one, batch := newFSM(quiet), newFSM(quiet)
	var want []interface{}
	for _, l := range logs {
		want = append(want, one.Apply(l))
	}
	got := batch.ApplyBatch(logs)
	if len(got) != len(want) {
		t.Fatalf("%d results for %d entries", len(got), len(want))
	}
	rejected := 0
	for i := range want {
		w, g := want[i].(applyResult), got[i].(applyResult)
		if (w.err == nil) != (g.err == nil) || !proto.Equal(w.Job, g.Job) || w.AuditIndex != g.AuditIndex {
			t.Fatalf("entry %d: batch gave %+v, one by one %+v", i+1, g, w)
		}
		if g.err != nil {
			rejected++
		}
	}
	if rejected != 1 {
		t.Errorf("%d rejections, want 1", rejected)
	}
	if a, b := one.st.Ledger().Head(), batch.st.Ledger().Head(); a != b {
		t.Errorf("ledger heads differ: %x and %x", a, b)
	}
	select {
	case err := <-batch.fatal:
		t.Fatalf("fatal: %v", err)
	default:
	}
}
