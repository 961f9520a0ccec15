// Package logreg fits plaintext logistic regression models and measures
// them: a Newton (IRLS) fitter with an L2 penalty, standardization, and
// the area under the ROC curve. It serves tests, benchmarks and data
// generation (the reference models of the joint-scoring job); the joint job
// itself only ever evaluates a fitted model.
package logreg

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Options configure Fit.
type Options struct {
	// L2 is the ridge penalty λ on the weights (not the intercept): the fit
	// minimises the negative log-likelihood plus λ/2·‖w‖².
	L2 float64
	// MaxIter bounds the Newton steps (0 means 50); Tol stops when the
	// largest change of a coefficient is below it (0 means 1e-9).
	MaxIter int
	Tol     float64
}

// Model is a fitted model: log-odds = Intercept + Σ Weights[j]·x[j].
type Model struct {
	Intercept float64
	Weights   []float64
	// Iterations is the number of Newton steps taken.
	Iterations int
}

// LogOdds returns the model's log-odds of one row.
func (m *Model) LogOdds(x []float64) float64 {
	z := m.Intercept
	for j, w := range m.Weights {
		z += w * x[j]
	}
	return z
}

// Fit fits y ~ σ(b + w·x) by Newton's method (iteratively reweighted least
// squares): each step solves (XᵀWX + λI)Δ = Xᵀ(y − p) − λw by Cholesky.
// X is row-major: X[i] is row i. Features should be on comparable scales
// (Standardize); the intercept is not penalised.
func Fit(X [][]float64, y []int, o Options) (*Model, error) {
	n := len(X)
	if n == 0 || n != len(y) {
		return nil, fmt.Errorf("logreg: %d rows and %d labels", n, len(y))
	}
	d := len(X[0])
	for i, row := range X {
		if len(row) != d {
			return nil, fmt.Errorf("logreg: row %d has %d features, row 0 has %d", i, len(row), d)
		}
	}
	if o.MaxIter == 0 {
		o.MaxIter = 50
	}
	if o.Tol == 0 {
		o.Tol = 1e-9
	}
	p := d + 1 // coefficient 0 is the intercept
	beta := make([]float64, p)
	h := make([]float64, p*p)
	g := make([]float64, p)
	xi := make([]float64, p)
	for it := 1; it <= o.MaxIter; it++ {
		clear(h)
		clear(g)
		for i, row := range X {
			xi[0] = 1
			copy(xi[1:], row)
			z := beta[0]
			for j, v := range row {
				z += beta[j+1] * v
			}
			pr := sigmoid(z)
			wgt := max(pr*(1-pr), 1e-12)
			r := float64(y[i]) - pr
			for a := range p {
				g[a] += xi[a] * r
				wa := wgt * xi[a]
				for b := 0; b <= a; b++ {
					h[a*p+b] += wa * xi[b]
				}
			}
		}
		for a := 1; a < p; a++ {
			h[a*p+a] += o.L2
			g[a] -= o.L2 * beta[a]
		}
		for a := range p {
			for b := 0; b < a; b++ {
				h[b*p+a] = h[a*p+b]
			}
		}
		step, err := solveSPD(h, g, p)
		if err != nil {
			return nil, fmt.Errorf("logreg: Newton step %d: %w (separable data? add an L2 penalty)", it, err)
		}
		worst := 0.0
		for a := range p {
			beta[a] += step[a]
			worst = max(worst, math.Abs(step[a]))
		}
		if math.IsNaN(worst) {
			return nil, errors.New("logreg: diverged")
		}
		if worst < o.Tol {
			return &Model{Intercept: beta[0], Weights: beta[1:], Iterations: it}, nil
		}
	}
	return nil, fmt.Errorf("logreg: no convergence in %d Newton steps (separable data? add an L2 penalty)", o.MaxIter)
}

// solveSPD solves A x = b for a symmetric positive definite p×p matrix A
// (row-major) by Cholesky decomposition.
func solveSPD(a, b []float64, p int) ([]float64, error) {
	l := make([]float64, p*p)
	for i := range p {
		for j := 0; j <= i; j++ {
			s := a[i*p+j]
			for k := range j {
				s -= l[i*p+k] * l[j*p+k]
			}
			if i == j {
				if s <= 0 {
					return nil, errors.New("matrix not positive definite")
				}
				l[i*p+i] = math.Sqrt(s)
			} else {
				l[i*p+j] = s / l[j*p+j]
			}
		}
	}
	y := make([]float64, p)
	for i := range p {
		s := b[i]
		for k := range i {
			s -= l[i*p+k] * y[k]
		}
		y[i] = s / l[i*p+i]
	}
	x := make([]float64, p)
	for i := p - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < p; k++ {
			s -= l[k*p+i] * x[k]
		}
		x[i] = s / l[i*p+i]
	}
	return x, nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// Standardize returns each column's mean and standard deviation (population;
// 1 for a constant column) over X, for centering and scaling.
func Standardize(X [][]float64) (mean, sd []float64) {
	if len(X) == 0 {
		return nil, nil
	}
	d := len(X[0])
	mean, sd = make([]float64, d), make([]float64, d)
	for _, row := range X {
		for j, v := range row {
			mean[j] += v
		}
	}
	n := float64(len(X))
	for j := range mean {
		mean[j] /= n
	}
	for _, row := range X {
		for j, v := range row {
			dv := v - mean[j]
			sd[j] += dv * dv
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / n)
		if sd[j] == 0 {
			sd[j] = 1
		}
	}
	return mean, sd
}

// Apply returns (x − mean)/sd for every row, as new rows.
func Apply(X [][]float64, mean, sd []float64) [][]float64 {
	out := make([][]float64, len(X))
	for i, row := range X {
		r := make([]float64, len(row))
		for j, v := range row {
			r[j] = (v - mean[j]) / sd[j]
		}
		out[i] = r
	}
	return out
}

// AUC is the area under the ROC curve of scores against 0/1 labels (the
// probability that a random positive scores above a random negative, ties
// counting half), by the rank-sum formula.
func AUC(scores []float64, labels []int) (float64, error) {
	if len(scores) != len(labels) {
		return 0, fmt.Errorf("logreg: %d scores, %d labels", len(scores), len(labels))
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] == 1 {
				rankSum += avg
			}
		}
		i = j
	}
	for _, l := range labels {
		switch l {
		case 1:
			pos++
		case 0:
			neg++
		default:
			return 0, fmt.Errorf("logreg: label %d is not 0 or 1", l)
		}
	}
	if pos == 0 || neg == 0 {
		return 0, errors.New("logreg: AUC needs both labels")
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), nil
}

// Split returns a seeded shuffle of 0..n-1 cut into a test part of
// round(n·testFraction) indices and the rest for training.
func Split(n int, testFraction float64, shuffle func(n int, swap func(i, j int))) (train, test []int) {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	k := int(math.Round(float64(n) * testFraction))
	test, train = slices.Clone(perm[:k]), slices.Clone(perm[k:])
	return train, test
}
