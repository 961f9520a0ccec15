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

// BenchmarkScoreBands: the two-party band lookup (D = 64 levels), 2^16
// rows, affine-ci14.
func BenchmarkScoreBands(b *testing.B) {
	names := []string{"bank", "telco"}
	rows := 1 << 16
	parties := synth(names, "bank", rows, 10, 22)
	keys(b, "affine-ci14", names, 0)
	pol := Policy{TwoParty: Release{Mode: Bands, Bound: 4, MinBandWidth: 20, Levels: 64}}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res := run(b, "affine-ci14", parties, "bank", func(p *testParty, o *Options) {
			o.Bands = []float64{450, 500, 550, 600, 650, 700}
			o.Policy = &pol
		})
		wall := time.Since(start)
		var sent uint64
		for _, n := range names {
			if res.errs[n] != nil {
				b.Fatal(res.errs[n])
			}
			b.Log(res.stats[n])
			sent += res.stats[n].BytesSent
		}
		b.ReportMetric(wall.Seconds(), "s/job")
		b.ReportMetric(float64(sent)/float64(rows), "B/row")
	}
}

// BenchmarkScoreSigmoid: the probability under encryption, 3 parties, 2^16
// rows, sigmoid-ci14.
func BenchmarkScoreSigmoid(b *testing.B) {
	names := []string{"bank", "bureau", "telco"}
	rows := 1 << 16
	parties := synth(names, "bank", rows, 10, 23)
	keys(b, "sigmoid-ci14", names, 0)
	bounds := map[string]float64{"bank": 4, "bureau": 2, "telco": 2}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res := run(b, "sigmoid-ci14", parties, "bank", func(p *testParty, o *Options) {
			o.Probability = ProbabilityEncrypted
			o.SigmoidBound = bounds[p.name]
		})
		wall := time.Since(start)
		var sent uint64
		for _, n := range names {
			if res.errs[n] != nil {
				b.Fatal(res.errs[n])
			}
			b.Log(res.stats[n])
			sent += res.stats[n].BytesSent
		}
		b.ReportMetric(wall.Seconds(), "s/job")
		b.ReportMetric(float64(sent)/float64(rows), "B/row")
	}
}
