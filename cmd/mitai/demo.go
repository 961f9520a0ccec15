package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/bench/localnet"
	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

func demoCmd() *cobra.Command {
	var cd creditDemo
	cmd := &cobra.Command{
		Use:   "demo [--rows N] [--overlap F] [--out DIR]",
		Short: "Joint credit scoring by a bank, a bureau and a telco: PSI alignment, collective key generation and threshold-CKKS scoring as jobs of a 3-replica coordinator on real node processes",
		Long: "Generates three parties' credit tables, starts a 3-replica coordinator and three nodes on loopback, and runs\n" +
			"an mpsi, a keygen and a score job through it; then checks the bank's scores against the plaintext computation.\n" +
			"`mitai demo psi` is the two-party PSI join demo.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCreditDemo(cmd.Context(), cmd.OutOrStdout(), cd)
		},
	}
	cf := cmd.Flags()
	cf.IntVar(&cd.rows, "rows", 50000, "customers per party")
	cf.Float64Var(&cd.overlap, "overlap", 0.6, "fraction of each party's customers that all three parties hold")
	cf.StringVar(&cd.out, "out", "mitai-demo", "output folder: data/, scores.csv, ledger.jsonl, cluster/")
	cf.Uint64Var(&cd.seed, "seed", uint64(time.Now().UnixNano()), "data generator seed")
	var rows int
	var overlap float64
	var out, groupName string
	var seed uint64
	psiCmd := &cobra.Command{
		Use:   "psi [--rows N] [--overlap F] [--out DIR]",
		Short: "Generate two parties' tables, start a 3-replica coordinator and two nodes with fresh certificates, run a PSI join through the coordinator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemoPSI(cmd, rows, overlap, out, groupName, seed)
		},
	}
	f := psiCmd.Flags()
	f.IntVar(&rows, "rows", 100000, "rows per party")
	f.Float64Var(&overlap, "overlap", 0.3, "fraction of each party's rows whose key the other party has")
	f.StringVar(&out, "out", "mitai-demo", "output folder: left.csv, right.csv, result.csv, ledger.jsonl, cluster/")
	f.StringVar(&groupName, "group", "", "group (default x25519)")
	f.Uint64Var(&seed, "seed", uint64(time.Now().UnixNano()), "data generator seed")
	cmd.AddCommand(psiCmd)
	return cmd
}

var demoColumns = []string{"segment", "tenure_months", "monthly_spend"}

// demoTimeout bounds the whole demo's wait for the job.
const demoTimeout = 10 * time.Minute

func runDemoPSI(cmd *cobra.Command, rows int, overlap float64, out, groupName string, seed uint64) error {
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	start := time.Now()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	clusterDir := filepath.Join(out, "cluster")
	if err := os.RemoveAll(clusterDir); err != nil {
		return err
	}
	files, err := datagen.PSIPair{Rows: rows, Overlap: overlap, Seed: seed}.Write(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "1. generated %s (bank: id, age, income, region) and %s (telco: id, %s), %d rows each\n", files.Left, files.Right, strings.Join(demoColumns, ", "), rows)

	// The coordinator: three replica processes sharing one Raft log.
	coord, err := localnet.StartCluster(ctx, localnet.ClusterOptions{Dir: clusterDir, LogLevel: "info"})
	if err != nil {
		return err
	}
	defer coord.Stop()
	leader := coord.Leader(ctx)
	if leader == nil {
		return fmt.Errorf("the coordinator lost its leader")
	}
	var reps []string
	for _, r := range coord.Replicas {
		reps = append(reps, fmt.Sprintf("%s %s", r.ID, r.API))
	}
	fmt.Fprintf(w, "2. started a coordinator of 3 replicas (%s), Raft over TLS 1.3 with logs on disk; %s leads in term %d\n", strings.Join(reps, ", "), leader.Id, leader.Term)

	// Two nodes that publish their datasets' metadata to the coordinator
	// and heartbeat to its leader.
	net, err := localnet.Start(ctx, localnet.Options{
		Dir: clusterDir, LogLevel: "info", Cluster: coord, HeartbeatInterval: 200 * time.Millisecond,
		Parties: []localnet.Party{
			{Name: "bank", Datasets: []node.DatasetConfig{{Name: "customers", Path: files.Left, Key: "id",
				Policy: node.PolicyConfig{Partners: []string{"telco"}, Modes: []string{"intersection", "join"}}}}},
			{Name: "telco", Datasets: []node.DatasetConfig{{Name: "subscribers", Path: files.Right, Key: "id",
				Policy: node.PolicyConfig{Partners: []string{"bank"}, Modes: []string{"join"},
					Reveal: map[string][]string{"bank": demoColumns}, MinIntersection: 10}}}},
		},
	})
	if err != nil {
		return err
	}
	defer net.Stop()
	bank, telco := net.Nodes["bank"], net.Nodes["telco"]
	fmt.Fprintf(w, "3. started node bank/%s at %s and node telco/%s at %s (certificates of a new cluster CA, mTLS 1.3); each read its CSV and published\n"+
		"   only metadata to the coordinator: bank:customers, telco:subscribers (policy: partner bank, mode join, reveals %s to bank)\n",
		bank.Node, bank.Addr, telco.Node, telco.Addr, strings.Join(demoColumns, ", "))

	bankClient, err := coord.Client("bank", 30*time.Second)
	if err != nil {
		return err
	}
	defer bankClient.Close()
	telcoClient, err := coord.Client("telco", 30*time.Second)
	if err != nil {
		return err
	}
	defer telcoClient.Close()

	spec := &mitaiv1.JobSpec{
		Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
		Psi: &mitaiv1.PsiParams{Mode: psi.Join.Proto(), Group: groupName, Columns: demoColumns}, IdempotencyKey: randomKey(),
	}
	before := coord.Leader(ctx)
	jobStart := time.Now()
	var sub *mitaiv1.SubmitJobResponse
	if err := bankClient.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		sub, err = c.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: spec})
		return err
	}); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	job := sub.Job
	after := coord.Leader(ctx)
	decided := "the leader"
	if before != nil && after != nil && before.Id == after.Id && before.Term == after.Term {
		decided = fmt.Sprintf("leader %s in term %d", after.Id, after.Term)
	}
	fmt.Fprintf(w, "4. bank submitted job %s (psi join, bank receives telco's %s) with bank's certificate;\n"+
		"   %s committed it as ledger entry #%d: %s, waiting for approval by %s\n",
		job.Id, strings.Join(demoColumns, ", "), decided, job.AuditIndex, stateName(job.State), strings.Join(job.PendingApprovals, ", "))

	if err := telcoClient.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		job, err = c.ApproveJob(ctx, &mitaiv1.ApproveJobRequest{JobId: job.Id})
		return err
	}); err != nil {
		return fmt.Errorf("approve as telco: %w", err)
	}
	fmt.Fprintf(w, "5. telco approved it with telco's certificate: %s\n", stateName(job.State))

	fmt.Fprintf(w, "6. watching the job (consistent reads through the leader):")
	last := mitaiv1.JobState_JOB_STATE_UNSPECIFIED
	deadline := time.Now().Add(demoTimeout)
	for {
		var resp *mitaiv1.GetJobResponse
		if err := bankClient.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
			resp, err = c.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: job.Id, Read: &mitaiv1.ReadOptions{Consistent: true}})
			return err
		}); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		job = resp.Job
		if job.State != last {
			sep := " ->"
			if last == mitaiv1.JobState_JOB_STATE_UNSPECIFIED {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s %s", sep, stateName(job.State), time.Now().Format("15:04:05.000"))
			last = job.State
		}
		if job.State == mitaiv1.JobState_JOB_STATE_SUCCEEDED || job.State == mitaiv1.JobState_JOB_STATE_FAILED || job.State == mitaiv1.JobState_JOB_STATE_CANCELLED {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("job %s is still %s after %v (logs in %s)", job.Id, stateName(job.State), demoTimeout, clusterDir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	jobTime := time.Since(jobStart)
	fmt.Fprintln(w)
	if job.State != mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		return fmt.Errorf("job %s %s: %s (logs in %s)", job.Id, stateName(job.State), job.Reason, clusterDir)
	}

	// The job's entries in the audit ledger: who decided what, and when.
	var audit *mitaiv1.AuditRangeResponse
	if err := bankClient.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		audit, err = c.AuditRange(ctx, &mitaiv1.AuditRangeRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
		return err
	}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	leaders := map[uint64]string{}
	for _, st := range []*mitaiv1.ReplicaStatus{before, after, coord.Leader(ctx)} {
		if st != nil {
			leaders[st.Term] = st.Id
		}
	}
	entries, report, err := demoLedger(audit.Entries, job.Id, leaders)
	if err != nil {
		return err
	}
	if report == nil {
		return fmt.Errorf("the ledger holds no successful outcome of job %s", job.Id)
	}

	resultPath := filepath.Join(out, "result.csv")
	src := report.ResultPath
	if src == "" {
		matches, _ := filepath.Glob(filepath.Join(bank.DataDir, "results", job.Id+"*.csv"))
		if len(matches) != 1 {
			return fmt.Errorf("bank's result of %s: found %v", job.Id, matches)
		}
		src = matches[0]
	}
	if err := copyFile(src, resultPath); err != nil {
		return err
	}
	matched, err := checkDemoResult(files, resultPath)
	if err != nil {
		return fmt.Errorf("result check: %w", err)
	}
	fmt.Fprintf(w, "7. bank's node wrote the result; copied to %s and checked: its %d keys are exactly the intersection of the two CSVs and every telco value matches right.csv\n", resultPath, matched)
	if err := writeLedger(filepath.Join(out, "ledger.jsonl"), audit.Entries); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nwhere each step was decided: the job's entries in the audit ledger (times on the leader's clock; the actor is the\n"+
		"party whose certificate sent the command; the whole ledger, with the datasets' and nodes' entries, is in %s)\n", filepath.Join(out, "ledger.jsonl"))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, e := range entries {
		fmt.Fprintf(tw, "  #%d\t%s\t%s\t%s\t%s\n", e.index, e.time.Format("15:04:05.000"), e.kind, e.actor, e.what)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nsummary\n")
	fmt.Fprintf(w, "  rows                 bank %d, telco %d\n", report.LocalRows, report.PeerRows)
	fmt.Fprintf(w, "  intersection         %d\n", report.IntersectionSize)
	fmt.Fprintf(w, "  bytes bank -> telco  %d (%.1f per row)\n", report.BytesSent, float64(report.BytesSent)/float64(rows))
	fmt.Fprintf(w, "  bytes telco -> bank  %d (%.1f per row)\n", report.BytesReceived, float64(report.BytesReceived)/float64(rows))
	if len(entries) > 0 {
		first, last := entries[0].time, entries[len(entries)-1].time
		fmt.Fprintf(w, "  job duration         %.2f s from submission to outcome in the ledger (the task ran %.2f s on the nodes); %.2f s as the client watched\n",
			last.Sub(first).Seconds(), report.Seconds, jobTime.Seconds())
	}
	fmt.Fprintf(w, "  whole demo           %.2f s; replica and node logs in %s\n", time.Since(start).Seconds(), clusterDir)
	fmt.Fprintf(w, "  what each party learned:\n")
	for _, l := range report.Learned {
		fmt.Fprintf(w, "    %s\n", l)
	}
	fmt.Fprintf(w, "  the coordinator saw names, counts, digests and timings only: no key, row or result\n")
	fmt.Fprintf(w, "  telco's rows outside the intersection stayed sealed: their payload keys need H(id)^c, which bank cannot compute for ids it lacks\n")
	return nil
}

// demoEntry is one ledger entry of the demo's job, for printing.
type demoEntry struct {
	index             uint64
	time              time.Time
	kind, actor, what string
}

// demoLedger picks the job's entries from the ledger and describes each;
// it returns the report of the task's successful outcome.
// leaders names the leader of the terms the demo saw.
func demoLedger(all []*mitaiv1.AuditEntry, jobID string, leaders map[uint64]string) ([]demoEntry, *mitaiv1.TaskReport, error) {
	var out []demoEntry
	var report *mitaiv1.TaskReport
	for _, e := range all {
		if e.Subject != jobID && !strings.HasPrefix(e.Subject, jobID+".") {
			continue
		}
		d := demoEntry{index: e.Index, time: time.UnixMilli(e.TimeUnixMs), kind: e.Kind, actor: e.Actor, what: e.Subject}
		o, err := state.Statement(e)
		if err != nil {
			return nil, nil, err
		}
		if o != nil {
			d.actor = fmt.Sprintf("%s (signed by node %s)", e.Actor, o.Node)
			r := o.Report
			switch {
			case e.Kind == state.KindResultDelivered:
				d.what = fmt.Sprintf("%s attempt %d: result written, sha256 %.16s...", e.Subject, o.Task.GetAttempt(), r.GetResultDigest())
			case o.Ok:
				d.what = fmt.Sprintf("%s attempt %d ok: %s, %.2f s, %d bytes moved", e.Subject, o.Task.GetAttempt(),
					outcomeSummary(r), r.GetSeconds(), r.GetBytesSent()+r.GetBytesReceived())
				report = r
			default:
				d.what = fmt.Sprintf("%s attempt %d failed: %s", e.Subject, o.Task.GetAttempt(), o.Error)
			}
			out = append(out, d)
			continue
		}
		var cmd mitaiv1.Command
		if err := proto.Unmarshal(e.Detail, &cmd); err != nil {
			return nil, nil, fmt.Errorf("ledger entry %d: %w", e.Index, err)
		}
		if d.actor == "" {
			d.actor = "coordinator"
		}
		switch b := cmd.Body.(type) {
		case *mitaiv1.Command_SubmitJob:
			d.what = fmt.Sprintf("%s: %s, receivers %s", e.Subject, strings.Join(b.SubmitJob.Spec.GetParticipants(), " + "), strings.Join(b.SubmitJob.Spec.GetReceivers(), ","))
		case *mitaiv1.Command_ScheduleTask:
			d.actor = fmt.Sprintf("coordinator: the leader of term %d", b.ScheduleTask.Term)
			if id, ok := leaders[b.ScheduleTask.Term]; ok {
				d.actor = fmt.Sprintf("coordinator: leader %s, term %d", id, b.ScheduleTask.Term)
			}
			d.what = fmt.Sprintf("%s attempt %d on nodes %s", e.Subject, b.ScheduleTask.Attempt, strings.Join(b.ScheduleTask.Nodes, " + "))
		case *mitaiv1.Command_TaskStarted:
			d.what = fmt.Sprintf("%s attempt %d: the initiating node confirmed it runs", e.Subject, b.TaskStarted.Task.GetAttempt())
		case *mitaiv1.Command_AbortAttempt:
			d.what = fmt.Sprintf("%s attempt %d: %s", e.Subject, b.AbortAttempt.Task.GetAttempt(), b.AbortAttempt.Reason)
		}
		out = append(out, d)
	}
	return out, report, nil
}

// outcomeSummary says what a successful task produced, in a few words.
func outcomeSummary(r *mitaiv1.TaskReport) string {
	switch {
	case r.GetKeySet() != "":
		return fmt.Sprintf("key set %.16s...", r.GetKeySet())
	case r.GetRole() == "receiver" && r.GetRows() > 0 && !r.GetIntersectionKnown():
		return fmt.Sprintf("%d rows scored", r.GetRows())
	}
	return fmt.Sprintf("%d in the intersection", r.GetIntersectionSize())
}

// checkDemoResult compares the result with the plaintext join of the two
// files the demo wrote, and returns the number of rows.
func checkDemoResult(files datagen.Files, resultPath string) (int, error) {
	left, err := readCSV(files.Left)
	if err != nil {
		return 0, err
	}
	right, err := readCSV(files.Right)
	if err != nil {
		return 0, err
	}
	res, err := readCSV(resultPath)
	if err != nil {
		return 0, err
	}
	rightByID := map[string][]string{}
	for _, r := range right[1:] {
		rightByID[r[0]] = r[1:]
	}
	var want []string
	for _, r := range left[1:] {
		if _, ok := rightByID[r[0]]; ok {
			want = append(want, r[0])
		}
	}
	wantHeader := append(append([]string{}, left[0]...), "telco.segment", "telco.tenure_months", "telco.monthly_spend")
	if !slices.Equal(res[0], wantHeader) {
		return 0, fmt.Errorf("header %v, want %v", res[0], wantHeader)
	}
	var got []string
	for _, r := range res[1:] {
		got = append(got, r[0])
		if !slices.Equal(r[len(left[0]):], rightByID[r[0]]) {
			return 0, fmt.Errorf("key %s: telco values %v, right.csv has %v", r[0], r[len(left[0]):], rightByID[r[0]])
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return 0, fmt.Errorf("result has %d keys, the true intersection %d, or they differ", len(got), len(want))
	}
	return len(got), nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := to + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

// writeLedger writes the ledger as `mitai audit export` does, for `mitai
// audit verify --file`.
func writeLedger(path string, entries []*mitaiv1.AuditEntry) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := ledger.WriteJSONL(f, entries); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
