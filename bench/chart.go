package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// shortOp abbreviates operation names for the chart's axis.
var shortOp = strings.NewReplacer("MulCoeffsMontgomery", "MulMont", "MulScalarMontgomery", "MulScalarMont", "ThenAddLazy", "+AddLazy", "ThenAdd", "+Add")

// WriteSpeedupChart draws rep as a chart in format ("svg" or "png"): one
// panel per variant and ring shape (ring type, limbs, modulus bits), a group
// of bars per operation, one bar per ring degree N, each bar the variant's
// speedup over lattigo measured in the same run; a line marks 1x.
func WriteSpeedupChart(w io.Writer, rep *KernelReport, format string) error {
	type panelKey struct {
		variant, ring string
		limbs, bits   int
	}
	var panels []panelKey
	var ops []string
	var ns []int
	speed := map[panelKey]map[string]map[int]float64{}
	for _, r := range rep.Results {
		if r.Variant == LattigoVariant {
			continue
		}
		k := panelKey{r.Variant, r.Ring, r.Limbs, r.ModulusBits}
		if speed[k] == nil {
			speed[k] = map[string]map[int]float64{}
			panels = append(panels, k)
		}
		if speed[k][r.Op] == nil {
			speed[k][r.Op] = map[int]float64{}
		}
		speed[k][r.Op][r.N] = r.Speedup
		if !slices.Contains(ops, r.Op) {
			ops = append(ops, r.Op)
		}
		if !slices.Contains(ns, r.N) {
			ns = append(ns, r.N)
		}
	}
	if len(panels) == 0 {
		return fmt.Errorf("bench: no variant results to chart")
	}
	slices.Sort(ns)
	labels := make([]string, len(ops))
	for i, op := range ops {
		labels[i] = shortOp.Replace(op)
	}

	var rows [][]*plot.Plot
	barWidth := vg.Points(7)
	for _, k := range panels {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s vs lattigo: %s ring, %d limb(s) of %d-bit primes (%s)", k.variant, k.ring, k.limbs, k.bits, rep.CPU)
		p.Y.Label.Text = "speedup (lattigo = 1)"
		p.Y.Min = 0
		top := 1.0
		for _, byN := range speed[k] {
			for _, v := range byN {
				top = max(top, v)
			}
		}
		p.Y.Max = 1.3 * top // headroom for the legend
		p.Legend.Top = true
		p.Legend.Left = true
		for i, n := range ns {
			vals := make(plotter.Values, len(ops))
			for j, op := range ops {
				vals[j] = speed[k][op][n]
			}
			bars, err := plotter.NewBarChart(vals, barWidth)
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = plotutil.Color(i)
			bars.Offset = barWidth * vg.Length(float64(i)-float64(len(ns)-1)/2)
			p.Add(bars)
			p.Legend.Add(fmt.Sprintf("N=2^%d", log2Int(n)), bars)
		}
		one := plotter.NewFunction(func(float64) float64 { return 1 })
		one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(one)
		p.NominalX(labels...)
		p.X.Tick.Label.Rotation = 0.5
		p.X.Tick.Label.XAlign = draw.XRight
		p.Add(plotter.NewGrid())
		rows = append(rows, []*plot.Plot{p})
	}

	width, height := vg.Points(float64(max(720, 70*len(ops)))), vg.Points(300*float64(len(rows)))
	c, err := draw.NewFormattedCanvas(width, height, format)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6)}
	canvases := plot.Align(rows, tiles, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	_, err = c.WriteTo(w)
	return err
}

func log2Int(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// WriteKernelMarkdown writes rep as a Markdown table: one row per operation
// and ring, ns per call for lattigo and each variant with its speedup.
func WriteKernelMarkdown(w io.Writer, rep *KernelReport) {
	fmt.Fprintf(w, "Kernels on %s (%s), %s. Median of %d interleaved timings; ns per call over all limbs; speedup = lattigo's time over the variant's, same run.\n\n",
		rep.CPU, strings.Join(rep.CPUFeatures, " "), rep.GoVersion, rep.Rounds)
	fmt.Fprint(w, "| op | ring | N | limbs | bits |")
	sep := "| --- | --- | ---: | ---: | ---: |"
	for _, v := range rep.Variants {
		if v == LattigoVariant {
			fmt.Fprintf(w, " %s ns |", v)
			sep += " ---: |"
		} else {
			fmt.Fprintf(w, " %s ns | %s speedup |", v, v)
			sep += " ---: | ---: |"
		}
	}
	fmt.Fprintf(w, "\n%s\n", sep)
	for _, c := range cases(rep.Results) {
		r0 := c[0]
		fmt.Fprintf(w, "| %s | %s | 2^%d | %d | %d |", r0.Op, r0.Ring, log2Int(r0.N), r0.Limbs, r0.ModulusBits)
		for _, r := range c {
			if r.Variant == LattigoVariant {
				fmt.Fprintf(w, " %.0f |", r.NsPerOp)
			} else {
				fmt.Fprintf(w, " %.0f | %.2fx |", r.NsPerOp, r.Speedup)
			}
		}
		fmt.Fprintln(w)
	}
}
