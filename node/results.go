package node

import (
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/mitai-dev/mitai/node/dataset"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// writeResult writes the local party's result as CSV, atomically, and
// returns its path and SHA-256:
//
//   - intersection: the key column of the local rows in the intersection;
//   - join (receiver): the key, the local columns, then the peer's columns
//     named "<peer party>.<column>";
//   - cardinality: one column intersection_size.
func (e *Executor) writeResult(spec *mitaiv1.TaskSpec, pl *plan, keyColumn string, table *dataset.Table, res *psi.Result) (string, string, error) {
	return e.writeCSV(e.resultPath(spec), func(w *csv.Writer) error { return writeRows(w, pl, keyColumn, table, res) })
}

func writeRows(w *csv.Writer, pl *plan, keyColumn string, table *dataset.Table, res *psi.Result) error {
	if pl.mode == psi.Cardinality {
		if err := w.Write([]string{"intersection_size"}); err != nil {
			return err
		}
		return w.Write([]string{strconv.Itoa(res.IntersectionSize)})
	}
	header := []string{keyColumn}
	local := table.Columns()
	var peerCols []string
	if pl.mode == psi.Join {
		header = append(header, local...)
		peerCols = pl.columns
		for _, c := range peerCols {
			header = append(header, pl.peer.Party+"."+c)
		}
	}
	if err := w.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(header))
	for k, row := range res.Rows {
		rec = rec[:0]
		rec = append(rec, string(table.Key(row)))
		if pl.mode == psi.Join {
			for c := range local {
				rec = append(rec, string(table.Value(row, c)))
			}
			vals, err := dataset.DecodeRow(res.Payloads[k], len(peerCols))
			if err != nil {
				return fmt.Errorf("node: payload from %s for row %d: %w", pl.peer.Party, table.Line(row), err)
			}
			for _, v := range vals {
				rec = append(rec, string(v))
			}
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// learned says, in words, what each party learned in this task.
func learned(self string, pl *plan, res *psi.Result) []string {
	a, b := self, pl.peer.Party
	nA, nB := res.LocalSize, res.PeerSize
	if !pl.receiver {
		a, b = b, a
		nA, nB = nB, nA
	}
	var out []string
	switch pl.mode {
	case psi.Intersection:
		out = append(out, fmt.Sprintf("%s (receiver): the keys in both sets and %s's set size (%d)", a, b, nB))
		if pl.both {
			out = append(out, fmt.Sprintf("%s (sender): the keys in both sets and %s's set size (%d)", b, a, nA))
		} else {
			out = append(out, fmt.Sprintf("%s (sender): %s's set size (%d) and that the result was released", b, a, nA))
		}
	case psi.Cardinality:
		out = append(out, fmt.Sprintf("%s (receiver): the intersection size and %s's set size (%d), not which keys", a, b, nB))
		if pl.both {
			out = append(out, fmt.Sprintf("%s (sender): the intersection size and %s's set size (%d)", b, a, nA))
		} else {
			out = append(out, fmt.Sprintf("%s (sender): %s's set size (%d) and that the result was released", b, a, nA))
		}
	case psi.Join:
		out = append(out, fmt.Sprintf("%s (receiver): the keys in both sets, %s's columns %v for those keys only, and %s's set size (%d)", a, b, pl.columns, b, nB))
		out = append(out, fmt.Sprintf("%s (sender): %s's set size (%d) and that the result was released", b, a, nA))
	}
	return out
}
