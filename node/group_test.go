package node

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/bench/datagen"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/score"
)

// creditNet is three in-process nodes (bank, bureau, telco) over real gRPC
// with mutual TLS, each with its synthetic credit table and model.
type creditNet struct {
	c       *cluster
	parties []string
	files   *datagen.CreditFiles
	nodes   map[string]*Node
}

func newCreditNet(t *testing.T, rows int, edit func(party string, d *DatasetConfig)) *creditNet {
	t.Helper()
	c := newCluster(t)
	parties := []string{"bank", "bureau", "telco"}
	files, err := datagen.Credit{Parties: parties, Rows: rows, Overlap: 0.6, Seed: 7}.Write(filepath.Join(c.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	n := &creditNet{c: c, parties: parties, files: files, nodes: map[string]*Node{}}
	for _, p := range parties {
		var partners []string
		for _, q := range parties {
			if q != p {
				partners = append(partners, q)
			}
		}
		d := DatasetConfig{Name: "features", Path: files.Tables[p], Key: "id",
			Policy: PolicyConfig{Partners: partners, Modes: []string{"mpsi", "keygen", "score"}}}
		if edit != nil {
			edit(p, &d)
		}
		node := c.start(p, nil, d)
		models := filepath.Join(node.cfg.DataDir, "models")
		if err := os.MkdirAll(models, 0o700); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(files.Models[p])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(models, "credit.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		n.nodes[p] = node
	}
	return n
}

// task returns a multi-party task spec over the three parties, the bank first.
func (n *creditNet) task(kind string) *mitaiv1.TaskSpec {
	spec := &mitaiv1.TaskSpec{JobId: NewJobID(), TaskId: "t0", Attempt: 1, Kind: kind}
	for _, p := range n.parties {
		spec.Participants = append(spec.Participants, &mitaiv1.Participant{Party: p, Dataset: "features", Address: n.nodes[p].Addr()})
	}
	switch kind {
	case "score":
		spec.Receivers = []string{"bank"}
	default:
		spec.Receivers = slices.Clone(n.parties)
	}
	return spec
}

func (n *creditNet) run(t *testing.T, spec *mitaiv1.TaskSpec) (*mitaiv1.TaskReport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return n.nodes[n.parties[0]].Executor().Run(ctx, spec)
}

// readKeys reads a result file's first column, after the header.
func readColumn(t *testing.T, path string, col int) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs[1:] {
		out = append(out, r[col])
	}
	return out
}

// plainIntersection is the keys every party's table holds, sorted.
func (n *creditNet) plainIntersection(t *testing.T) []string {
	count := map[string]int{}
	for _, p := range n.parties {
		for _, k := range readColumn(t, n.files.Tables[p], 0) {
			count[k]++
		}
	}
	var out []string
	for k, c := range count {
		if c == len(n.parties) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestGroupJobsOverGRPC runs the three multi-party kinds one after the
// other between three nodes, as the demo does through the coordinator:
// the alignment, the collective key generation and the joint score, and
// checks every party's results against a plaintext computation.
func TestGroupJobsOverGRPC(t *testing.T) {
	n := newCreditNet(t, 600, nil)

	align := n.task("mpsi")
	rep, err := n.run(t, align)
	if err != nil {
		t.Fatal(err)
	}
	want := n.plainIntersection(t)
	if int(rep.IntersectionSize) != len(want) || len(want) < 100 {
		t.Fatalf("aligned %d rows, want %d (> 100)", rep.IntersectionSize, len(want))
	}
	for _, p := range n.parties {
		got := readColumn(t, filepath.Join(n.nodes[p].cfg.DataDir, "results", align.JobId+"-t0.csv"), 0)
		if !slices.Equal(got, want) {
			t.Fatalf("%s's aligned keys differ from the plaintext intersection (%d vs %d keys)", p, len(got), len(want))
		}
	}

	kg := n.task("keygen")
	kg.Keygen = &mitaiv1.KeygenParams{}
	kg.Seed = make([]byte, 32)
	_, _ = rand.Read(kg.Seed)
	rep, err = n.run(t, kg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.KeySet) != 64 {
		t.Fatalf("keygen reported key set %q", rep.KeySet)
	}
	for _, p := range n.parties {
		share := filepath.Join(n.nodes[p].cfg.DataDir, "keysets", rep.KeySet+".share")
		st, err := os.Stat(share)
		if err != nil {
			t.Fatalf("%s has no share: %v", p, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s's share has mode %v", p, st.Mode().Perm())
		}
	}
	keySet := rep.KeySet

	sc := n.task("score")
	sc.Score = &mitaiv1.ScoreParams{Alignment: align.JobId, KeySet: keySet, Model: "credit"}
	rep, err = n.run(t, sc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != uint64(len(want)) || rep.ResultPath == "" {
		t.Fatalf("score report: rows %d, result %q", rep.Rows, rep.ResultPath)
	}
	if got := readColumn(t, rep.ResultPath, 0); !slices.Equal(got, want) {
		t.Fatal("the score rows are not the aligned keys in order")
	}
	ps, err := n.files.PlainScores(n.parties, want)
	if err != nil {
		t.Fatal(err)
	}
	plain := ps.LogOdds
	var worstP, worstPts float64
	for i, s := range readColumn(t, rep.ResultPath, 3) {
		p, _ := strconv.ParseFloat(s, 64)
		worstP = max(worstP, math.Abs(p-1/(1+math.Exp(-plain[i]))))
	}
	for i, s := range readColumn(t, rep.ResultPath, 2) {
		pts, _ := strconv.ParseFloat(s, 64)
		worstPts = max(worstPts, math.Abs(pts-score.DefaultScorecard.Points(plain[i])))
	}
	if worstP > 1e-3 || worstPts > 0.5 {
		t.Fatalf("max error: probability %.3g (bound 1e-3), points %.3g (bound 0.5)", worstP, worstPts)
	}
	t.Logf("%d rows: max probability error %.2g, points %.2g", len(want), worstP, worstPts)
	for _, p := range n.parties[1:] {
		if _, err := os.Stat(filepath.Join(n.nodes[p].cfg.DataDir, "results", sc.JobId+"-t0.csv")); err == nil {
			t.Fatalf("contributor %s has a score result file", p)
		}
	}
}

// TestGroupJobRefusals: a party whose policy does not allow the kind, or
// the partner, refuses, and the initiator's error says who and why.
func TestGroupJobRefusals(t *testing.T) {
	n := newCreditNet(t, 50, func(party string, d *DatasetConfig) {
		if party == "telco" {
			d.Policy.Modes = []string{"mpsi", "score"}
		}
	})
	kg := n.task("keygen")
	kg.Keygen = &mitaiv1.KeygenParams{}
	kg.Seed = make([]byte, 32)
	t0 := time.Now()
	_, err := n.run(t, kg)
	t.Logf("keygen refusal after %v", time.Since(t0))
	if err == nil || !strings.Contains(err.Error(), "telco refused") || !strings.Contains(err.Error(), `mode "keygen" is not allowed`) {
		t.Fatalf("keygen against telco's policy: %v", err)
	}
	// A score job naming a key set nobody holds fails before any row moves.
	sc := n.task("score")
	sc.Score = &mitaiv1.ScoreParams{Alignment: "job-none", KeySet: strings.Repeat("ab", 32), Model: "credit"}
	t0 = time.Now()
	_, err = n.run(t, sc)
	t.Logf("score failure after %v", time.Since(t0))
	if err == nil || !strings.Contains(err.Error(), "no key set") {
		t.Fatalf("score with an unknown key set: %v", err)
	}
}
