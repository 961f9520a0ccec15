package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// InputError reports a problem with a table's contents: its shape, its
// encoding or its keys. Errors that are not *InputError come from reading
// (I/O) or from invalid Options.
type InputError struct {
	// Path is the file name for LoadFile and ScanFile, "" otherwise.
	Path string
	// Line is the 1-based physical line of the problem, or of its first
	// instance when the message lists several; 0 when it has none.
	Line int
	// Msg says what is wrong and where, without the "dataset: " prefix.
	Msg string
	// Err is the underlying error, if any: a *csv.ParseError for malformed
	// CSV, ErrEmptyKey or ErrDuplicateKey (or both, joined) for key problems.
	Err error
}

// Error returns "dataset: " followed by the file name, if known, and Msg.
func (e *InputError) Error() string {
	if e.Path != "" {
		return "dataset: " + e.Path + ": " + e.Msg
	}
	return "dataset: " + e.Msg
}

// Unwrap returns Err.
func (e *InputError) Unwrap() error { return e.Err }

var (
	// ErrEmptyKey is wrapped by the *InputError that reports rows with an
	// empty key.
	ErrEmptyKey = errors.New("dataset: empty key")
	// ErrDuplicateKey is wrapped by the *InputError that reports duplicated
	// keys when Options.Dedupe is not set; a caller can suggest Dedupe.
	ErrDuplicateKey = errors.New("dataset: duplicated key")
	// ErrMalformedRow is wrapped by every error of DecodeRow.
	ErrMalformedRow = errors.New("dataset: malformed row")
)

func inputErrorf(line int, format string, args ...any) *InputError {
	return &InputError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// maxListed is how many instances of a repeated problem a message lists.
const maxListed = 5

// keyProblems collects what is wrong with a table's keys.
type keyProblems struct {
	empty      int   // rows with an empty key
	emptyLines []int // the first maxListed of their lines

	dupRows  int          // rows whose key repeats an earlier row's
	dupKeys  int          // distinct keys that occur more than once
	examples []dupExample // the maxListed duplicated keys that occur first
}

// dupExample is one duplicated key, for the message.
type dupExample struct {
	first int    // row of its first occurrence
	key   []byte // view into the table
	rows  int    // rows with this key
	lines []int  // lines of its first few rows
}

// offer keeps e if it is among the maxListed duplicated keys that occur
// first in the file.
func (p *keyProblems) offer(e dupExample) {
	i := len(p.examples)
	for i > 0 && p.examples[i-1].first > e.first {
		i--
	}
	if i >= maxListed {
		return
	}
	p.examples = append(p.examples, dupExample{})
	copy(p.examples[i+1:], p.examples[i:])
	p.examples[i] = e
	if len(p.examples) > maxListed {
		p.examples = p.examples[:maxListed]
	}
}

// err returns the error for the problems, or nil. Duplicates are an error
// only when fatalDups is set (Options.Dedupe is not).
func (p *keyProblems) err(fatalDups bool) error {
	var msgs []string
	var errs []error
	line := 0
	if p.empty > 0 {
		line = p.emptyLines[0]
		var b strings.Builder
		if p.empty == 1 {
			fmt.Fprintf(&b, "1 row has an empty key (line %d)", line)
		} else {
			fmt.Fprintf(&b, "%d rows have an empty key (lines %s", p.empty, joinInts(p.emptyLines))
			if p.empty > len(p.emptyLines) {
				b.WriteString(", ...")
			}
			b.WriteString(")")
		}
		msgs = append(msgs, b.String())
		errs = append(errs, ErrEmptyKey)
	}
	if fatalDups && p.dupKeys > 0 {
		if line == 0 {
			line = p.examples[0].lines[0]
		}
		var b strings.Builder
		if p.dupKeys == 1 {
			b.WriteString("1 duplicated key")
		} else {
			fmt.Fprintf(&b, "%d duplicated keys", p.dupKeys)
		}
		if p.dupRows != p.dupKeys {
			fmt.Fprintf(&b, " (%d rows repeat an earlier key)", p.dupRows)
		}
		b.WriteString(": ")
		for i, e := range p.examples {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s (lines ", quoteKey(e.key))
			if more := e.rows - len(e.lines); more > 0 {
				fmt.Fprintf(&b, "%s and %d more", joinInts(e.lines), more)
			} else {
				last := len(e.lines) - 1
				fmt.Fprintf(&b, "%s and %d", joinInts(e.lines[:last]), e.lines[last])
			}
			b.WriteString(")")
		}
		if more := p.dupKeys - len(p.examples); more > 0 {
			fmt.Fprintf(&b, ", and %d more", more)
		}
		msgs = append(msgs, b.String())
		errs = append(errs, ErrDuplicateKey)
	}
	if len(msgs) == 0 {
		return nil
	}
	e := &InputError{Line: line, Msg: strings.Join(msgs, "; "), Err: errs[0]}
	if len(errs) > 1 {
		e.Err = errors.Join(errs...)
	}
	return e
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// maxQuotedKey is the longest key prefix a message shows.
const maxQuotedKey = 40

// quoteKey quotes a key for a message, shortened if long.
func quoteKey(k []byte) string {
	if len(k) <= maxQuotedKey {
		return strconv.Quote(string(k))
	}
	n := maxQuotedKey
	for n > 0 && !utf8.RuneStart(k[n]) {
		n--
	}
	return strconv.Quote(string(k[:n])) + "..."
}

// headerList formats a header for a message, shortened if wide.
func headerList(h []string) string {
	const max = 32
	if len(h) <= max {
		return fmt.Sprint(h)
	}
	return strings.TrimSuffix(fmt.Sprint(h[:max]), "]") + fmt.Sprintf(" ... and %d more]", len(h)-max)
}
