package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/node/dataset"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
	"github.com/mitai-dev/mitai/protocol/keygen"
	"github.com/mitai-dev/mitai/protocol/psi"
	"github.com/mitai-dev/mitai/protocol/score"
)

// checkGroupLocal checks this node's dataset of a multi-party task against
// its own policy: every other participant must be an allowed partner and
// the job kind an allowed use.
func (e *Executor) checkGroupLocal(pl *groupPlan) (*mitaiv1.DatasetInfo, error) {
	info, err := e.reg.Get(pl.local.Dataset)
	if err != nil {
		return nil, err
	}
	err = CheckPolicy(info.Policy, PolicyRequest{Partners: pl.others(), Use: pl.kind, Now: e.now()})
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", info.Name, err)
	}
	return info, nil
}

// executeGroup runs this node's role of a multi-party task over a mesh of
// connections, one to every other participant.
func (e *Executor) executeGroup(ctx context.Context, spec *mitaiv1.TaskSpec, pl *groupPlan, info *mitaiv1.DatasetInfo, conns map[string]protocol.Conn) (report *mitaiv1.TaskReport, err error) {
	start := e.now()
	role := groupRole(pl)
	log := e.log.With("job", spec.JobId, "task", spec.TaskId, "kind", spec.Kind, "role", role, "dataset", info.Name, "parties", pl.parties)
	log.Info("task started")
	meters := map[string]*protocol.Meter{}
	metered := map[string]protocol.Conn{}
	for p, c := range conns {
		meters[p] = protocol.NewMeter(c)
		metered[p] = meters[p]
	}
	var sent, received uint64
	defer func() {
		for _, m := range meters {
			sent += m.BytesSent()
			received += m.BytesReceived()
		}
		outcome := "ok"
		if err != nil {
			outcome = "failed"
			if errors.Is(err, psi.ErrBelowMinimum) {
				outcome = "below_minimum"
			}
			log.Warn("task failed", "err", err, "seconds", e.now().Sub(start).Seconds())
		} else {
			report.BytesSent, report.BytesReceived = sent, received
			report.Seconds = e.now().Sub(start).Seconds()
			log.Info("task done", "seconds", report.Seconds, "bytes_sent", sent, "bytes_received", received,
				"result", report.ResultPath, "sha256", report.ResultDigest)
		}
		e.metrics.taskDone(role, outcome)
		e.metrics.observe(role, e.now().Sub(start), sent, received)
	}()
	report = &mitaiv1.TaskReport{JobId: spec.JobId, TaskId: spec.TaskId, Ok: true, Role: role}
	switch spec.Kind {
	case "mpsi":
		err = e.runAlign(ctx, spec, pl, info, metered, report)
	case "keygen":
		err = e.runKeygen(ctx, spec, pl, metered, report)
	case "score":
		err = e.runScore(ctx, spec, pl, info, metered, report)
	default:
		err = fmt.Errorf("task kind %q", spec.Kind)
	}
	if err != nil {
		return nil, err
	}
	return report, nil
}

func groupRole(pl *groupPlan) string {
	switch {
	case pl.kind == "mpsi" && pl.self == 0:
		return "hub"
	case pl.kind == "mpsi":
		return "spoke"
	case pl.kind == "score" && pl.self == 0:
		return "receiver"
	case pl.kind == "score":
		return "contributor"
	}
	return "keyholder"
}

// loadTable loads a registered dataset's file and checks that it is still
// the file that was registered.
func loadTable(info *mitaiv1.DatasetInfo, opts dataset.Options) (*dataset.Table, error) {
	opts.KeyColumn = info.KeyColumn
	table, err := dataset.LoadFile(info.Path, opts)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", info.Name, err)
	}
	if d := table.Digest(); hex.EncodeToString(d[:]) != info.Digest {
		return nil, fmt.Errorf("dataset %q: file %s changed since it was registered; register it again", info.Name, info.Path)
	}
	return table, nil
}

// runAlign runs the k-party alignment: the hub (the first participant)
// runs a two-party PSI with every other participant and sends each the
// k-way intersection, sorted; every party writes that key list.
func (e *Executor) runAlign(ctx context.Context, spec *mitaiv1.TaskSpec, pl *groupPlan, info *mitaiv1.DatasetInfo, conns map[string]protocol.Conn, report *mitaiv1.TaskReport) error {
	table, err := loadTable(info, dataset.Options{Dedupe: spec.Psi.GetDedupe()})
	if err != nil {
		return err
	}
	groupName := spec.Psi.GetGroup()
	if groupName == "" {
		groupName = e.group
	}
	g, err := group.ByName(groupName)
	if err != nil {
		return err
	}
	opts := psi.AlignOptions{
		JobID: spec.JobId + "/" + spec.TaskId, Group: g, Hub: pl.parties[0], Parties: pl.parties,
		MinIntersection: info.Policy.GetMinIntersection(), IdleTimeout: e.idleTimeout, Workers: e.psiWorkers,
		BatchSize: e.psiBatchSize,
	}
	var res *psi.AlignResult
	if pl.self == 0 {
		res, err = psi.RunAlignHub(ctx, e.party, conns, table, opts)
	} else {
		res, err = psi.RunAlignSpoke(ctx, e.party, conns[pl.parties[0]], table, opts)
	}
	if err != nil {
		return err
	}
	path, digest, err := e.writeCSV(e.resultPath(spec), func(w *csv.Writer) error {
		if err := w.Write([]string{info.KeyColumn}); err != nil {
			return err
		}
		rec := make([]string, 1)
		for _, k := range res.Keys {
			rec[0] = string(k)
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	report.LocalRows, report.IntersectionSize, report.IntersectionKnown = uint64(res.LocalSize), uint64(len(res.Keys)), true
	report.Rows = uint64(len(res.Keys))
	report.ResultPath, report.ResultDigest = path, digest
	report.Learned = []string{
		fmt.Sprintf("every party: the %d keys all %d parties hold, in sorted order, and nothing else about the others' keys", len(res.Keys), len(pl.parties)),
		fmt.Sprintf("%s (hub) also: the keys it shares with each other party", pl.parties[0]),
	}
	return nil
}

// runKeygen runs the collective key generation and keeps the key set and
// this party's sealed share in the key store.
func (e *Executor) runKeygen(ctx context.Context, spec *mitaiv1.TaskSpec, pl *groupPlan, conns map[string]protocol.Conn, report *mitaiv1.TaskReport) error {
	res, err := keygen.Run(ctx, e.party, conns, keygen.Options{
		JobID: spec.JobId, Seed: spec.Seed, Preset: spec.Keygen.Preset, Parties: pl.parties,
		Threshold: int(spec.Keygen.Threshold), IdleTimeout: e.idleTimeout,
	})
	if err != nil {
		return err
	}
	defer res.Secret.Erase()
	path, err := e.keys.save(res.KeySet, res.Secret)
	if err != nil {
		return err
	}
	id := res.KeySet.ID()
	report.KeySet, report.ResultPath, report.ResultDigest = id, path, id
	t := res.KeySet.Threshold
	report.Learned = []string{
		fmt.Sprintf("every party: the collective public key set %s (%s, %d-of-%d) and its own secret share; nobody holds the secret key", id[:16], res.KeySet.Preset.Name, t, len(pl.parties)),
	}
	return nil
}

// runScore scores the aligned rows: every party computes and encrypts its
// partial log-odds, and only the receiver (the first participant)
// decrypts the joint scores, which it writes as its result.
func (e *Executor) runScore(ctx context.Context, spec *mitaiv1.TaskSpec, pl *groupPlan, info *mitaiv1.DatasetInfo, conns map[string]protocol.Conn, report *mitaiv1.TaskReport) error {
	start := e.now()
	p := spec.Score
	ks, share, err := e.keys.load(p.KeySet, e.party)
	if err != nil {
		return err
	}
	defer share.Erase()
	model, err := e.loadModel(p.Model)
	if err != nil {
		return err
	}
	keys, err := e.alignedKeys(p.Alignment)
	if err != nil {
		return err
	}
	table, err := loadTable(info, dataset.Options{Columns: model.Columns()})
	if err != nil {
		return err
	}
	block, err := alignedBlock(table, keys, model.Columns())
	if err != nil {
		return fmt.Errorf("dataset %q: %w", info.Name, err)
	}
	policy, err := ScorePolicy(info.Policy)
	if err != nil {
		return err
	}
	prob, err := probabilityMode(p.Probability)
	if err != nil {
		return err
	}
	secret, err := e.keys.nodeSecret()
	if err != nil {
		return err
	}
	noiseKey := sha256.Sum256(append([]byte("mitai/v1/node/score-noise\x00"), secret...))
	opts := score.Options{
		JobID: spec.JobId, Receiver: pl.parties[0], Parties: pl.parties, KeySet: ks, Secret: share,
		Model: model, Clamp: p.Clamp, Scorecard: score.Scorecard{PDO: p.Pdo, Base: p.Base, Odds: p.Odds},
		Bands: p.Bands, Probability: prob, SigmoidBound: p.SigmoidBound, Policy: &policy,
		NoiseKey: noiseKey[:], IdleTimeout: e.idleTimeout, Workers: e.scoreWorkers,
	}
	report.LocalRows, report.Rows = uint64(table.Len()), uint64(len(keys))
	inputs := e.now()
	e.log.Info("score inputs ready", "job", spec.JobId, "rows", len(keys), "seconds", inputs.Sub(start).Seconds())
	defer func() {
		e.log.Info("score protocol ended", "job", spec.JobId, "seconds", e.now().Sub(inputs).Seconds())
	}()
	if pl.self != 0 {
		if _, err := score.RunContributor(ctx, e.party, conns, block, opts); err != nil {
			return err
		}
		report.Learned = []string{fmt.Sprintf("%s (contributor): the row count (%d) and the job's parameters", e.party, len(keys))}
		return nil
	}
	sc, _, err := score.RunReceiver(ctx, e.party, conns, block, opts)
	if err != nil {
		return err
	}
	path, digest, err := e.writeCSV(e.resultPath(spec), func(w *csv.Writer) error { return writeScores(w, info.KeyColumn, keys, sc) })
	if err != nil {
		return err
	}
	report.ResultPath, report.ResultDigest = path, digest
	report.Learned = []string{fmt.Sprintf("%s (receiver): the %s joint score of each of the %d aligned rows; no partner's features or weights", e.party, sc.Release, len(keys))}
	for _, q := range pl.parties[1:] {
		report.Learned = append(report.Learned, fmt.Sprintf("%s (contributor): the row count and the job's parameters", q))
	}
	return nil
}

func probabilityMode(s string) (score.Probability, error) {
	switch s {
	case "", "plain":
		return score.ProbabilityPlain, nil
	case "none":
		return score.ProbabilityNone, nil
	case "encrypted":
		return score.ProbabilityEncrypted, nil
	}
	return 0, fmt.Errorf("score probability %q: want plain, none or encrypted", s)
}

// writeScores writes the receiver's result: per aligned row the key and
// the log-odds, points and probability, or the score band.
func writeScores(w *csv.Writer, keyColumn string, keys [][]byte, sc *score.Scores) error {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	if sc.Bands != nil {
		if err := w.Write([]string{keyColumn, "band", "points_from", "points_to"}); err != nil {
			return err
		}
		for r, k := range keys {
			b := sc.Bands[r]
			from, to := math.Inf(-1), math.Inf(1)
			if b > 0 {
				from = sc.Cuts[b-1]
			}
			if b < len(sc.Cuts) {
				to = sc.Cuts[b]
			}
			if err := w.Write([]string{string(k), strconv.Itoa(b), f(from), f(to)}); err != nil {
				return err
			}
		}
		return nil
	}
	header := []string{keyColumn, "log_odds", "points"}
	if sc.Probability != nil {
		header = append(header, "probability")
	}
	if err := w.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(header))
	for r, k := range keys {
		rec = append(rec[:0], string(k), f(sc.LogOdds[r]), f(sc.Points[r]))
		if sc.Probability != nil {
			rec = append(rec, strconv.FormatFloat(sc.Probability[r], 'f', 8, 64))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// writeCSV writes a result file atomically (mode 0600) and returns its
// path and SHA-256.
func (e *Executor) writeCSV(path string, fill func(*csv.Writer) error) (string, string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", fmt.Errorf("node: results folder: %w", err)
	}
	h := sha256.New()
	err := writeAtomic(path, 0o600, func(f *os.File) error {
		bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<16)
		w := csv.NewWriter(bw)
		if err := fill(w); err != nil {
			return err
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return "", "", err
	}
	return path, hex.EncodeToString(h.Sum(nil)), nil
}

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// loadModel reads this party's model block models/<name>.json from the
// data folder; it must be this party's.
func (e *Executor) loadModel(name string) (*score.Model, error) {
	if !modelName.MatchString(name) {
		return nil, fmt.Errorf("model name %q: want 1-64 of A-Z a-z 0-9 . _ -", name)
	}
	path := filepath.Join(e.dataDir, "models", name+".json")
	m, err := score.ReadModel(path)
	if err != nil {
		return nil, fmt.Errorf("model %q (%s): %w", name, path, err)
	}
	if m.Party != e.party {
		return nil, fmt.Errorf("model %q (%s) is party %s's, this node is %s's", name, path, m.Party, e.party)
	}
	return m, nil
}

// alignedKeys reads the key list an mpsi job left on this node, checking
// that it is one: a header, then distinct keys in ascending byte order.
func (e *Executor) alignedKeys(job string) ([][]byte, error) {
	path := e.resultPath(&mitaiv1.TaskSpec{JobId: job, TaskId: "t0"}) // coordinator jobs have one task, t0
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("alignment %s: no aligned key list on this node (%w)", job, err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = 1
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		return nil, fmt.Errorf("alignment %s (%s): %w", job, path, err)
	}
	var keys [][]byte
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("alignment %s (%s): %w", job, path, err)
		}
		k := []byte(rec[0])
		if n := len(keys); n > 0 && strings.Compare(string(keys[n-1]), rec[0]) >= 0 {
			return nil, fmt.Errorf("alignment %s (%s): row %d is out of order or repeated; the file was altered", job, path, n+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("alignment %s (%s) holds no keys", job, path)
	}
	return keys, nil
}

// alignedBlock builds this party's feature block in the aligned order: row
// r holds the dataset row whose key is keys[r]. An empty cell, NA or NaN
// is a missing value (the model decides what that means); anything else
// that is not a number is an error naming the aligned row, the file line
// and the column, never the value.
func alignedBlock(t *dataset.Table, keys [][]byte, columns []string) (*score.Block, error) {
	index := newKeyIndex(t)
	cols := t.Columns()
	pos := make([]int, len(columns))
	for j, c := range columns {
		pos[j] = -1
		for k, have := range cols {
			if have == c {
				pos[j] = k
			}
		}
		if pos[j] < 0 {
			return nil, fmt.Errorf("the model's column %q is not in the dataset", c)
		}
	}
	b := &score.Block{Columns: columns, Data: make([][]float64, len(columns)), OrderDigest: score.OrderDigest(keys)}
	for j := range columns {
		b.Data[j] = make([]float64, len(keys))
	}
	for r, k := range keys {
		i, ok := index.find(t, k)
		if !ok {
			return nil, fmt.Errorf("aligned row %d: its key is not in the dataset (the alignment was made over another version of it)", r)
		}
		for j, c := range columns {
			cell := string(t.Value(i, pos[j]))
			v, err := strconv.ParseFloat(cell, 64) // also reads NaN
			if err != nil {
				switch strings.ToLower(strings.TrimSpace(cell)) {
				case "", "na", "nan":
					v = math.NaN()
				default:
					if v, err = strconv.ParseFloat(strings.TrimSpace(cell), 64); err != nil {
						return nil, fmt.Errorf("aligned row %d (line %d), column %q: not a number", r, t.Line(i), c)
					}
				}
			}
			b.Data[j][r] = v
		}
	}
	return b, nil
}

// keyIndex finds a table's row by key: a map from a 64-bit hash of the key
// to its row (a string-keyed map of a million keys costs twice the time),
// with colliding keys kept apart in a string-keyed map.
type keyIndex struct {
	seed     maphash.Seed
	rows     map[uint64]int32 // -1: more than one key has this hash
	collided map[string]int
}

func newKeyIndex(t *dataset.Table) *keyIndex {
	x := &keyIndex{seed: maphash.MakeSeed(), rows: make(map[uint64]int32, t.Len()), collided: map[string]int{}}
	for i := range t.Len() {
		h := maphash.Bytes(x.seed, t.Key(i))
		j, ok := x.rows[h]
		switch {
		case !ok:
			x.rows[h] = int32(i)
		case j >= 0:
			x.collided[string(t.Key(int(j)))] = int(j)
			x.rows[h] = -1
			fallthrough
		default:
			x.collided[string(t.Key(i))] = i
		}
	}
	return x
}

func (x *keyIndex) find(t *dataset.Table, k []byte) (int, bool) {
	j, ok := x.rows[maphash.Bytes(x.seed, k)]
	switch {
	case !ok:
		return 0, false
	case j >= 0:
		return int(j), bytes.Equal(t.Key(int(j)), k)
	}
	i, ok := x.collided[string(k)]
	return i, ok
}
