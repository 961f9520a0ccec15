package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/bench/localnet"
	"github.com/mitai-dev/mitai/internal/coordclient"
	"github.com/mitai-dev/mitai/internal/logreg"
	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/score"
)

// creditDemo are the options of the main demo.
type creditDemo struct {
	rows    int
	overlap float64
	out     string
	seed    uint64
}

var creditParties = []string{"bank", "bureau", "telco"}

// runCreditDemo is `mitai demo`: three parties align their customers
// (mpsi), make a collective key (keygen) and score the bank's applicants
// jointly (score), each as a job scheduled by a 3-replica coordinator on
// three node processes; then it checks the bank's scores against the
// plaintext computation.
func runCreditDemo(ctx context.Context, w io.Writer, o creditDemo) error {
	start := time.Now()
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	clusterDir := filepath.Join(out, "cluster")
	if err := os.RemoveAll(clusterDir); err != nil {
		return err
	}
	dataDir := filepath.Join(out, "data")
	files, err := datagen.Credit{Parties: creditParties, Rows: o.rows, Overlap: o.overlap, Seed: o.seed}.Write(dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "1. generated %d customers per party in %s (%.2f s): bank.csv (id, default, 5 features), bureau.csv and\n"+
		"   telco.csv (id, 5 features each); %d customers are at all three, the others at one party only; default rate %.1f%%;\n"+
		"   a planted logistic model over all 15 features, one block per party (model_<party>.json)\n",
		o.rows, dataDir, time.Since(start).Seconds(), files.Common, 100*files.DefaultRate)

	coord, err := localnet.StartCluster(ctx, localnet.ClusterOptions{Dir: clusterDir, LogLevel: "info"})
	if err != nil {
		return err
	}
	defer coord.Stop()
	leader := coord.Leader(ctx)
	if leader == nil {
		return fmt.Errorf("the coordinator lost its leader")
	}
	fmt.Fprintf(w, "2. started a coordinator of 3 replicas (Raft over TLS 1.3, logs on disk); %s leads in term %d\n", leader.Id, leader.Term)

	var parties []localnet.Party
	for _, p := range creditParties {
		var partners []string
		for _, q := range creditParties {
			if q != p {
				partners = append(partners, q)
			}
		}
		parties = append(parties, localnet.Party{Name: p, Datasets: []node.DatasetConfig{{Name: "features", Path: files.Tables[p], Key: "id",
			Policy: node.PolicyConfig{Partners: partners, Modes: []string{"mpsi", "keygen", "score"}}}}})
	}
	net, err := localnet.Start(ctx, localnet.Options{Dir: clusterDir, LogLevel: "info", Cluster: coord, HeartbeatInterval: 200 * time.Millisecond, Parties: parties})
	if err != nil {
		return err
	}
	defer net.Stop()
	for _, p := range creditParties {
		dir := filepath.Join(net.Nodes[p].DataDir, "models")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := copyFile(files.Models[p], filepath.Join(dir, "credit.json")); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "3. started nodes bank/n1, bureau/n1, telco/n1 (mTLS 1.3, certificates of the cluster CA); each published only\n"+
		"   metadata of its table 'features' (policy: the other two as partners, uses mpsi, keygen, score; bureau and telco keep\n"+
		"   the default score release: refuse two-party scoring, exact with two or more partners) and installed its own model\n"+
		"   block as models/credit.json\n")

	clients := map[string]*coordclient.Client{}
	for _, p := range creditParties {
		c, err := coord.Client(p, 30*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		clients[p] = c
	}
	var participants []string
	for _, p := range creditParties {
		participants = append(participants, p+":features")
	}
	run := func(step int, title string, spec *mitaiv1.JobSpec) (*jobRun, error) {
		spec.Participants, spec.IdempotencyKey = participants, randomKey()
		r, err := runDemoJob(ctx, clients, spec)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "%d. %s: job %s, submitted by bank, approved by bureau and telco, ran on %s;\n   %.2f s from submission to outcome;",
			step, title, r.job.Id, strings.Join(r.task.Nodes, " + "), r.wall.Seconds())
		for _, p := range creditParties {
			// A partner may log its end a moment after the bank reported.
			d, ok := nodeTaskDone(net.Nodes[p].LogPath, r.job.Id)
			for i := 0; !ok && i < 40; i++ {
				time.Sleep(50 * time.Millisecond)
				d, ok = nodeTaskDone(net.Nodes[p].LogPath, r.job.Id)
			}
			if !ok {
				fmt.Fprintf(w, " %s: no log line;", p)
				continue
			}
			fmt.Fprintf(w, " %s %.2f s, sent %s, received %s;", p, d.Seconds, mib(d.Sent), mib(d.Received))
		}
		fmt.Fprintln(w)
		return r, nil
	}

	align, err := run(4, "PSI alignment (mpsi, bank is the hub)", &mitaiv1.JobSpec{Kind: "mpsi", Receivers: creditParties,
		Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d customers are at all three parties; each node wrote the same sorted key list\n", align.report.IntersectionSize)

	kg, err := run(5, "collective key generation (keygen, 3-of-3, preset affine-ci14)", &mitaiv1.JobSpec{Kind: "keygen", Receivers: creditParties,
		Keygen: &mitaiv1.KeygenParams{}})
	if err != nil {
		return err
	}
	keySet := kg.report.KeySet
	var pubBytes int64
	if st, err := os.Stat(kg.report.ResultPath); err == nil {
		pubBytes = st.Size()
	}
	fmt.Fprintf(w, "   key set %s: public parts %.1f KiB at every node; each node keeps its secret share sealed (AES-256-GCM, mode 0600)\n", keySet, float64(pubBytes)/1024)

	sc, err := run(6, "joint scoring (score, only bank decrypts)", &mitaiv1.JobSpec{Kind: "score", Receivers: []string{"bank"},
		Score: &mitaiv1.ScoreParams{Alignment: align.job.Id, KeySet: keySet, Model: "credit"}})
	if err != nil {
		return err
	}
	resultPath := filepath.Join(out, "scores.csv")
	if err := copyFile(sc.report.ResultPath, resultPath); err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d rows scored; bank's node wrote log-odds, points and probability per row (copied to %s)\n", sc.report.Rows, resultPath)

	agree, err := checkCreditScores(files, resultPath)
	if err != nil {
		return fmt.Errorf("score check: %w", err)
	}
	fmt.Fprintf(w, "7. checked against the plaintext computation (all parties' features and models in one place, which only this demo has):\n")
	fmt.Fprintf(w, "   max |probability error| %.2g (bound 1e-3), max |points error| %.2g (bound 0.5), over all %d rows\n", agree.maxProb, agree.maxPoints, agree.rows)
	fmt.Fprintf(w, "   AUC against the bank's labels: %.5f from the decrypted scores, %.5f in plaintext; the bank's features alone: %.5f\n", agree.auc, agree.aucPlain, agree.aucBank)

	var audit *mitaiv1.AuditRangeResponse
	if err := clients["bank"].Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		audit, err = c.AuditRange(ctx, &mitaiv1.AuditRangeRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
		return err
	}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := writeLedger(filepath.Join(out, "ledger.jsonl"), audit.Entries); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nthe jobs' entries in the audit ledger (whole ledger in %s; `mitai audit verify --file` checks it)\n", filepath.Join(out, "ledger.jsonl"))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, j := range []*jobRun{align, kg, sc} {
		entries, _, err := demoLedger(audit.Entries, j.job.Id, nil)
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Fprintf(tw, "  #%d\t%s\t%s\t%s\t%s\n", e.index, e.time.Format("15:04:05.000"), e.kind, e.actor, e.what)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwhat each party learned\n")
	for _, j := range []*jobRun{align, kg, sc} {
		for _, l := range j.report.Learned {
			fmt.Fprintf(w, "  %s: %s\n", j.job.Spec.Kind, l)
		}
	}
	fmt.Fprintf(w, "  the coordinator: names, counts, digests and timings; no key, row, score or key share\n")
	fmt.Fprintf(w, "\nwhole demo %.1f s; replica and node logs in %s\n", time.Since(start).Seconds(), clusterDir)
	return nil
}

// jobRun is one job of the demo, run to success.
type jobRun struct {
	job    *mitaiv1.Job
	task   *mitaiv1.Task
	report *mitaiv1.TaskReport
	wall   time.Duration
}

// taskDone is a node's "task done" log line: its own time and bytes.
type taskDone struct {
	Job      string  `json:"job"`
	Msg      string  `json:"msg"`
	Seconds  float64 `json:"seconds"`
	Sent     uint64  `json:"bytes_sent"`
	Received uint64  `json:"bytes_received"`
}

// nodeTaskDone reads a node's log (JSON lines) for its "task done" line of
// a job: what that node measured, whatever its role.
func nodeTaskDone(logPath, job string) (taskDone, bool) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return taskDone{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, job) || !strings.Contains(line, `"task done"`) {
			continue
		}
		var d taskDone
		if json.Unmarshal([]byte(line), &d) == nil && d.Job == job && d.Msg == "task done" {
			return d, true
		}
	}
	return taskDone{}, false
}

func mib(b uint64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(b)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// runDemoJob submits a job as bank, approves it as every other
// participant and waits for it to end; an unsuccessful end is an error.
func runDemoJob(ctx context.Context, clients map[string]*coordclient.Client, spec *mitaiv1.JobSpec) (*jobRun, error) {
	start := time.Now()
	var sub *mitaiv1.SubmitJobResponse
	if err := clients["bank"].Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		sub, err = c.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: spec})
		return err
	}); err != nil {
		return nil, fmt.Errorf("submit %s: %w", spec.Kind, err)
	}
	id := sub.Job.Id
	for _, p := range sub.Job.PendingApprovals {
		c, ok := clients[p]
		if !ok {
			return nil, fmt.Errorf("job %s waits for %s", id, p)
		}
		if err := c.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) error {
			_, err := c.ApproveJob(ctx, &mitaiv1.ApproveJobRequest{JobId: id})
			return err
		}); err != nil {
			return nil, fmt.Errorf("approve %s as %s: %w", id, p, err)
		}
	}
	deadline := time.Now().Add(demoTimeout)
	for {
		var resp *mitaiv1.GetJobResponse
		if err := clients["bank"].Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
			resp, err = c.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: id, Read: &mitaiv1.ReadOptions{Consistent: true}})
			return err
		}); err != nil {
			return nil, fmt.Errorf("watch %s: %w", id, err)
		}
		switch resp.Job.State {
		case mitaiv1.JobState_JOB_STATE_SUCCEEDED:
			if resp.Task.GetReport() == nil {
				return nil, fmt.Errorf("job %s succeeded without a report", id)
			}
			return &jobRun{job: resp.Job, task: resp.Task, report: resp.Task.Report, wall: time.Since(start)}, nil
		case mitaiv1.JobState_JOB_STATE_FAILED, mitaiv1.JobState_JOB_STATE_CANCELLED:
			return nil, fmt.Errorf("%s job %s %s: %s", spec.Kind, id, stateName(resp.Job.State), resp.Job.Reason)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s job %s is still %s after %v", spec.Kind, id, stateName(resp.Job.State), demoTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// creditAgreement compares the bank's decrypted scores with plaintext.
type creditAgreement struct {
	rows                   int
	maxProb, maxPoints     float64
	auc, aucPlain, aucBank float64
}

// checkCreditScores recomputes every scored row's log-odds in plaintext
// from the generated tables and models, and compares.
func checkCreditScores(files *datagen.CreditFiles, resultPath string) (*creditAgreement, error) {
	res, err := readCSV(resultPath)
	if err != nil {
		return nil, err
	}
	if len(res) < 2 || !slices.Equal(res[0], []string{"id", "log_odds", "points", "probability"}) {
		return nil, fmt.Errorf("%s: unexpected header %v", resultPath, res[0])
	}
	keys := make([]string, 0, len(res)-1)
	for _, r := range res[1:] {
		keys = append(keys, r[0])
	}
	plain, err := files.PlainScores(creditParties, keys)
	if err != nil {
		return nil, err
	}
	z, labels := plain.LogOdds, plain.Labels
	a := &creditAgreement{rows: len(keys)}
	prob := make([]float64, len(keys))
	for i, r := range res[1:] {
		pts, err1 := strconv.ParseFloat(r[2], 64)
		p, err2 := strconv.ParseFloat(r[3], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s row %d: %v %v", resultPath, i+1, err1, err2)
		}
		prob[i] = p
		a.maxProb = max(a.maxProb, math.Abs(p-1/(1+math.Exp(-z[i]))))
		a.maxPoints = max(a.maxPoints, math.Abs(pts-score.DefaultScorecard.Points(z[i])))
	}
	if a.auc, err = logreg.AUC(prob, labels); err != nil {
		return nil, err
	}
	if a.aucPlain, err = logreg.AUC(z, labels); err != nil {
		return nil, err
	}
	if a.aucBank, err = logreg.AUC(plain.First, labels); err != nil {
		return nil, err
	}
	if a.maxProb > 1e-3 || a.maxPoints > 0.5 {
		return a, fmt.Errorf("max errors %.3g (probability), %.3g (points) exceed the bounds 1e-3 and 0.5", a.maxProb, a.maxPoints)
	}
	return a, nil
}
