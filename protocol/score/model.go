package score

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// ModelFormat is the value of a model file's "format" field.
const ModelFormat = "mitai.score.model/v1"

// Model is one party's block of a linear (logistic) scoring model: the
// weights of the features that party holds. The log-odds of default of a
// row is the sum over parties of
//
//	intercept + Σ_j weight_j · (x_j - center_j) / scale_j
//
// where only the receiver's (the bank's) model may have an intercept. The
// JSON file:
//
//	{
//	  "format": "mitai.score.model/v1",
//	  "party": "bureau",
//	  "intercept": 0,
//	  "features": [
//	    {"column": "utilization", "weight": 0.81, "center": 0.42, "scale": 0.21,
//	     "min": 0, "max": 1.5, "missing": 0.42}
//	  ]
//	}
//
// center defaults to 0 and scale to 1 (a model fitted on standardized
// features keeps the standardization here). min and max, when present, are
// the range of valid raw values: outside it a value is an error naming the
// row and column, or is clamped into the range when the job asks to clamp.
// missing, when present, replaces NaN; without it NaN is always an error.
type Model struct {
	Format    string    `json:"format"`
	Party     string    `json:"party"`
	Intercept float64   `json:"intercept"`
	Features  []Feature `json:"features"`
}

// Feature is one column's weight and how its raw values are read.
type Feature struct {
	Column  string   `json:"column"`
	Weight  float64  `json:"weight"`
	Center  float64  `json:"center,omitempty"`
	Scale   float64  `json:"scale,omitempty"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Missing *float64 `json:"missing,omitempty"`
}

// Limits on models.
const (
	MaxFeatures = 4096
	// MaxContribution bounds the absolute partial log-odds of one party on
	// one row. Anything near it is a broken model or broken data; the bound
	// keeps every sum of up to 64 parties far inside the ciphertext modulus.
	MaxContribution = 1024
)

// ReadModel reads and validates a model file.
func ReadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseModel(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseModel parses and validates a model. Unknown fields are errors, so a
// misspelt key does not silently drop a setting.
func ParseModel(b []byte) (*Model, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("score: model: %w", err)
	}
	if dec.More() {
		return nil, errors.New("score: model: trailing data after the JSON object")
	}
	return &m, m.Validate()
}

// Validate checks the model on its own.
func (m *Model) Validate() error {
	if m.Format != ModelFormat {
		return fmt.Errorf("score: model format %q, want %q", m.Format, ModelFormat)
	}
	if m.Party == "" {
		return errors.New("score: model names no party")
	}
	if len(m.Features) == 0 || len(m.Features) > MaxFeatures {
		return fmt.Errorf("score: model of party %s has %d features, want 1 to %d", m.Party, len(m.Features), MaxFeatures)
	}
	if !finite(m.Intercept) {
		return fmt.Errorf("score: model of party %s: intercept %v", m.Party, m.Intercept)
	}
	seen := map[string]bool{}
	for i, f := range m.Features {
		if f.Column == "" {
			return fmt.Errorf("score: model of party %s: feature %d has no column", m.Party, i)
		}
		if seen[f.Column] {
			return fmt.Errorf("score: model of party %s: column %q appears twice", m.Party, f.Column)
		}
		seen[f.Column] = true
		if !finite(f.Weight) || !finite(f.Center) || !finite(f.Scale) || f.Scale < 0 {
			return fmt.Errorf("score: model of party %s: column %q: weight, center and scale must be finite (scale > 0)", m.Party, f.Column)
		}
		if f.Min != nil && !finite(*f.Min) || f.Max != nil && !finite(*f.Max) || f.Missing != nil && !finite(*f.Missing) {
			return fmt.Errorf("score: model of party %s: column %q: min, max and missing must be finite", m.Party, f.Column)
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			return fmt.Errorf("score: model of party %s: column %q: min %v above max %v", m.Party, f.Column, *f.Min, *f.Max)
		}
	}
	return nil
}

func (f Feature) scale() float64 {
	if f.Scale == 0 {
		return 1
	}
	return f.Scale
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Columns are the model's columns in file order.
func (m *Model) Columns() []string {
	out := make([]string, len(m.Features))
	for i, f := range m.Features {
		out[i] = f.Column
	}
	return out
}

// Block is one party's feature block over the aligned rows: the columns
// its model uses, row r of every column belonging to the same customer at
// every party (the order the alignment job fixed).
type Block struct {
	// Columns name Data's columns.
	Columns []string
	// Data[j][r] is column j at row r; every column has the same length.
	Data [][]float64
	// OrderDigest identifies the row order (OrderDigest of the aligned keys);
	// the parties compare it before anything else.
	OrderDigest [32]byte
}

// Rows is the number of rows.
func (b *Block) Rows() int {
	if len(b.Data) == 0 {
		return 0
	}
	return len(b.Data[0])
}

// OrderDigest is SHA-256 over the aligned keys in row order, each prefixed
// by its length, under a domain tag: every party computes it from its own
// copy of the aligned key list.
func OrderDigest(keys [][]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("mitai/v1/score/order\x00"))
	var n [binary.MaxVarintLen64]byte
	for _, k := range keys {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
		h.Write(k)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// InputError is bad input data: it names the row and column (the row is
// the index in the aligned order). It stays in the owner's log; peers are
// only told that the party's input could not be used.
type InputError struct {
	Row    int
	Column string
	Value  float64
	Reason string
}

func (e *InputError) Error() string {
	if e.Row < 0 {
		return fmt.Sprintf("score: column %q: %s", e.Column, e.Reason)
	}
	return fmt.Sprintf("score: row %d, column %q: value %v %s", e.Row, e.Column, e.Value, e.Reason)
}

// Partial computes the party's partial log-odds of every row: the model's
// intercept (if includeIntercept) plus its weighted features. It checks the
// block against the model (the same columns, every column of the same
// length), every value (finite, inside [min, max]; NaN replaced by missing
// when the model gives one; out-of-range values clamped when clamp is set)
// and every result (|partial| ≤ MaxContribution).
func (m *Model) Partial(b *Block, includeIntercept, clamp bool) ([]float64, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if !includeIntercept && m.Intercept != 0 {
		return nil, fmt.Errorf("score: model of party %s has intercept %v, but only the receiver's model may have one", m.Party, m.Intercept)
	}
	if len(b.Columns) != len(b.Data) {
		return nil, fmt.Errorf("score: block has %d column names and %d columns", len(b.Columns), len(b.Data))
	}
	idx := map[string]int{}
	for i, c := range b.Columns {
		if _, dup := idx[c]; dup {
			return nil, &InputError{Row: -1, Column: c, Reason: "appears twice in the block"}
		}
		idx[c] = i
	}
	var missing, extra []string
	for _, f := range m.Features {
		if _, ok := idx[f.Column]; !ok {
			missing = append(missing, f.Column)
		}
	}
	for _, c := range b.Columns {
		if !slices.Contains(m.Columns(), c) {
			extra = append(extra, c)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("the model's columns %q are not in the block", missing))
		}
		if len(extra) > 0 {
			parts = append(parts, fmt.Sprintf("the block's columns %q are not in the model", extra))
		}
		return nil, fmt.Errorf("score: model of party %s does not match its data: %s", m.Party, strings.Join(parts, "; "))
	}
	n := b.Rows()
	for j, col := range b.Data {
		if len(col) != n {
			return nil, &InputError{Row: -1, Column: b.Columns[j], Reason: fmt.Sprintf("has %d rows, the block %d", len(col), n)}
		}
	}
	out := make([]float64, n)
	if includeIntercept {
		for r := range out {
			out[r] = m.Intercept
		}
	}
	for _, f := range m.Features {
		col := b.Data[idx[f.Column]]
		w := f.Weight / f.scale()
		for r, x := range col {
			if math.IsNaN(x) {
				if f.Missing == nil {
					return nil, &InputError{Row: r, Column: f.Column, Value: x, Reason: "is missing (NaN) and the model gives no value for missing"}
				}
				x = *f.Missing
			}
			if math.IsInf(x, 0) {
				return nil, &InputError{Row: r, Column: f.Column, Value: x, Reason: "is not finite"}
			}
			if f.Min != nil && x < *f.Min || f.Max != nil && x > *f.Max {
				if !clamp {
					return nil, &InputError{Row: r, Column: f.Column, Value: x, Reason: fmt.Sprintf("is outside the model's range [%v, %v] (the job may ask to clamp)", deref(f.Min, math.Inf(-1)), deref(f.Max, math.Inf(1)))}
				}
				x = min(max(x, deref(f.Min, x)), deref(f.Max, x))
			}
			out[r] += w * (x - f.Center)
		}
	}
	for r, u := range out {
		if !(math.Abs(u) <= MaxContribution) {
			return nil, &InputError{Row: r, Column: "(partial log-odds)", Value: u, Reason: fmt.Sprintf("exceeds ±%d: the model or the data is broken", MaxContribution)}
		}
	}
	return out, nil
}

func deref(p *float64, d float64) float64 {
	if p == nil {
		return d
	}
	return *p
}
