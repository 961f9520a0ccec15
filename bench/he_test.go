package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

func TestRunHE(t *testing.T) {
	t.Parallel()
	rep, err := RunHE(context.Background(), HEOptions{Rows: 20000, Preset: "affine-ci12", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ScoreRows != 20000 || rep.Blocks != 5 || rep.Features != 10 || len(rep.PerParty) != 3 {
		t.Fatalf("report %+v", rep)
	}
	if rep.MaxProbabilityError > 1e-3 || rep.MaxPointsError > 0.5 || rep.BytesPerRow <= 0 || rep.KeySetBytes <= 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, k := range []string{"encode", "encrypt", "transport", "keyswitch", "decrypt"} {
		if rep.CPUByPhase[k] <= 0 {
			t.Fatalf("no CPU measured for %s: %v", k, rep.CPUByPhase)
		}
	}
}

// BenchmarkHE is the 1,000,000-row joint score of `mitai bench he`: run
// with go test -run XXX -bench BenchmarkHE -benchtime 1x ./bench/ (the
// report is logged as JSON).
func BenchmarkHE(b *testing.B) {
	for range b.N {
		rep, err := RunHE(context.Background(), HEOptions{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		j, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(j))
		b.ReportMetric(rep.ScoreWallSeconds, "score-s")
		b.ReportMetric(rep.KeygenWallSeconds, "keygen-s")
		b.ReportMetric(rep.BytesPerRow, "B/row")
	}
}
