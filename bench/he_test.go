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
	// A party sends its public-key share to each of its 2 peers, and a
	// little more (hellos, digests).
	if s := rep.PublicKeyShareBytes; s <= 0 || rep.KeygenBytesPerParty < 2*uint64(s) || rep.KeygenBytesPerParty > 2*uint64(s)+4096 {
		t.Fatalf("public-key share %d bytes, %d sent per party", s, rep.KeygenBytesPerParty)
	}
	for _, k := range []string{"encode", "encrypt", "transport", "keyswitch", "decrypt"} {
		if rep.CPUByPhase[k] <= 0 {
			t.Fatalf("no CPU measured for %s: %v", k, rep.CPUByPhase)
		}
	}
}

func TestRunHERepeated(t *testing.T) {
	t.Parallel()
	if _, err := RunHERepeated(context.Background(), HEOptions{Rows: 100}, 0); err == nil {
		t.Fatal("0 runs accepted")
	}
	rs, err := RunHERepeated(context.Background(), HEOptions{Rows: 5000, Preset: "affine-ci12", Seed: 3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Runs) != 3 || rs.ScoreRows != 5000 || rs.MedianRun < 0 || rs.MedianRun > 2 {
		t.Fatalf("runs %+v", rs)
	}
	if rs.Runs[rs.MedianRun].ScoreWallSeconds != rs.ScoreWallSeconds {
		t.Fatalf("median %v is not run %d's %v", rs.ScoreWallSeconds, rs.MedianRun, rs.Runs[rs.MedianRun].ScoreWallSeconds)
	}
	var worst float64
	for _, r := range rs.Runs {
		worst = max(worst, r.MaxPointsError)
	}
	if rs.MaxPointsError != worst || rs.KeygenWallSeconds <= 0 {
		t.Fatalf("runs %+v", rs)
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
