package dataset

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"unicode/utf8"
)

// Load reads a table from r: the header, then every row's key and the
// payload columns named in opts.Columns. It makes all the checks described
// in the package comment; problems with the input are *InputError.
func Load(r io.Reader, opts Options) (*Table, error) {
	return read(r, opts, true)
}

// LoadFile is Load on the named file; an *InputError names the file.
func LoadFile(path string, opts Options) (*Table, error) {
	var t *Table
	err := withFile(path, func(f *os.File) (err error) {
		t, err = Load(f, opts)
		return err
	})
	return t, err
}

// Scan reads a table from r like Load and returns its metadata. It keeps no
// payload and returns no rows, but it holds the key column in memory while
// it looks for duplicated keys (at peak about 30 bytes a row for 10-byte
// keys). A duplicated key is counted, and is an error only without
// opts.Dedupe.
func Scan(r io.Reader, opts Options) (Info, error) {
	t, err := read(r, opts, false)
	if err != nil {
		return Info{}, err
	}
	return Info{
		Header:        t.header,
		KeyColumn:     opts.KeyColumn,
		Rows:          t.n,
		Digest:        t.digest,
		DuplicateKeys: t.dups,
	}, nil
}

// ScanFile is Scan on the named file; an *InputError names the file.
func ScanFile(path string, opts Options) (Info, error) {
	var info Info
	err := withFile(path, func(f *os.File) (err error) {
		info, err = Scan(f, opts)
		return err
	})
	return info, err
}

func withFile(path string, fn func(*os.File) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	err = fn(f)
	var ie *InputError
	if errors.As(err, &ie) {
		ie.Path = path
	}
	return err
}

// read does Load and Scan. With keep unset it stores only the keys, and
// drops no rows for Dedupe but only counts them.
func read(r io.Reader, opts Options, keep bool) (*Table, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	size := inputSize(r)
	cr, err := newCSVReader(r, opts.MaxLineBytes)
	if err != nil {
		return nil, err
	}

	rec, hline, err := cr.read()
	if err == io.EOF {
		return nil, &InputError{Msg: "file is empty (need a header line)"}
	}
	if err != nil {
		return nil, err
	}
	header := slices.Clone(rec)
	keyIdx, colIdx, err := checkHeader(header, hline, cr, opts)
	if err != nil {
		return nil, err
	}
	var t *Table
	if keep {
		t = newTable(header, slices.Clone(opts.Columns))
	} else {
		t = newTable(header, nil)
		colIdx = nil
	}
	t.grow = &growth{total: size, done: cr.csv.InputOffset}

	var p keyProblems
	for {
		rec, line, err := cr.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) != len(header) {
			return nil, inputErrorf(line, "line %d has %d fields, header has %d", line, len(rec), len(header))
		}
		for j, f := range rec {
			if !utf8.ValidString(f) {
				l := cr.fieldLine(j)
				return nil, inputErrorf(l, "line %d, column %q: invalid UTF-8", l, header[j])
			}
		}
		if uint64(line) > math.MaxUint32 {
			return nil, inputErrorf(line, "line %d: too many lines", line)
		}
		key := rec[keyIdx]
		if key == "" {
			p.empty++
			if len(p.emptyLines) < maxListed {
				p.emptyLines = append(p.emptyLines, line)
			}
		}
		t.appendCell(key)
		for _, j := range colIdx {
			t.appendCell(rec[j])
		}
		t.endRow(line)
	}
	t.grow = nil
	if t.n == 0 {
		return nil, inputErrorf(hline, "no data rows after the header")
	}
	t.digest = cr.sum()

	drop := findDuplicates(t, &p, keep && opts.Dedupe, hashKey)
	if err := p.err(!opts.Dedupe); err != nil {
		return nil, err
	}
	t.dups = p.dupRows
	if drop != nil {
		t.compact(drop)
	} else if !keep {
		t.n -= p.dupRows // Scan reports the rows Load would keep
	}
	if keep {
		t.trim()
	}
	return t, nil
}

// checkHeader checks the header and returns the index of the key column
// and of each kept column.
func checkHeader(header []string, line int, cr *csvReader, opts Options) (int, []int, error) {
	pos := make(map[string]int, len(header))
	for j, name := range header {
		if !utf8.ValidString(name) {
			l := cr.fieldLine(j)
			return 0, nil, inputErrorf(l, "line %d, header field %d: invalid UTF-8", l, j+1)
		}
		if k, ok := pos[name]; ok {
			return 0, nil, inputErrorf(line, "line %d: header has column %q twice (fields %d and %d)", line, name, k+1, j+1)
		}
		pos[name] = j
	}
	keyIdx, ok := pos[opts.KeyColumn]
	if !ok {
		return 0, nil, inputErrorf(line, "key column %q not in header %s", opts.KeyColumn, headerList(header))
	}
	colIdx := make([]int, len(opts.Columns))
	for i, c := range opts.Columns {
		j, ok := pos[c]
		if !ok {
			return 0, nil, inputErrorf(line, "column %q not in header %s", c, headerList(header))
		}
		colIdx[i] = j
	}
	return keyIdx, colIdx, nil
}

// compact removes the rows marked in the bitmap drop, in place.
func (t *Table) compact(drop []uint64) {
	var (
		w     uint64 // arena bytes kept so far
		wc    int    // cells kept so far
		wr    int    // rows kept so far
		start uint64 // start of row i in the old arena
		wraps []int
	)
	old := *t
	t.ends = t.ends[:0]
	for i := 0; i < old.n; i++ {
		last := (i+1)*old.stride - 1
		end := old.end(last)
		if drop[i/64]&(1<<(i%64)) == 0 {
			copy(t.arena[w:], old.arena[start:end])
			for c := i * old.stride; c <= last; c++ {
				e := old.end(c) - start + w
				for e>>t.wrapBits > uint64(len(wraps)) {
					wraps = append(wraps, wc)
				}
				t.ends = t.ends[:wc+1]
				t.ends[wc] = uint32(e & (1<<t.wrapBits - 1))
				wc++
			}
			t.lines[wr] = old.lines[i]
			w += end - start
			wr++
		}
		start = end
	}
	t.arena = t.arena[:w]
	t.wraps = wraps
	t.lines = t.lines[:wr]
	t.n = wr
}

// trim gives back spare capacity left by append, when it is worth a copy.
func (t *Table) trim() {
	t.arena = trimmed(t.arena)
	t.ends = trimmed(t.ends)
	t.lines = trimmed(t.lines)
}

func trimmed[S ~[]E, E any](s S) S {
	if cap(s)-len(s) > len(s)/16 {
		return slices.Clone(s)
	}
	return s
}
