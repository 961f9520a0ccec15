package bench

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mitai-dev/mitai/protocol/psi"
)

// Report files written to an output folder.
const (
	KernelsMarkdown = "kernels.md"
	KernelsJSON     = "kernels.json"
	KernelsChart    = "kernels-speedup.svg"
	KernelsChartPNG = "kernels-speedup.png"
	TuneMarkdown    = "tuning.md"
	TuneJSON        = "tuning-report.json"
	TuneChart       = "tuning-speedup.svg"
	TuneChartPNG    = "tuning-speedup.png"
)

// WriteKernelReports writes rep to dir as Markdown, JSON and the speedup
// chart (SVG and PNG), and returns the paths written.
func WriteKernelReports(dir string, rep *KernelReport) ([]string, error) {
	var md bytes.Buffer
	fmt.Fprintln(&md, "# mitai bench kernels")
	fmt.Fprintln(&md)
	WriteKernelMarkdown(&md, rep)
	fmt.Fprintf(&md, "\n![speedup by operation and N](%s)\n", KernelsChart)
	return writeReports(dir, map[string]func(io.Writer) error{
		KernelsMarkdown: func(w io.Writer) error { _, err := w.Write(md.Bytes()); return err },
		KernelsJSON:     func(w io.Writer) error { return writeJSON(w, rep) },
		KernelsChart:    func(w io.Writer) error { return WriteSpeedupChart(w, rep, "svg") },
		KernelsChartPNG: func(w io.Writer) error { return WriteSpeedupChart(w, rep, "png") },
	})
}

// WriteTuneReports writes the tuner's report to dir: the profile's choices
// with every candidate's median as Markdown, the whole report as JSON, and
// the kernel sweep's speedup chart.
func WriteTuneReports(dir string, rep *TuneReport) ([]string, error) {
	var md bytes.Buffer
	WriteTuneMarkdown(&md, rep)
	return writeReports(dir, map[string]func(io.Writer) error{
		TuneMarkdown: func(w io.Writer) error { _, err := w.Write(md.Bytes()); return err },
		TuneJSON:     func(w io.Writer) error { return writeJSON(w, rep) },
		TuneChart:    func(w io.Writer) error { return WriteSpeedupChart(w, rep.Sweep, "svg") },
		TuneChartPNG: func(w io.Writer) error { return WriteSpeedupChart(w, rep.Sweep, "png") },
	})
}

// WriteTuneMarkdown writes the tuner's choices and the kernel sweep.
func WriteTuneMarkdown(w io.Writer, rep *TuneReport) {
	p := rep.Profile
	fmt.Fprintln(w, "# mitai bench tune")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Host: %s (%s), %d cores, %s %s/%s. Created %s.\n\n", p.Host.CPU, strings.Join(p.Host.CPUFeatures, " "),
		p.Host.Cores, p.Host.GoVersion, p.Host.OS, p.Host.Arch, p.Created.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Profile: preset advice %s, score workers %d, limb parallelism %d, psi workers %d (workers 0 = GOMAXPROCS), psi batch size %d.\n\n",
		p.Preset, p.ScoreWorkers, p.LimbParallelism, p.PSIWorkers, cmp.Or(p.PSIBatchSize, psi.DefaultBatchSize))
	fmt.Fprintln(w, "Each candidate was timed several times, interleaved with the others; the lowest median wins. Gain is the slowest candidate's median over the chosen one's.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| setting | measured on | chosen | gain | candidates (median) |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | --- |")
	for _, c := range p.Choices {
		var cands []string
		for _, cand := range c.Candidates {
			cands = append(cands, fmt.Sprintf("%s %.4g %s", cand.Name, cand.Median, c.Unit))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2fx | %s |\n", c.Setting, c.On, c.Chosen, c.Gain, strings.Join(cands, ", "))
	}
	if rep.Sweep != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Kernel sweep")
		fmt.Fprintln(w)
		WriteKernelMarkdown(w, rep.Sweep)
		fmt.Fprintf(w, "\n![speedup by operation and N](%s)\n", TuneChart)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeReports creates dir and writes each file, returning the paths in
// name order.
func writeReports(dir string, files map[string]func(io.Writer) error) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: report folder: %w", err)
	}
	var paths []string
	for _, name := range []string{KernelsMarkdown, KernelsJSON, KernelsChart, KernelsChartPNG, TuneMarkdown, TuneJSON, TuneChart, TuneChartPNG} {
		write, ok := files[name]
		if !ok {
			continue
		}
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", name, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
