package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protojson"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// MaxLineBytes is the longest line ReadJSONL accepts, newline excluded.
const MaxLineBytes = 16 << 20

// WriteJSONL writes entries as an export: JSON Lines, one protojson-encoded
// AuditEntry per line (bytes fields in base64, protojson's default field
// names), UTF-8, each line ending in "\n". It buffers its writes.
func WriteJSONL(w io.Writer, entries []*mitaiv1.AuditEntry) error {
	bw := bufio.NewWriter(w)
	for i, e := range entries {
		if e == nil {
			return fmt.Errorf("ledger: export: entry at position %d is nil", i)
		}
		b, err := protojson.Marshal(e)
		if err != nil {
			return fmt.Errorf("ledger: export entry %d: %w", e.Index, err)
		}
		if len(b) > MaxLineBytes {
			return fmt.Errorf("ledger: export entry %d: its line would be %d bytes long, ReadJSONL reads at most %d", e.Index, len(b), MaxLineBytes)
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("ledger: export entry %d: %w", e.Index, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("ledger: export: %w", err)
	}
	return nil
}

// ParseError is ReadJSONL's error for a line that is not an AuditEntry.
type ParseError struct {
	// Line is the line number, from 1.
	Line int
	// Index is the entry index the line should have held, taken from the
	// previous line (or, for the first line, from the next one); 0 if
	// neither tells.
	Index uint64
	// Err is what is wrong with the line.
	Err error
}

// Error names the line and, when known, the entry.
func (e *ParseError) Error() string {
	if e.Index != 0 {
		return fmt.Sprintf("ledger: export line %d (entry %d) does not parse: %v", e.Line, e.Index, e.Err)
	}
	return fmt.Sprintf("ledger: export line %d does not parse: %v", e.Line, e.Err)
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// ReadJSONL parses an export written by [WriteJSONL]. Empty input is a valid
// export of 0 entries; the last line need not end in a newline, and a
// trailing "\r" is ignored. A line that is empty, longer than MaxLineBytes,
// not valid protojson for an AuditEntry, or has unknown fields is a
// [*ParseError] naming the line and, when the neighbouring line tells, the
// entry index it should have held. ReadJSONL checks nothing about the chain:
// run [Verify] on what it returns. It never panics.
func ReadJSONL(r io.Reader) ([]*mitaiv1.AuditEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	var out []*mitaiv1.AuditEntry
	line := 0
	for sc.Scan() {
		line++
		e, err := parseLine(sc.Bytes())
		if err != nil {
			pe := &ParseError{Line: line, Index: nextIndex(out), Err: err}
			if len(out) == 0 && sc.Scan() {
				// Nothing before: ask the next line.
				if next, err := parseLine(sc.Bytes()); err == nil && next.Index > 1 {
					pe.Index = next.Index - 1
				}
			}
			return nil, pe
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ParseError{Line: line + 1, Index: nextIndex(out),
				Err: fmt.Errorf("line is longer than %d bytes", MaxLineBytes)}
		}
		return nil, fmt.Errorf("ledger: read export after line %d: %w", line, err)
	}
	return out, nil
}

// parseLine decodes one line of an export.
func parseLine(b []byte) (*mitaiv1.AuditEntry, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty line")
	}
	e := new(mitaiv1.AuditEntry)
	if err := protojson.Unmarshal(b, e); err != nil {
		return nil, err
	}
	return e, nil
}

// nextIndex is the index expected after the last entry of out, or 0.
func nextIndex(out []*mitaiv1.AuditEntry) uint64 {
	if len(out) == 0 {
		return 0
	}
	if prev := out[len(out)-1].Index; prev != 0 && prev != math.MaxUint64 {
		return prev + 1
	}
	return 0
}
