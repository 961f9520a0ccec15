package dataset

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"hash"
	"io"
)

// csvReader is the reading pipeline: the source, teed into SHA-256, stripped
// of a byte order mark, bounded by a limitReader, parsed by encoding/csv.
type csvReader struct {
	digest hash.Hash
	csv    *csv.Reader
}

var bom = []byte{0xEF, 0xBB, 0xBF}

func newCSVReader(r io.Reader, maxLine int) (*csvReader, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 64<<10)
	if b, err := br.Peek(len(bom)); bytes.Equal(b, bom) {
		br.Discard(len(bom))
	} else if err != nil && err != io.EOF {
		return nil, readError(err)
	}
	cr := csv.NewReader(&limitReader{r: br, max: maxLine, line: 1, recLine: 1})
	cr.FieldsPerRecord = -1 // checked here, for a clearer message
	cr.ReuseRecord = true
	return &csvReader{digest: h, csv: cr}, nil
}

// read returns the next record and the line it starts on, io.EOF at the
// end, an *InputError for bad input, or another error for I/O. The record
// is valid until the next call.
func (c *csvReader) read() ([]string, int, error) {
	rec, err := c.csv.Read()
	switch {
	case err == io.EOF:
		return nil, 0, err
	case err != nil:
		return nil, 0, classify(err)
	}
	line, _ := c.csv.FieldPos(0)
	return rec, line, nil
}

// fieldLine returns the line on which field j of the last record starts.
func (c *csvReader) fieldLine(j int) int {
	line, _ := c.csv.FieldPos(j)
	return line
}

// sum returns the digest of everything read so far; after io.EOF, of the
// whole input.
func (c *csvReader) sum() (d [32]byte) {
	c.digest.Sum(d[:0])
	return d
}

// classify turns an error from csv.Reader into an *InputError, or wraps an
// I/O error.
func classify(err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		e := inputErrorf(pe.Line, "line %d, byte %d: malformed CSV: %v", pe.Line, pe.Column, pe.Err)
		if pe.StartLine != pe.Line {
			e.Msg += fmt.Sprintf(" (in the record that starts at line %d)", pe.StartLine)
		}
		e.Err = pe
		return e
	}
	return readError(err)
}

func readError(err error) error { return fmt.Errorf("dataset: read: %w", err) }

// limitReader passes bytes through until a physical line, or a record whose
// quoted field spans lines, grows longer than max bytes; from then on it
// returns an *InputError. It lets encoding/csv read a hostile file with
// bounded memory: csv.Reader buffers a whole line, and a whole record,
// before it returns either.
//
// Records are told apart by quote parity: with LazyQuotes off, a newline
// ends a record exactly when an even number of quotes precede it in the
// record. On malformed input the parity may be off, but then csv.Reader
// reports the malformed line first.
type limitReader struct {
	r       io.Reader
	max     int
	line    int  // current physical line, 1-based
	lineLen int  // bytes of the current line so far, without newlines
	recLine int  // line on which the current record starts
	recLen  int  // bytes of the current record so far
	quoted  bool // inside a quoted field
	err     error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if k := l.count(p[:n]); k < n || l.err != nil {
		return k, l.err
	}
	return n, err
}

// count advances over b and returns how many of its bytes are within the
// limits; if fewer than len(b), it has set l.err.
func (l *limitReader) count(b []byte) int {
	done := 0
	for done < len(b) {
		seg := b[done:]
		nl := bytes.IndexByte(seg, '\n')
		if nl >= 0 {
			seg = seg[:nl]
		}
		if l.lineLen+len(seg) > l.max {
			l.err = inputErrorf(l.line, "line %d is longer than %d bytes", l.line, l.max)
			return done + l.max - l.lineLen
		}
		if l.recLen+len(seg) > l.max {
			l.err = inputErrorf(l.recLine, "record starting at line %d is longer than %d bytes", l.recLine, l.max)
			return done + max(l.max-l.recLen, 0)
		}
		l.lineLen += len(seg)
		l.recLen += len(seg)
		if bytes.Count(seg, []byte{'"'})%2 == 1 {
			l.quoted = !l.quoted
		}
		if nl < 0 {
			return len(b)
		}
		done += nl + 1
		l.line++
		l.lineLen = 0
		if l.quoted {
			l.recLen++
		} else {
			l.recLen = 0
			l.recLine = l.line
		}
	}
	return done
}
