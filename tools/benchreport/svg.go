package benchreport

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"

	"github.com/resmon/resmon/tools/benchrec"
)

// palette colours the series of a histogram in order.
var palette = []string{"#d62728", "#1f77b4", "#7f7f7f", "#2ca02c", "#9467bd"}

// histogramSVG draws the sample sets of one measure as a histogram with
// one bar per series in each bin, a time axis, and a legend with each
// series' count and median.
func histogramSVG(title string, series []benchrec.Row) []byte {
	const (
		width                  = 820
		left, right, top, base = 60, 20, 40, 300
	)
	height := base + 34 + 16*len(series)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s.Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	bins := 30
	step := niceStep((hi - lo) / float64(bins))
	start := math.Floor(lo/step) * step
	bins = int(math.Ceil((hi-start)/step)) + 1
	if bins > 80 { // a few far outliers: cap the axis, the last bin takes the rest
		bins = 80
	}
	counts := make([][]int, len(series))
	peak := 1
	for i, s := range series {
		counts[i] = make([]int, bins)
		for _, v := range s.Values {
			b := min(bins-1, max(0, int((v-start)/step)))
			counts[i][b]++
			peak = max(peak, counts[i][b])
		}
	}
	plotW := float64(width - left - right)
	binW := plotW / float64(bins)
	barW := binW / float64(len(series)+1)
	y := func(c int) float64 { return base - float64(c)/float64(peak)*float64(base-top-10) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	// Axes, ticks every few bins, and the count scale.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, base, width-right, base)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, base)
	every := max(1, bins/8)
	for i := 0; i <= bins; i += every {
		x := float64(left) + float64(i)*binW
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x, base, x, base+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, base+18, tick(start+float64(i)*step, step*float64(every)))
	}
	for _, c := range slices.Compact([]int{0, peak / 2, peak}) {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n", left-6, y(c)+4, c)
	}
	fmt.Fprintf(&b, `<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">samples</text>`+"\n", (top+base)/2, (top+base)/2)
	for i := range series {
		colour := palette[i%len(palette)]
		for bin, c := range counts[i] {
			if c == 0 {
				continue
			}
			x := float64(left) + float64(bin)*binW + barW/2 + float64(i)*barW
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y(c), math.Max(barW, 1), base-y(c), colour)
		}
	}
	// Legend under the axis.
	for i, s := range series {
		ly := base + 34 + i*16
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/>`+"\n", left, ly-9, palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s — n=%d, median %s</text>`+"\n", left+16, ly, html.EscapeString(s.Series), len(s.Values), html.EscapeString(fmtValue(benchrec.Seconds, quantile(s.Values, .5))))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// tick labels an axis position v (seconds) with as many decimals as the
// tick spacing needs.
func tick(v, spacing float64) string {
	unit, scale := "s", 1.0
	if spacing < 0.5 && v < 1 {
		unit, scale = "ms", 1e3
	}
	decimals := 0
	for d := spacing * scale; d < 1 && decimals < 3; d *= 10 {
		decimals++
	}
	return fmt.Sprintf("%.*f %s", decimals, v*scale, unit)
}

// niceStep rounds a bin width up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) {
		return 1e-3
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
