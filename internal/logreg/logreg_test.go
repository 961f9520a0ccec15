package logreg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFitRecoversPlantedModel: with many rows, the maximum-likelihood fit
// recovers the weights that generated the labels.
func TestFitRecoversPlantedModel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	want := []float64{0.8, -1.2, 0, 0.4}
	const b0 = -0.7
	n := 60000
	X := make([][]float64, n)
	y := make([]int, n)
	for i := range X {
		row := make([]float64, len(want))
		z := b0
		for j := range row {
			row[j] = r.NormFloat64()
			z += want[j] * row[j]
		}
		X[i] = row
		if r.Float64() < sigmoid(z) {
			y[i] = 1
		}
	}
	m, err := Fit(X, y, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Intercept-b0) > 0.05 {
		t.Errorf("intercept %v, want %v", m.Intercept, b0)
	}
	for j, w := range want {
		if math.Abs(m.Weights[j]-w) > 0.05 {
			t.Errorf("weight %d: %v, want %v", j, m.Weights[j], w)
		}
	}
	if m.Iterations > 10 {
		t.Errorf("Newton took %d steps", m.Iterations)
	}
}

// TestFitMatchesGradientCondition: at the optimum the penalised gradient is
// zero, checked independently of the solver.
func TestFitMatchesGradientCondition(t *testing.T) {
	t.Parallel()
	X := [][]float64{{1, 2}, {2, 0.5}, {-1, 1}, {0.3, -2}, {-2, -1}, {1.5, 1.5}, {0, 0}}
	y := []int{1, 1, 0, 0, 0, 1, 1}
	const l2 = 0.5
	m, err := Fit(X, y, Options{L2: l2})
	if err != nil {
		t.Fatal(err)
	}
	g := make([]float64, 3)
	for i, row := range X {
		r := float64(y[i]) - sigmoid(m.LogOdds(row))
		g[0] += r
		g[1] += r * row[0]
		g[2] += r * row[1]
	}
	g[1] -= l2 * m.Weights[0]
	g[2] -= l2 * m.Weights[1]
	for j, v := range g {
		if math.Abs(v) > 1e-9 {
			t.Fatalf("gradient %d is %g at the fit", j, v)
		}
	}
}

func TestFitErrors(t *testing.T) {
	t.Parallel()
	if _, err := Fit(nil, nil, Options{}); err == nil {
		t.Error("no rows accepted")
	}
	if _, err := Fit([][]float64{{1}, {1, 2}}, []int{0, 1}, Options{}); err == nil {
		t.Error("ragged rows accepted")
	}
	// Separable data without a penalty: the Hessian degenerates.
	X := [][]float64{{-2}, {-1}, {1}, {2}}
	y := []int{0, 0, 1, 1}
	if _, err := Fit(X, y, Options{MaxIter: 200}); err == nil {
		t.Error("separable data fitted without a penalty")
	}
	if _, err := Fit(X, y, Options{L2: 1}); err != nil {
		t.Errorf("penalised fit of separable data: %v", err)
	}
}

func TestAUC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scores []float64
		labels []int
		want   float64
	}{
		{[]float64{0.1, 0.4, 0.35, 0.8}, []int{0, 0, 1, 1}, 0.75},
		{[]float64{1, 2, 3, 4}, []int{0, 0, 1, 1}, 1},
		{[]float64{4, 3, 2, 1}, []int{0, 0, 1, 1}, 0},
		{[]float64{1, 1, 1, 1}, []int{0, 1, 0, 1}, 0.5},
		{[]float64{0.5, 0.5, 0.2, 0.9}, []int{1, 0, 0, 1}, 0.875},
	} {
		got, err := AUC(tc.scores, tc.labels)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, %v; want %v", tc.scores, tc.labels, got, err, tc.want)
		}
	}
	// Against the pairwise definition on random data with ties.
	r := rand.New(rand.NewPCG(3, 4))
	s := make([]float64, 300)
	l := make([]int, 300)
	for i := range s {
		s[i] = float64(r.IntN(40))
		l[i] = r.IntN(2)
	}
	var num, den float64
	for i := range s {
		for j := range s {
			if l[i] == 1 && l[j] == 0 {
				den++
				switch {
				case s[i] > s[j]:
					num++
				case s[i] == s[j]:
					num += 0.5
				}
			}
		}
	}
	got, _ := AUC(s, l)
	if math.Abs(got-num/den) > 1e-12 {
		t.Fatalf("AUC %v, pairwise %v", got, num/den)
	}
	if _, err := AUC([]float64{1, 2}, []int{1, 1}); err == nil {
		t.Error("AUC with one class accepted")
	}
}

func TestStandardizeSplit(t *testing.T) {
	t.Parallel()
	X := [][]float64{{1, 5}, {3, 5}, {5, 5}}
	mean, sd := Standardize(X)
	if mean[0] != 3 || mean[1] != 5 || math.Abs(sd[0]-math.Sqrt(8.0/3)) > 1e-12 || sd[1] != 1 {
		t.Fatalf("mean %v sd %v", mean, sd)
	}
	Z := Apply(X, mean, sd)
	if Z[1][0] != 0 || Z[0][1] != 0 {
		t.Fatalf("standardized %v", Z)
	}
	r := rand.New(rand.NewPCG(1, 1))
	train, test := Split(10, 0.3, r.Shuffle)
	if len(train) != 7 || len(test) != 3 {
		t.Fatalf("split %d/%d", len(train), len(test))
	}
	seen := map[int]bool{}
	for _, i := range append(train, test...) {
		if seen[i] {
			t.Fatal("index twice")
		}
		seen[i] = true
	}
}
