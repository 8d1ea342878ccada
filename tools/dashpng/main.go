// Command dashpng renders two panels of the operator's dashboard (deploy/grafana) from a bench series file, where
// no Grafana runs: the reminder lateness histogram over the whole run ("Reminder and ROOM lateness over the range":
// sum by (le) (increase(apptnotify_notification_lateness_seconds_bucket[$__range])), buckets de-cumulated as Grafana's
// heatmap format does) and the outcomes over time ("Outcomes over time by status": sum by (status)
// (increase(apptnotify_notifications_total[step]))). The bench writes the file with --series-out:
//
//	go run ./bench --scenarios herd --n 200 --series-out /tmp/series.txt
//	go run ./tools/dashpng --in /tmp/series.txt --out docs/img/dashboard-bench.png
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/color"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/apptnotify/apptnotify/internal/bench"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/workflows"
)

func main() {
	in := flag.String("in", "", "the bench's series file (--series-out)")
	out := flag.String("out", "dashboard-bench.png", "the PNG to write")
	step := flag.Duration("step", 5*time.Second, "the outcomes panel's interval (the dashboard's $__rate_interval)")
	flag.Parse()
	if err := run(*in, *out, *step); err != nil {
		fmt.Fprintln(os.Stderr, "dashpng:", err)
		os.Exit(1)
	}
}

func run(in, out string, step time.Duration) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	blocks, err := readSeries(f)
	if err != nil {
		return err
	}
	if len(blocks) < 2 {
		return fmt.Errorf("%s: %d blocks; a series needs at least 2", in, len(blocks))
	}
	late := lateness(blocks[0], blocks[len(blocks)-1])
	outcomes := outcomesOverTime(blocks, step)
	img := vgimg.New(30*vg.Centimeter, 26*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Centimeter, PadY: vg.Centimeter, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2,
		PadLeft: vg.Centimeter / 2, PadRight: vg.Centimeter / 2}
	p1, err := latenessPlot(late)
	if err != nil {
		return err
	}
	p2, err := outcomesPlot(outcomes, blocks[0].at)
	if err != nil {
		return err
	}
	p1.Draw(tiles.At(dc, 0, 0))
	p2.Draw(tiles.At(dc, 0, 1))
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// block is one scrape of the series file: its time and metric families.
type block struct {
	at   time.Time
	fams map[string]*dto.MetricFamily
}

// readSeries splits a series file at its "# at <ms>" lines and parses each block as Prometheus text.
func readSeries(r io.Reader) ([]block, error) {
	var blocks []block
	var text strings.Builder
	var at time.Time
	flush := func() error {
		if at.IsZero() {
			return nil
		}
		var p expfmt.TextParser
		fams, err := p.TextToMetricFamilies(strings.NewReader(text.String()))
		if err != nil {
			return fmt.Errorf("block at %s: %w", at.Format(time.RFC3339), err)
		}
		blocks = append(blocks, block{at: at, fams: fams})
		text.Reset()
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if ms, ok := strings.CutPrefix(line, bench.SeriesPrefix); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			n, err := strconv.ParseInt(ms, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad block line %q", line)
			}
			at = time.UnixMilli(n)
			continue
		}
		text.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return blocks, flush()
}

// bucket is one histogram bucket: its upper bound and the observations in it (not cumulative).
type bucket struct {
	le    float64
	count float64
}

// lateness is sum by (le) (increase(lateness_bucket[range])) between two blocks, de-cumulated.
func lateness(first, last block) []bucket {
	cum := func(b block) map[float64]float64 {
		m := map[float64]float64{}
		f := b.fams[workflows.LatenessHistogram().Served()]
		if f == nil {
			return m
		}
		for _, x := range f.GetMetric() {
			for _, bk := range x.GetHistogram().GetBucket() {
				if !math.IsInf(bk.GetUpperBound(), 1) { // the text format lists +Inf; the sample count is the same
					m[bk.GetUpperBound()] += float64(bk.GetCumulativeCount())
				}
			}
			m[math.Inf(1)] += float64(x.GetHistogram().GetSampleCount())
		}
		return m
	}
	c0, c1 := cum(first), cum(last)
	les := slices.Sorted(maps.Keys(c1))
	out := make([]bucket, len(les))
	prev := 0.0
	for i, le := range les {
		inc := c1[le] - c0[le]
		out[i] = bucket{le: le, count: inc - prev}
		prev = inc
	}
	return out
}

// outcome is the number of outcomes of one status that ended in the step before a block's time.
type outcome struct {
	at    time.Time
	count float64
}

// outcomesOverTime is sum by (status) (increase(notifications_total[step])) at every block at least step after
// the first.
func outcomesOverTime(blocks []block, step time.Duration) map[string][]outcome {
	byStatus := func(b block) map[string]float64 {
		m := map[string]float64{}
		if f := b.fams[metrics.Notifications+"_total"]; f != nil {
			for _, x := range f.GetMetric() {
				for _, l := range x.GetLabel() {
					if l.GetName() == metrics.LabelStatus {
						m[l.GetValue()] += x.GetCounter().GetValue()
					}
				}
			}
		}
		return m
	}
	totals := make([]map[string]float64, len(blocks))
	statuses := map[string]bool{}
	for i, b := range blocks {
		totals[i] = byStatus(b)
		for s := range totals[i] {
			statuses[s] = true
		}
	}
	out := map[string][]outcome{}
	j := 0
	for i, b := range blocks {
		for j < i && b.at.Sub(blocks[j+1].at) >= step {
			j++
		}
		if b.at.Sub(blocks[j].at) < step {
			continue
		}
		for s := range statuses {
			out[s] = append(out[s], outcome{at: b.at, count: totals[i][s] - totals[j][s]})
		}
	}
	return out
}

func latenessPlot(bs []bucket) (*plot.Plot, error) {
	tolerance := workflows.ReminderTolerance.Seconds()
	p := plot.New()
	var total, late float64
	onTime, past := make(plotter.Values, len(bs)), make(plotter.Values, len(bs))
	names := make([]string, len(bs))
	for i, b := range bs {
		total += b.count
		if b.le > tolerance {
			past[i], late = b.count, late+b.count
		} else {
			onTime[i] = b.count
		}
		names[i] = "≤" + strconv.FormatFloat(b.le, 'g', -1, 64)
		if math.IsInf(b.le, 1) {
			names[i] = ">" + strconv.FormatFloat(bs[i-1].le, 'g', -1, 64)
		}
	}
	p.Title.Text = fmt.Sprintf("Reminder and ROOM lateness over the run: %.0f wake-ups, %.0f past the %gs tolerance", total, late, tolerance)
	p.X.Label.Text = "wake-up − due, seconds (bucket upper bound)"
	p.Y.Label.Text = "wake-ups"
	w := vg.Points(14)
	a, err := plotter.NewBarChart(onTime, w)
	if err != nil {
		return nil, err
	}
	a.Color = color.RGBA{R: 0x3a, G: 0x9a, B: 0x4a, A: 0xff}
	b, err := plotter.NewBarChart(past, w)
	if err != nil {
		return nil, err
	}
	b.Color = color.RGBA{R: 0xd0, G: 0x3b, B: 0x2f, A: 0xff}
	b.StackOn(a)
	p.Add(a, b)
	p.Legend.Add("within the tolerance", a)
	p.Legend.Add("past it (REMINDER: skipped_missed)", b)
	p.Legend.Top = true
	p.NominalX(names...)
	return p, nil
}

func outcomesPlot(byStatus map[string][]outcome, t0 time.Time) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Outcomes over time by status (final outcome of every delivery)"
	p.X.Label.Text = "seconds since the first scrape"
	p.Y.Label.Text = "outcomes in the step before each point"
	var lines []any
	for _, s := range slices.Sorted(maps.Keys(byStatus)) {
		pts := make(plotter.XYs, len(byStatus[s]))
		for i, o := range byStatus[s] {
			pts[i] = plotter.XY{X: o.at.Sub(t0).Seconds(), Y: o.count}
		}
		lines = append(lines, s, pts)
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return nil, err
	}
	p.Legend.Top = true
	return p, nil
}
