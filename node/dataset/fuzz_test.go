package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"testing"
)

// FuzzLoad checks that Load never panics and either fails with an
// *InputError or returns a table that matches encoding/csv's own reading of
// the input, and that Scan agrees with it.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"k,v\n1,a\n2,b\n",
		"\ufeffk,v\r\n1,a\r\n",
		"v,k\n\"x,\"\"y\",1\n\"a\nb\",2\n",
		"k,v\n1,a\n1,b\n",
		"k,v\n,a\n",
		"k,v\n1\n",
		"k,v\n1,a\"b\n",
		"k,v,k\n1,2,3\n",
		"k,v\n1,\xff\n",
		"k,v\n",
		"",
		"k,v\n\n\n2,\"\"\n",
	} {
		f.Add([]byte(s), false, uint16(0))
		f.Add([]byte(s), true, uint16(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, dedupe bool, maxLine uint16) {
		opts := Options{KeyColumn: "k", Columns: []string{"v"}, Dedupe: dedupe, MaxLineBytes: int(maxLine)}
		tab, err := Load(bytes.NewReader(data), opts)
		info, serr := Scan(bytes.NewReader(data), opts)
		if (err == nil) != (serr == nil) || err != nil && err.Error() != serr.Error() {
			t.Fatalf("Load error %v, Scan error %v", err, serr)
		}
		body := bytes.TrimPrefix(data, bom)
		max := int(maxLine)
		if max == 0 {
			max = DefaultMaxLineBytes
		}
		longLine := false
		for _, l := range bytes.Split(body, []byte{'\n'}) {
			longLine = longLine || len(l) > max
		}
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error is not an *InputError: %v", err)
			}
			return
		}
		if longLine {
			t.Fatalf("a line is longer than %d bytes, but no error", max)
		}
		if tab.Digest() != sha256.Sum256(data) {
			t.Fatalf("wrong digest")
		}
		if info.Rows != tab.Len() || info.Digest != tab.Digest() || info.DuplicateKeys != tab.Duplicates() ||
			!slices.Equal(info.Header, tab.Header()) {
			t.Fatalf("Scan %+v disagrees with Load", info)
		}

		// Read it again with encoding/csv alone.
		cr := csv.NewReader(bytes.NewReader(body))
		cr.FieldsPerRecord = -1
		header, err := cr.Read()
		if err != nil {
			t.Fatalf("encoding/csv: header: %v", err)
		}
		if !slices.Equal(header, tab.Header()) {
			t.Fatalf("header %q, encoding/csv says %q", tab.Header(), header)
		}
		ki, vi := slices.Index(header, "k"), slices.Index(header, "v")
		seen := map[string]bool{}
		i, dups := 0, 0
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("encoding/csv: %v", err)
			}
			line, _ := cr.FieldPos(0)
			k, v := rec[ki], rec[vi]
			if k == "" {
				t.Fatalf("empty key accepted")
			}
			if seen[k] {
				if !dedupe {
					t.Fatalf("duplicated key %q accepted", k)
				}
				dups++
				continue
			}
			seen[k] = true
			if i >= tab.Len() {
				t.Fatalf("table has %d rows, encoding/csv more", tab.Len())
			}
			if string(tab.Key(i)) != k || string(tab.Value(i, 0)) != v || tab.Line(i) != line {
				t.Fatalf("row %d: %q %q line %d, encoding/csv says %q %q line %d",
					i, tab.Key(i), tab.Value(i, 0), tab.Line(i), k, v, line)
			}
			dec, err := DecodeRow(tab.EncodeRow(nil, i), 1)
			if err != nil || string(dec[0]) != v {
				t.Fatalf("row %d round trip: %q, %v", i, dec, err)
			}
			i++
		}
		if i != tab.Len() || dups != tab.Duplicates() {
			t.Fatalf("table has %d rows and %d duplicates, encoding/csv %d and %d", tab.Len(), tab.Duplicates(), i, dups)
		}
	})
}
