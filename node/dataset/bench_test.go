package dataset

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

const benchRows = 1_000_000

// BenchmarkLoad loads 10^6 rows of 10-byte keys and reports the memory the
// table keeps per row: "B/row" as measured on the heap after a collection,
// "arena-B/row" as the capacity of the table's slices.
func BenchmarkLoad(b *testing.B) {
	in := keyFile(benchRows)
	opts := Options{KeyColumn: "id"}
	heap, arena := retained(b, in, opts)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(bytes.NewReader(in), opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(heap/benchRows, "B/row")
	b.ReportMetric(arena/benchRows, "arena-B/row")
}

// retained loads in and returns the heap the table holds after a
// collection, and the capacity of its slices.
func retained(b *testing.B, in []byte, opts Options) (heap, arena float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab, err := Load(bytes.NewReader(in), opts)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tab)
	return float64(int64(after.HeapAlloc) - int64(before.HeapAlloc)), float64(tab.memBytes())
}

// BenchmarkLoadPayload loads 10^6 rows with a key and two payload columns.
func BenchmarkLoadPayload(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("id,name,amount,other\n")
	for i := 0; i < benchRows; i++ {
		fmt.Fprintf(&buf, "c%09d,name %d,%d.%02d,ignored\n", i, i%5000, i%100000, i%100)
	}
	in := buf.Bytes()
	opts := Options{KeyColumn: "id", Columns: []string{"name", "amount"}}
	heap, arena := retained(b, in, opts)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(bytes.NewReader(in), opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(heap/benchRows, "B/row")
	b.ReportMetric(arena/benchRows, "arena-B/row")
}

// BenchmarkScan scans 10^6 rows of 10-byte keys.
func BenchmarkScan(b *testing.B) {
	in := keyFile(benchRows)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Scan(bytes.NewReader(in), Options{KeyColumn: "id"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRow(b *testing.B) {
	enc := appendRow(nil, [][]byte{[]byte("张三"), []byte("1234.56"), []byte("some longer payload value")})
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRow(enc, 3); err != nil {
			b.Fatal(err)
		}
	}
}
