package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

type wantRow struct {
	key  string
	vals []string
	line int
}

// readers wraps an input in readers that return it in odd pieces, to
// exercise the line limiter and the byte order mark check.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"onebyte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"dataerr", iotest.DataErrReader},
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		opts   Options
		header []string
		rows   []wantRow
		dups   int
	}{{
		name:   "simple, columns reordered",
		in:     "id,name,amount\n1,alice,10\n2,bob,20\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"amount", "name"}},
		header: []string{"id", "name", "amount"},
		rows:   []wantRow{{"1", []string{"10", "alice"}, 2}, {"2", []string{"20", "bob"}, 3}},
	}, {
		name:   "key only, key not first",
		in:     "name,id\nalice,1\nbob,2\n",
		opts:   Options{KeyColumn: "id"},
		header: []string{"name", "id"},
		rows:   []wantRow{{"1", nil, 2}, {"2", nil, 3}},
	}, {
		name:   "quoted commas, quotes and newlines",
		in:     "id,note\n\"a,1\",\"he said \"\"hi\"\"\"\nb,\"line1\nline2\"\nc,\"x,y\n\"\"z\"\"\"\nd,\"\"\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"note"}},
		header: []string{"id", "note"},
		rows: []wantRow{
			{"a,1", []string{`he said "hi"`}, 2},
			{"b", []string{"line1\nline2"}, 3},
			{"c", []string{"x,y\n\"z\""}, 5},
			{"d", []string{""}, 7},
		},
	}, {
		name:   "UTF-8 names",
		in:     "客户号,姓名\n001,张三\n002,李四\n003,Zoë\n",
		opts:   Options{KeyColumn: "客户号", Columns: []string{"姓名"}},
		header: []string{"客户号", "姓名"},
		rows:   []wantRow{{"001", []string{"张三"}, 2}, {"002", []string{"李四"}, 3}, {"003", []string{"Zoë"}, 4}},
	}, {
		name:   "CRLF",
		in:     "id,v\r\n1,a\r\n2,\"x\r\ny\"\r\n3,c",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}},
		header: []string{"id", "v"},
		rows:   []wantRow{{"1", []string{"a"}, 2}, {"2", []string{"x\ny"}, 3}, {"3", []string{"c"}, 5}},
	}, {
		name:   "BOM",
		in:     "\ufeffid,v\n1,a\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}},
		header: []string{"id", "v"},
		rows:   []wantRow{{"1", []string{"a"}, 2}},
	}, {
		name:   "BOM only at the start",
		in:     "id,v\n\ufeff1,a\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}},
		header: []string{"id", "v"},
		rows:   []wantRow{{"\ufeff1", []string{"a"}, 2}},
	}, {
		name:   "blank lines skipped, no final newline",
		in:     "\nid,v\n\n1,a\n\n\n2,b",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}},
		header: []string{"id", "v"},
		rows:   []wantRow{{"1", []string{"a"}, 4}, {"2", []string{"b"}, 7}},
	}, {
		name:   "bytes kept exactly",
		in:     "id,v\n 1 , a \n1, a\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}},
		header: []string{"id", "v"},
		rows:   []wantRow{{" 1 ", []string{" a "}, 2}, {"1", []string{" a"}, 3}},
	}, {
		name:   "empty values and an unnamed column",
		in:     ",id,a,b\n0,1,,\n1,2,\"\",x\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"b", "a", ""}},
		header: []string{"", "id", "a", "b"},
		rows:   []wantRow{{"1", []string{"", "", "0"}, 2}, {"2", []string{"x", "", "1"}, 3}},
	}, {
		name:   "line of exactly MaxLineBytes",
		in:     "id,v\n1,abc\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}, MaxLineBytes: 5},
		header: []string{"id", "v"},
		rows:   []wantRow{{"1", []string{"abc"}, 2}},
	}, {
		name:   "Dedupe keeps the first row of each key",
		in:     "id,v\n1,a\n2,b\n1,c\n3,d\n2,e\n1,f\n",
		opts:   Options{KeyColumn: "id", Columns: []string{"v"}, Dedupe: true},
		header: []string{"id", "v"},
		rows:   []wantRow{{"1", []string{"a"}, 2}, {"2", []string{"b"}, 3}, {"3", []string{"d"}, 5}},
		dups:   3,
	}, {
		name:   "Dedupe without duplicates",
		in:     "id\nx\ny\n",
		opts:   Options{KeyColumn: "id", Dedupe: true},
		header: []string{"id"},
		rows:   []wantRow{{"x", nil, 2}, {"y", nil, 3}},
	}}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				t.Parallel()
				tab, err := Load(rd.wrap(strings.NewReader(tt.in)), tt.opts)
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				checkTable(t, tab, tt.opts, tt.header, tt.rows, tt.dups)
				if got, want := tab.Digest(), sha256.Sum256([]byte(tt.in)); got != want {
					t.Errorf("Digest = %x, want %x", got, want)
				}
				info, err := Scan(rd.wrap(strings.NewReader(tt.in)), tt.opts)
				if err != nil {
					t.Fatalf("Scan: %v", err)
				}
				want := Info{Header: tt.header, KeyColumn: tt.opts.KeyColumn, Rows: len(tt.rows), Digest: tab.Digest(), DuplicateKeys: tt.dups}
				if !infoEqual(info, want) {
					t.Errorf("Scan = %+v, want %+v", info, want)
				}
			})
		}
	}
}

func infoEqual(a, b Info) bool {
	return slices.Equal(a.Header, b.Header) && a.KeyColumn == b.KeyColumn && a.Rows == b.Rows &&
		a.Digest == b.Digest && a.DuplicateKeys == b.DuplicateKeys
}

func checkTable(t *testing.T, tab *Table, opts Options, header []string, rows []wantRow, dups int) {
	t.Helper()
	if got := tab.Header(); !slices.Equal(got, header) {
		t.Errorf("Header = %q, want %q", got, header)
	}
	if got := tab.Columns(); !slices.Equal(got, opts.Columns) {
		t.Errorf("Columns = %q, want %q", got, opts.Columns)
	}
	if tab.Duplicates() != dups {
		t.Errorf("Duplicates = %d, want %d", tab.Duplicates(), dups)
	}
	if tab.Len() != len(rows) {
		t.Fatalf("Len = %d, want %d", tab.Len(), len(rows))
	}
	for i, r := range rows {
		if got := string(tab.Key(i)); got != r.key {
			t.Errorf("Key(%d) = %q, want %q", i, got, r.key)
		}
		if got := tab.Line(i); got != r.line {
			t.Errorf("Line(%d) = %d, want %d", i, got, r.line)
		}
		for c, v := range r.vals {
			if got := string(tab.Value(i, c)); got != v {
				t.Errorf("Value(%d, %d) = %q, want %q", i, c, got, v)
			}
		}
		vals, err := DecodeRow(tab.EncodeRow(nil, i), len(opts.Columns))
		if err != nil {
			t.Fatalf("DecodeRow(EncodeRow(%d)): %v", i, err)
		}
		for c, v := range r.vals {
			if string(vals[c]) != v {
				t.Errorf("row %d round trip: value %d = %q, want %q", i, c, vals[c], v)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	key := Options{KeyColumn: "id"}
	tests := []struct {
		name  string
		in    string
		opts  Options
		want  string
		line  int
		is    []error // errors.Is targets
		input bool    // an *InputError
	}{
		{"empty file", "", key, "dataset: file is empty (need a header line)", 0, nil, true},
		{"BOM only", "\ufeff", key, "dataset: file is empty (need a header line)", 0, nil, true},
		{"blank lines only", "\n\r\n\n", key, "dataset: file is empty (need a header line)", 0, nil, true},
		{"header only", "id,v\n", key, "dataset: no data rows after the header", 1, nil, true},
		{"header and blank lines", "id,v\n\n\n", key, "dataset: no data rows after the header", 1, nil, true},
		{"missing key column", "a,b,c\n1,2,3\n", key, `dataset: key column "id" not in header [a b c]`, 1, nil, true},
		{"missing payload column", "a,b,c\n1,2,3\n", Options{KeyColumn: "a", Columns: []string{"b", "x"}},
			`dataset: column "x" not in header [a b c]`, 1, nil, true},
		{"duplicate header name", "a,b,a\n1,2,3\n", Options{KeyColumn: "b"},
			`dataset: line 1: header has column "a" twice (fields 1 and 3)`, 1, nil, true},
		{"invalid UTF-8 in header", "id,\xffx\n1,2\n", key, "dataset: line 1, header field 2: invalid UTF-8", 1, nil, true},
		{"invalid UTF-8 in payload", "id,name\n1,a\n2,b\n3,\xff\n", Options{KeyColumn: "id", Columns: []string{"name"}},
			`dataset: line 4, column "name": invalid UTF-8`, 4, nil, true},
		{"invalid UTF-8 in unkept column", "id,name\n1,a\n2,\"x\ny\xc3\"\n", key,
			`dataset: line 3, column "name": invalid UTF-8`, 3, nil, true},
		{"invalid UTF-8 in key", "id,name\n\xc3\x28,a\n", key, `dataset: line 2, column "id": invalid UTF-8`, 2, nil, true},
		{"one empty key", "id,v\n,a\n1,b\n", key, "dataset: 1 row has an empty key (line 2)", 2, []error{ErrEmptyKey}, true},
		{"empty keys", "id,v\n1,a\n2,b\n3,c\n,d\n4,e\n5,f\n6,g\n,h\n7,i\n8,j\n\"\",k\n", key,
			"dataset: 3 rows have an empty key (lines 5, 9, 12)", 5, []error{ErrEmptyKey}, true},
		{"many empty keys", "id,v\n,1\n,2\n,3\n,4\n,5\n,6\n,7\n", key,
			"dataset: 7 rows have an empty key (lines 2, 3, 4, 5, 6, ...)", 2, []error{ErrEmptyKey}, true},
		{"empty key with Dedupe", "id,v\n,a\n1,b\n", Options{KeyColumn: "id", Dedupe: true},
			"dataset: 1 row has an empty key (line 2)", 2, []error{ErrEmptyKey}, true},
		{"duplicated keys", "id\na\nk1\nk2\nb\nc\nd\nk1\ne\nk2\n", key,
			`dataset: 2 duplicated keys: "k1" (lines 3 and 8), "k2" (lines 4 and 10)`, 3, []error{ErrDuplicateKey}, true},
		{"one key many times", "id\nx\ny\nx\nx\nx\nx\n", key,
			`dataset: 1 duplicated key (4 rows repeat an earlier key): "x" (lines 2, 4, 5 and 2 more)`, 2, []error{ErrDuplicateKey}, true},
		{"one key three times", "id\nx\nx\ny\nx\n", key,
			`dataset: 1 duplicated key (2 rows repeat an earlier key): "x" (lines 2, 3 and 5)`, 2, []error{ErrDuplicateKey}, true},
		{"many duplicated keys", "id\ng\nf\ne\nd\nc\nb\na\na\nb\nc\nd\ne\nf\ng\n", key,
			`dataset: 7 duplicated keys: "g" (lines 2 and 15), "f" (lines 3 and 14), "e" (lines 4 and 13), "d" (lines 5 and 12), "c" (lines 6 and 11), and 2 more`,
			2, []error{ErrDuplicateKey}, true},
		{"long duplicated key shortened", "id\n" + strings.Repeat("张", 20) + "\n" + strings.Repeat("张", 20) + "\n", key,
			`dataset: 1 duplicated key: "` + strings.Repeat("张", 13) + `"... (lines 2 and 3)`, 2, []error{ErrDuplicateKey}, true},
		{"empty and duplicated keys", "id\n\nx\nx\n\"\"\n", key,
			`dataset: 1 row has an empty key (line 5); 1 duplicated key: "x" (lines 3 and 4)`, 5, []error{ErrEmptyKey, ErrDuplicateKey}, true},
		{"ragged row, too few", "a,b,id\n1,2,3\n4,5,6\n7,8,9\n1,1,1\n2,2,2\n3,3\n", key, "dataset: line 7 has 2 fields, header has 3", 7, nil, true},
		{"ragged row, too many", "id,v\n1,a,b\n", key, "dataset: line 2 has 3 fields, header has 2", 2, nil, true},
		{"bare quote", "id,v\n1,a\"b\n", key, `dataset: line 2, byte 4: malformed CSV: bare " in non-quoted-field`, 2, nil, true},
		{"text after closing quote", "id,v\n1,\"a\"b\n", key, `dataset: line 2, byte 5: malformed CSV: extraneous or missing " in quoted-field`, 2, nil, true},
		{"unterminated quote", "id,v\n1,a\n2,\"abc\ndef\n", key,
			`dataset: line 4, byte 5: malformed CSV: extraneous or missing " in quoted-field (in the record that starts at line 3)`, 4, nil, true},
		{"malformed header", "id,\"v\n", key, `dataset: line 1, byte 7: malformed CSV: extraneous or missing " in quoted-field`, 1, nil, true},
		{"line too long", "id,v\n1,aaaaaaaaaaaaaaaa\n", Options{KeyColumn: "id", MaxLineBytes: 10},
			"dataset: line 2 is longer than 10 bytes", 2, nil, true},
		{"header too long", "id,vvvvvvvvvvvvvvvv\n1,a\n", Options{KeyColumn: "id", MaxLineBytes: 10},
			"dataset: line 1 is longer than 10 bytes", 1, nil, true},
		{"CRLF counts the CR", "id,v\n1,abcdefgh\r\n", Options{KeyColumn: "id", MaxLineBytes: 10},
			"dataset: line 2 is longer than 10 bytes", 2, nil, true},
		{"record too long", "id,v\n1,ok\n2,\"aaaaa\naaaaa\"\n", Options{KeyColumn: "id", MaxLineBytes: 10},
			"dataset: record starting at line 3 is longer than 10 bytes", 3, nil, true},
		{"malformed line before a long one", "id,v\n1,a\"\n2," + strings.Repeat("a", 100) + "\n", Options{KeyColumn: "id", MaxLineBytes: 10},
			`dataset: line 2, byte 4: malformed CSV: bare " in non-quoted-field`, 2, nil, true},
		{"no key column", "id\n1\n", Options{}, "dataset: Options.KeyColumn is empty", 0, nil, false},
		{"key among columns", "id\n1\n", Options{KeyColumn: "id", Columns: []string{"id"}},
			`dataset: Options.Columns contains the key column "id"`, 0, nil, false},
		{"column twice", "id,v\n1,a\n", Options{KeyColumn: "id", Columns: []string{"v", "v"}},
			`dataset: Options.Columns names "v" twice`, 0, nil, false},
		{"negative MaxLineBytes", "id\n1\n", Options{KeyColumn: "id", MaxLineBytes: -1},
			"dataset: Options.MaxLineBytes is negative (-1)", 0, nil, false},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				t.Parallel()
				tab, err := Load(rd.wrap(strings.NewReader(tt.in)), tt.opts)
				if err == nil {
					t.Fatalf("Load succeeded with %d rows, want error %q", tab.Len(), tt.want)
				}
				checkErr(t, "Load", err, tt.want, tt.line, tt.is, tt.input)
				_, err = Scan(rd.wrap(strings.NewReader(tt.in)), tt.opts)
				if err == nil {
					t.Fatalf("Scan succeeded, want error %q", tt.want)
				}
				checkErr(t, "Scan", err, tt.want, tt.line, tt.is, tt.input)
			})
		}
	}
}

func checkErr(t *testing.T, fn string, err error, want string, line int, is []error, input bool) {
	t.Helper()
	if err.Error() != want {
		t.Errorf("%s error:\n got %s\nwant %s", fn, err, want)
	}
	var ie *InputError
	if errors.As(err, &ie) != input {
		t.Errorf("%s: errors.As(*InputError) = %v, want %v", fn, !input, input)
	}
	if ie != nil && ie.Line != line {
		t.Errorf("%s: InputError.Line = %d, want %d", fn, ie.Line, line)
	}
	for _, target := range is {
		if !errors.Is(err, target) {
			t.Errorf("%s: error does not wrap %v", fn, target)
		}
	}
	if strings.Contains(want, "malformed CSV") {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: error does not wrap a *csv.ParseError", fn)
		}
	}
}

// repeatReader yields b forever and counts what it yields.
type repeatReader struct {
	b []byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r.b)
	}
	r.n += int64(n)
	return n, nil
}

// TestHugeLine feeds lines and records of 100 MB, produced lazily, and
// checks that the read stops soon after the limit.
func TestHugeLine(t *testing.T) {
	t.Parallel()
	const huge = 100 << 20
	tests := []struct {
		name     string
		head     string
		fill     string
		tail     string
		want     string
		maxBytes int
	}{
		{"data line", "id,v\n1,", "a", "\n", "dataset: line 2 is longer than 1048576 bytes", DefaultMaxLineBytes},
		{"header", "id,", "v", "\n1,2\n", "dataset: line 1 is longer than 1048576 bytes", DefaultMaxLineBytes},
		{"quoted field of many lines", "id,v\n1,a\n2,\"", "aaaaaaa\n", "\"\n", "dataset: record starting at line 3 is longer than 1048576 bytes", DefaultMaxLineBytes},
		{"small limit", "id,v\n1,a\n2,", "b", "\n", "dataset: line 3 is longer than 4096 bytes", 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fill := &repeatReader{b: []byte(tt.fill)}
			r := io.MultiReader(strings.NewReader(tt.head), io.LimitReader(fill, huge), strings.NewReader(tt.tail))
			_, err := Load(r, Options{KeyColumn: "id", MaxLineBytes: tt.maxBytes})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Load error = %v, want %s", err, tt.want)
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("error is not an *InputError")
			}
			if limit := int64(tt.maxBytes) + 256<<10; fill.n > limit {
				t.Errorf("read %d bytes of the long line, want at most %d", fill.n, limit)
			}
		})
	}
}

func TestIOError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"at once", iotest.ErrReader(boom)},
		{"after the header", io.MultiReader(strings.NewReader("id,v\n"), iotest.ErrReader(boom))},
		{"mid row", io.MultiReader(strings.NewReader("id,v\n1,a\n2,"), iotest.ErrReader(boom))},
		{"in a quoted field", io.MultiReader(strings.NewReader("id,v\n1,\"a\n"), iotest.ErrReader(boom))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.r, Options{KeyColumn: "id"})
			if !errors.Is(err, boom) {
				t.Fatalf("Load error = %v, want one wrapping %v", err, boom)
			}
			var ie *InputError
			if errors.As(err, &ie) {
				t.Errorf("I/O error reported as *InputError: %v", err)
			}
			if want := "dataset: read: disk on fire"; err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	bad := filepath.Join(dir, "bad.csv")
	const in = "id,v\n1,a\n2,b\n"
	if err := os.WriteFile(good, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("id,v\n1,a\n1,b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{KeyColumn: "id", Columns: []string{"v"}}

	tab, err := LoadFile(good, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, tab, opts, []string{"id", "v"}, []wantRow{{"1", []string{"a"}, 2}, {"2", []string{"b"}, 3}}, 0)
	info, err := ScanFile(good, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Info{Header: []string{"id", "v"}, KeyColumn: "id", Rows: 2, Digest: sha256.Sum256([]byte(in))}); !infoEqual(info, want) {
		t.Errorf("ScanFile = %+v, want %+v", info, want)
	}

	want := fmt.Sprintf(`dataset: %s: 1 duplicated key: "1" (lines 2 and 3)`, bad)
	for _, fn := range []func() error{
		func() error { _, err := LoadFile(bad, opts); return err },
		func() error { _, err := ScanFile(bad, opts); return err },
	} {
		err := fn()
		var ie *InputError
		if err == nil || err.Error() != want || !errors.As(err, &ie) || ie.Path != bad {
			t.Errorf("error = %v, want %s", err, want)
		}
	}

	missing := filepath.Join(dir, "missing.csv")
	for _, fn := range []func() error{
		func() error { _, err := LoadFile(missing, opts); return err },
		func() error { _, err := ScanFile(missing, opts); return err },
	} {
		err := fn()
		var ie *InputError
		if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &ie) {
			t.Errorf("missing file: error = %v, want a not-exist error that is not an *InputError", err)
		}
	}
}

// TestDuplicatesAtScale plants duplicates among many distinct keys and
// checks the report and Dedupe against a map.
func TestDuplicatesAtScale(t *testing.T) {
	t.Parallel()
	const n = 100_000
	var b strings.Builder
	b.WriteString("id,v\n")
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%07d", i)
	}
	// Row 90_000+j repeats row 10*j+5; the last 3 repeat row 7.
	for j := 0; j < 50; j++ {
		keys[90_000+j] = keys[10*j+5]
	}
	for j := n - 3; j < n; j++ {
		keys[j] = keys[7]
	}
	for i, k := range keys {
		fmt.Fprintf(&b, "%s,%d\n", k, i)
	}
	in := b.String()

	_, err := Load(strings.NewReader(in), Options{KeyColumn: "id"})
	want := `dataset: 51 duplicated keys (53 rows repeat an earlier key): "k0000005" (lines 7 and 90002), ` +
		`"k0000007" (lines 9, 99999, 100000 and 1 more), "k0000015" (lines 17 and 90003), ` +
		`"k0000025" (lines 27 and 90004), "k0000035" (lines 37 and 90005), and 46 more`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}

	opts := Options{KeyColumn: "id", Columns: []string{"v"}, Dedupe: true}
	tab, err := Load(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var rows []wantRow
	for i, k := range keys {
		if !seen[k] {
			seen[k] = true
			rows = append(rows, wantRow{k, []string{fmt.Sprint(i)}, i + 2})
		}
	}
	checkTable(t, tab, opts, []string{"id", "v"}, rows, n-len(rows))
	info, err := Scan(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != tab.Len() || info.DuplicateKeys != 53 || info.Digest != tab.Digest() {
		t.Errorf("Scan = rows %d, duplicates %d; Load = rows %d, duplicates %d", info.Rows, info.DuplicateKeys, tab.Len(), tab.Duplicates())
	}
}

// TestDuplicatesHashCollisions runs duplicate detection with a hash that
// makes every key collide: the byte comparison alone must decide.
func TestDuplicatesHashCollisions(t *testing.T) {
	t.Parallel()
	constant := func() func([]byte) uint64 { return func([]byte) uint64 { return 42 } }
	for _, h := range []struct {
		name string
		fn   func() func([]byte) uint64
	}{{"constant", constant}, {"maphash", hashKey}} {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tab := newTable([]string{"id"}, nil)
			for i, k := range []string{"a", "b", "a", "c", "b", "a", "", "d"} {
				tab.appendCell(k)
				tab.lines = append(tab.lines, uint32(i+2))
				tab.n++
			}
			var p keyProblems
			drop := findDuplicates(tab, &p, true, h.fn)
			if p.dupRows != 3 || p.dupKeys != 2 {
				t.Errorf("dupRows, dupKeys = %d, %d, want 3, 2", p.dupRows, p.dupKeys)
			}
			if got := p.err(true).Error(); got != `dataset: 2 duplicated keys (3 rows repeat an earlier key): "a" (lines 2, 4 and 7), "b" (lines 3 and 6)` {
				t.Errorf("error = %s", got)
			}
			if want := []uint64{1<<2 | 1<<4 | 1<<5}; !slices.Equal(drop, want) {
				t.Errorf("drop = %b, want %b", drop, want)
			}
		})
	}
}

// TestOffsetWraps checks the arena offsets past each multiple of
// 1<<wrapBits, with wrapBits made small so that no test needs 4 GiB.
func TestOffsetWraps(t *testing.T) {
	t.Parallel()
	tab := newTable([]string{"id", "v"}, []string{"v"})
	tab.wrapBits = 3
	var cells []string
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("k%d", i)
		val := strings.Repeat("v", i%23)
		cells = append(cells, key, val)
		tab.appendCell(key)
		tab.appendCell(val)
		tab.lines = append(tab.lines, uint32(i+2))
		tab.n++
	}
	if len(tab.wraps) == 0 {
		t.Fatal("no wraps")
	}
	check := func(keep func(int) bool) {
		t.Helper()
		j := 0
		for i := 0; i < 200; i++ {
			if !keep(i) {
				continue
			}
			if got := string(tab.Key(j)); got != cells[2*i] {
				t.Fatalf("Key(%d) = %q, want %q", j, got, cells[2*i])
			}
			if got := string(tab.Value(j, 0)); got != cells[2*i+1] {
				t.Fatalf("Value(%d) = %q, want %q", j, got, cells[2*i+1])
			}
			if tab.Line(j) != i+2 {
				t.Fatalf("Line(%d) = %d, want %d", j, tab.Line(j), i+2)
			}
			j++
		}
		if tab.Len() != j {
			t.Fatalf("Len = %d, want %d", tab.Len(), j)
		}
	}
	check(func(int) bool { return true })
	drop := make([]uint64, 4)
	for i := 0; i < 200; i++ {
		if i%3 == 1 || i%7 == 0 {
			drop[i/64] |= 1 << (i % 64)
		}
	}
	tab.compact(drop)
	check(func(i int) bool { return i%3 != 1 && i%7 != 0 })
}

func TestViewsAreCapped(t *testing.T) {
	t.Parallel()
	tab, err := Load(strings.NewReader("id,v\n1,a\n2,b\n"), Options{KeyColumn: "id", Columns: []string{"v"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = append(tab.Key(0), 'X')
	_ = append(tab.Value(0, 0), 'Y')
	if string(tab.Value(0, 0)) != "a" || string(tab.Key(1)) != "2" {
		t.Errorf("append to a view changed the table: %q %q", tab.Value(0, 0), tab.Key(1))
	}
	for _, f := range []func(){
		func() { tab.Key(2) },
		func() { tab.Key(-1) },
		func() { tab.Value(0, 1) },
		func() { tab.Line(2) },
		func() { tab.EncodeRow(nil, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("out-of-range access did not panic")
				}
			}()
			f()
		}()
	}
}

// TestMemory checks the bytes a loaded table holds per row of ~10-byte keys.
func TestMemory(t *testing.T) {
	t.Parallel()
	const n = 200_000
	tab, err := Load(bytes.NewReader(keyFile(n)), Options{KeyColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	perRow := float64(tab.memBytes()) / n
	t.Logf("%.1f bytes a row", perRow)
	// 10 bytes of key, a 4-byte end offset, a 4-byte line number.
	if perRow > 20 {
		t.Errorf("%.1f bytes a row, want at most 20", perRow)
	}
}

// keyFile returns a CSV of n rows with a 10-byte key.
func keyFile(n int) []byte {
	b := make([]byte, 0, 3+11*n)
	b = append(b, "id\n"...)
	for i := 0; i < n; i++ {
		b = fmt.Appendf(b, "c%09d\n", i)
	}
	return b
}

// sharedFile returns the path of a file in /work/shared/datasets, or skips.
func sharedFile(t *testing.T, dir, name string) (path string, sha string) {
	t.Helper()
	base := filepath.Join("..", "..", "..", "shared", "datasets", dir)
	readme, err := os.ReadFile(filepath.Join(base, "README.md"))
	if err != nil {
		t.Skipf("shared dataset %s not available: %v", dir, err)
	}
	_, after, ok := strings.Cut(string(readme), "sha256: `")
	if !ok || len(after) < 64 {
		t.Fatalf("%s/README.md has no sha256", dir)
	}
	return filepath.Join(base, name), after[:64]
}

// TestGermanCredit reads the real Statlog German Credit file. It has no ID
// column, so it serves here as real CSV with quoted commas and a column
// ("credit_amount") that is nearly but not quite unique: a test of
// duplicate reporting and Dedupe on real data.
func TestGermanCredit(t *testing.T) {
	t.Parallel()
	path, sha := sharedFile(t, "german-credit", "germancredit.csv")
	opts := Options{KeyColumn: "credit_amount", Columns: []string{"property", "telephone", "creditability"}}

	_, err := ScanFile(path, opts)
	if !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("ScanFile error = %v, want ErrDuplicateKey", err)
	}
	t.Log(err)

	opts.Dedupe = true
	info, err := ScanFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", info.Digest); got != sha {
		t.Errorf("digest %s, README says %s", got, sha)
	}
	if len(info.Header) != 21 || info.Rows != 921 || info.DuplicateKeys != 79 {
		t.Errorf("header of %d columns, %d rows, %d duplicates; want 21, 921, 79", len(info.Header), info.Rows, info.DuplicateKeys)
	}
	tab, err := LoadFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != info.Rows || tab.Duplicates() != info.DuplicateKeys || tab.Digest() != info.Digest {
		t.Errorf("LoadFile and ScanFile disagree")
	}
	found := map[string]bool{}
	for i := 0; i < tab.Len(); i++ {
		found[string(tab.Value(i, 0))] = true
		found[string(tab.Value(i, 1))] = true
	}
	for _, v := range []string{"car or other, not in attribute Savings account/bonds", "yes, registered under the customers name"} {
		if !found[v] {
			t.Errorf("quoted value %q not loaded", v)
		}
	}
	if k, v := string(tab.Key(0)), string(tab.Value(0, 2)); k != "1169" || v != "good" {
		t.Errorf("first row: key %q, creditability %q; want 1169, good", k, v)
	}
}

// TestUCICreditCard loads the real UCI credit card file by its ID column.
func TestUCICreditCard(t *testing.T) {
	t.Parallel()
	path, sha := sharedFile(t, "uci-credit-default", "UCI_Credit_Card.csv")
	opts := Options{KeyColumn: "ID", Columns: []string{"Y", "X1"}}
	tab, err := LoadFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", tab.Digest()); got != sha {
		t.Errorf("digest %s, README says %s", got, sha)
	}
	if tab.Len() != 30000 || tab.Duplicates() != 0 || len(tab.Header()) != 25 {
		t.Errorf("%d rows, %d duplicates, %d columns; want 30000, 0, 25", tab.Len(), tab.Duplicates(), len(tab.Header()))
	}
	if k, y, x1 := string(tab.Key(0)), string(tab.Value(0, 0)), string(tab.Value(0, 1)); k != "1" || y != "1" || x1 != "20000" {
		t.Errorf("first row: ID %q, Y %q, X1 %q; want 1, 1, 20000", k, y, x1)
	}
	if k := string(tab.Key(29999)); k != "30000" || tab.Line(29999) != 30001 {
		t.Errorf("last row: ID %q on line %d; want 30000 on line 30001", k, tab.Line(29999))
	}
	info, err := ScanFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != tab.Len() || info.Digest != tab.Digest() {
		t.Errorf("ScanFile and LoadFile disagree")
	}
}
