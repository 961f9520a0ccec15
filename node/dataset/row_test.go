package dataset

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestEncodeDecodeRow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		cols   []string
		values [][]string
	}{
		{"no payload", "id\n1\n2\n", nil, [][]string{{}, {}}},
		{"one column", "id,v\n1,a\n2,\n", []string{"v"}, [][]string{{"a"}, {""}}},
		{"UTF-8 and quoting", "id,name,note\n1,张三,\"a,b\n\"\"c\"\"\"\n2,李四,\n",
			[]string{"name", "note"}, [][]string{{"张三", "a,b\n\"c\""}, {"李四", ""}}},
		{"long value", "id,v\n1," + strings.Repeat("x", 300) + "\n", []string{"v"}, [][]string{{strings.Repeat("x", 300)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab, err := Load(strings.NewReader(tt.in), Options{KeyColumn: "id", Columns: tt.cols})
			if err != nil {
				t.Fatal(err)
			}
			prefix := []byte("prefix")
			for i, want := range tt.values {
				enc := tab.EncodeRow(slices.Clone(prefix), i)
				if !bytes.HasPrefix(enc, prefix) {
					t.Fatalf("EncodeRow did not append")
				}
				enc = enc[len(prefix):]
				if !bytes.Equal(enc, appendRow(nil, toBytes(want))) {
					t.Errorf("EncodeRow(%d) = %x, want %x", i, enc, appendRow(nil, toBytes(want)))
				}
				got, err := DecodeRow(enc, len(tt.cols))
				if err != nil {
					t.Fatalf("DecodeRow: %v", err)
				}
				if len(got) != len(want) {
					t.Fatalf("DecodeRow: %d values, want %d", len(got), len(want))
				}
				for c := range want {
					if string(got[c]) != want[c] {
						t.Errorf("value %d = %q, want %q", c, got[c], want[c])
					}
				}
			}
		})
	}
}

func toBytes(s []string) [][]byte {
	b := make([][]byte, len(s))
	for i, v := range s {
		b[i] = []byte(v)
	}
	return b
}

func TestDecodeRowErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []byte
		ncols int
		want  string
	}{
		{"empty input", nil, 0, "dataset: malformed row: value count: truncated"},
		{"wrong count", []byte{1, 1, 'a'}, 2, "dataset: malformed row: 1 values, want 2"},
		{"more values than said", []byte{1, 1, 'a', 1, 'b'}, 1, "dataset: malformed row: 2 bytes after the last value"},
		{"count larger than input", []byte{3, 0, 0}, 3, "dataset: malformed row: 3 values in 2 bytes"},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1<<31 - 1, "dataset: malformed row: 2147483647 values in 0 bytes"},
		{"truncated value", []byte{1, 5, 'a', 'b'}, 1, "dataset: malformed row: value 0: length 5, only 2 bytes left"},
		{"truncated length", []byte{2, 1, 'a', 0x80}, 2, "dataset: malformed row: value 1: length: truncated"},
		{"oversized length", append([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 'a'), 1,
			"dataset: malformed row: value 0: length 9223372036854775807, only 1 bytes left"},
		{"length overflows 64 bits", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 1,
			"dataset: malformed row: value 0: length: overflows 64 bits"},
		{"count not in shortest form", []byte{0x81, 0x00, 0}, 1, "dataset: malformed row: value count: not in shortest form"},
		{"length not in shortest form", []byte{1, 0x80, 0x00}, 1, "dataset: malformed row: value 0: length: not in shortest form"},
		{"trailing bytes", []byte{1, 1, 'a', 0}, 1, "dataset: malformed row: 1 bytes after the last value"},
		{"trailing bytes, no columns", []byte{0, 0}, 0, "dataset: malformed row: 1 bytes after the last value"},
		{"negative ncols", []byte{0}, -1, "dataset: malformed row: negative column count -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := DecodeRow(tt.in, tt.ncols)
			if err == nil {
				t.Fatalf("DecodeRow = %q, want error", v)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrMalformedRow) {
				t.Errorf("error does not wrap ErrMalformedRow")
			}
		})
	}
}

func FuzzDecodeRow(f *testing.F) {
	f.Add([]byte{0}, 0)
	f.Add(appendRow(nil, [][]byte{[]byte("a"), nil, []byte("张三")}), 3)
	f.Add([]byte{1, 0x80, 0x00}, 1)
	f.Add([]byte{2, 1, 'a', 0x80}, 2)
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1)
	f.Fuzz(func(t *testing.T, b []byte, ncols int) {
		v, err := DecodeRow(b, ncols)
		if err != nil {
			if !errors.Is(err, ErrMalformedRow) {
				t.Fatalf("error %v does not wrap ErrMalformedRow", err)
			}
			return
		}
		if len(v) != ncols {
			t.Fatalf("%d values, want %d", len(v), ncols)
		}
		// The encoding is canonical: what decodes re-encodes to the input.
		if enc := appendRow(nil, v); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, input %x", enc, b)
		}
	})
}
