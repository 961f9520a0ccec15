package score

import (
	"testing"
	"time"
)

// BenchmarkScore scores 2^20 aligned rows (1,048,576 ≥ 10^6), 3 parties × 10
// features, affine-ci14, all parties in this process over pipes.
func BenchmarkScore(b *testing.B) {
	names := []string{"bank", "bureau", "telco"}
	rows := 1_000_000
	if testing.Short() {
		rows = 100_000
	}
	parties := synth(names, "bank", rows, 10, 21)
	keys(b, "affine-ci14", names, 0)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res := run(b, "affine-ci14", parties, "bank", nil)
		wall := time.Since(start)
		for n, err := range res.errs {
			if err != nil {
				b.Fatalf("%s: %v", n, err)
			}
		}
		var sent uint64
		for _, n := range names {
			b.Log(res.stats[n])
			sent += res.stats[n].BytesSent
		}
		b.ReportMetric(wall.Seconds(), "s/job")
		b.ReportMetric(float64(sent)/float64(rows), "B/row")
		b.ReportMetric(float64(rows)/wall.Seconds(), "rows/s")
	}
}
