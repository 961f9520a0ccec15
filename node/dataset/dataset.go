// Package dataset reads a party's CSV tables.
//
// A node registers a dataset with [Scan]: one streaming pass over the file
// that checks it and returns the metadata registration publishes ([Info]:
// header, key column, row count, SHA-256 digest, duplicate count), never
// rows. A PSI job later calls [Load], which makes the same checks and keeps
// the key column and the payload columns the job may send in a compact
// [Table]: all cells of all rows in one byte arena with 32-bit offsets, so
// that 10^7 rows of short keys take about 200 MB, without a Go string or
// slice per row.
//
// The CSV dialect is RFC 4180 as read by encoding/csv: the first record is
// the header; fields are separated by commas; a quoted field may hold commas,
// doubled quotes and newlines; lines end in LF or CRLF; blank lines are
// skipped; a UTF-8 byte order mark at the start of the file is ignored. Every
// record must have as many fields as the header, and every field, header
// included, must be valid UTF-8. Fields are taken as bytes, exactly: nothing
// is trimmed, case-folded or normalised (encoding/csv does turn a CRLF inside
// a quoted field into LF). In particular keys compare as bytes: "A1" and
// "a1 " are different keys, so two parties must agree on a canonical key form
// before they intersect; this package does not impose one.
//
// Checks on the key column: an empty key is always an error, and so is a
// duplicated key unless [Options.Dedupe] is set, in which case the first row
// of each key is kept and the others are counted, never silently lost. A
// physical line longer than [Options.MaxLineBytes] stops the read without
// buffering the rest of the line, so a hostile or broken file cannot make the
// node allocate without bound.
//
// Problems with the file are reported as *[InputError], which names the line
// and, for duplicated keys, quotes up to a few key values. Those messages are
// for the node's operator: they may contain row data and must not be sent to
// the coordinator or to peers. Only [Info] is meant to leave the node.
//
// The package does not read Parquet, infer column types, or apply policies.
package dataset

import (
	"errors"
	"fmt"
	"sort"
)

// DefaultMaxLineBytes is the limit on a physical line's length used when
// Options.MaxLineBytes is 0.
const DefaultMaxLineBytes = 1 << 20

// Options says how to read a table.
type Options struct {
	// KeyColumn is the name of the key column in the header. Required.
	KeyColumn string
	// Columns are the payload columns to keep, in this order; may be empty.
	// Each must exist in the header and differ from KeyColumn. Scan checks
	// that they exist but keeps none.
	Columns []string
	// Dedupe keeps the first row of each duplicated key and reports how many
	// rows were dropped, instead of failing.
	Dedupe bool
	// MaxLineBytes is the longest physical line allowed, not counting its
	// newline; 0 means DefaultMaxLineBytes. It also bounds a record whose
	// quoted field spans several lines.
	MaxLineBytes int
}

// check rejects nonsensical options and fills in defaults. Its errors are
// the caller's mistakes, not the file's, so they are not *InputError.
func (o Options) check() (Options, error) {
	if o.KeyColumn == "" {
		return o, errors.New("dataset: Options.KeyColumn is empty")
	}
	seen := make(map[string]bool, len(o.Columns))
	for _, c := range o.Columns {
		switch {
		case c == o.KeyColumn:
			return o, fmt.Errorf("dataset: Options.Columns contains the key column %q", c)
		case seen[c]:
			return o, fmt.Errorf("dataset: Options.Columns names %q twice", c)
		}
		seen[c] = true
	}
	switch {
	case o.MaxLineBytes < 0:
		return o, fmt.Errorf("dataset: Options.MaxLineBytes is negative (%d)", o.MaxLineBytes)
	case o.MaxLineBytes == 0:
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	return o, nil
}

// Table is a loaded table: the key and the kept payload columns of every
// row, in file order. It is immutable and safe for concurrent readers.
type Table struct {
	header  []string
	columns []string
	stride  int // cells per row: the key, then the kept columns

	// The cells of all rows, row-major, back to back in arena. ends holds
	// the low wrapBits bits of each cell's end offset; wraps lists, for each
	// further multiple of 1<<wrapBits that the arena reaches, the first cell
	// whose end reaches it (so it is empty below 4 GiB). A cell starts where
	// the previous one ends.
	arena    []byte
	ends     []uint32
	wraps    []int
	wrapBits uint // 32, smaller only in tests

	lines  []uint32 // 1-based physical line on which each row starts
	n      int
	digest [32]byte
	dups   int

	grow *growth // while loading
}

func newTable(header, columns []string) *Table {
	return &Table{header: header, columns: columns, stride: 1 + len(columns), wrapBits: 32}
}

// appendCell appends the next cell of the row being added.
func (t *Table) appendCell(b string) {
	t.arena = append(grown(t.grow, t.arena, len(b)), b...)
	e := uint64(len(t.arena))
	for e>>t.wrapBits > uint64(len(t.wraps)) {
		t.wraps = append(t.wraps, len(t.ends))
	}
	t.ends = append(grown(t.grow, t.ends, 1), uint32(e&(1<<t.wrapBits-1)))
}

// endRow ends the row being added, which starts on the given line.
func (t *Table) endRow(line int) {
	t.lines = append(grown(t.grow, t.lines, 1), uint32(line))
	t.n++
}

// end returns the end offset of cell c.
func (t *Table) end(c int) uint64 {
	e := uint64(t.ends[c])
	if len(t.wraps) > 0 {
		e |= uint64(sort.SearchInts(t.wraps, c+1)) << t.wrapBits
	}
	return e
}

// cell returns cell c, capped so that appending to it cannot write into the
// next cell.
func (t *Table) cell(c int) []byte {
	var s uint64
	if c > 0 {
		s = t.end(c - 1)
	}
	e := t.end(c)
	return t.arena[s:e:e]
}

func (t *Table) checkRow(i int) {
	if uint(i) >= uint(t.n) {
		panic(fmt.Sprintf("dataset: row %d out of range [0,%d)", i, t.n))
	}
}

// Len returns the number of rows.
func (t *Table) Len() int { return t.n }

// Key returns the key of row i, a view into the table's memory that the
// caller must not modify. It panics if i is out of range.
func (t *Table) Key(i int) []byte {
	t.checkRow(i)
	return t.cell(i * t.stride)
}

// Value returns the value of payload column col (an index into
// Options.Columns) in row i, a view into the table's memory that the caller
// must not modify. It panics if i or col is out of range.
func (t *Table) Value(i, col int) []byte {
	t.checkRow(i)
	if uint(col) >= uint(t.stride-1) {
		panic(fmt.Sprintf("dataset: column %d out of range [0,%d)", col, t.stride-1))
	}
	return t.cell(i*t.stride + 1 + col)
}

// Columns returns the names of the kept payload columns, in the order of
// Options.Columns.
func (t *Table) Columns() []string { return append([]string(nil), t.columns...) }

// Header returns the file's full header.
func (t *Table) Header() []string { return append([]string(nil), t.header...) }

// Digest returns the SHA-256 of the file's bytes exactly as read, byte order
// mark and line endings included, so the same file has the same digest on
// every node.
func (t *Table) Digest() [32]byte { return t.digest }

// Duplicates returns the number of rows that Options.Dedupe dropped because
// their key repeats an earlier row's; 0 without Dedupe.
func (t *Table) Duplicates() int { return t.dups }

// Line returns the 1-based physical line of the file on which row i starts,
// for messages. It panics if i is out of range.
func (t *Table) Line(i int) int {
	t.checkRow(i)
	return int(t.lines[i])
}

// memBytes is the memory the table holds for its rows.
func (t *Table) memBytes() int {
	return cap(t.arena) + 4*cap(t.ends) + 4*cap(t.lines) + 8*cap(t.wraps)
}

// Info is what registration publishes: metadata only, never rows.
type Info struct {
	// Header is the file's full header.
	Header []string
	// KeyColumn is the name of the key column.
	KeyColumn string
	// Rows is the number of rows Load returns: the file's data rows minus
	// DuplicateKeys.
	Rows int
	// Digest is the SHA-256 of the file's bytes exactly as read.
	Digest [32]byte
	// DuplicateKeys is the number of rows whose key repeats an earlier
	// row's, dropped by Options.Dedupe (Scan fails on them without it).
	DuplicateKeys int
}
