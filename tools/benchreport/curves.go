package benchreport

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/resmon/resmon/tools/benchrec"
)

// The cluster size curve's rows are named "N nodes × G groups: what"; each
// "what" becomes a small chart of its value against N, drawn together in
// one SVG (curvesFile) the report shows.

const curvesFile = "size-curves.svg"

var curveMeasure = regexp.MustCompile(`^(\d+) nodes × (\d+) groups: (.+)$`)

// curve is one measure at each cluster size.
type curve struct {
	name   string
	unit   benchrec.Unit
	groups int // per node
	points [][2]float64
}

// curves gathers the size curve's rows, in the order the measures first
// appear, each curve's points by size.
func curves(rows []stepRow) []curve {
	var out []curve
	idx := map[string]int{}
	for _, r := range rows {
		m := curveMeasure.FindStringSubmatch(r.Measure)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		g, _ := strconv.Atoi(m[2])
		i, ok := idx[m[3]]
		if !ok {
			i = len(out)
			idx[m[3]] = i
			out = append(out, curve{name: m[3], unit: r.Unit, groups: g})
		}
		out[i].points = append(out[i].points, [2]float64{float64(n), r.Ours})
	}
	for i := range out {
		slices.SortFunc(out[i].points, func(a, b [2]float64) int { return int(a[0] - b[0]) })
	}
	return out
}

// curvesSVG draws each curve in a panel of a grid, three across.
func curvesSVG(cs []curve) []byte {
	const (
		panelW, panelH = 300, 190
		left, right    = 62, 16
		top, bottom    = 34, 36
		across         = 3
	)
	rows := (len(cs) + across - 1) / across
	width, height := panelW*across, panelH*rows+30
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	groups := 0
	if len(cs) > 0 {
		groups = cs[0].groups
	}
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">Cluster size curve: each measure against the number of nodes (%d groups per node)</text>`+"\n", groups)
	for i, c := range cs {
		ox, oy := float64(i%across*panelW), float64(30+i/across*panelH)
		x0, x1 := ox+left, ox+panelW-right
		y0, y1 := oy+panelH-bottom, oy+top
		maxX, maxY := 1.0, 0.0
		for _, p := range c.points {
			maxX, maxY = math.Max(maxX, p[0]), math.Max(maxY, p[1])
		}
		if maxY == 0 {
			maxY = 1
		}
		maxY = niceStep(maxY/4) * 4
		px := func(v float64) float64 { return x0 + v/maxX*(x1-x0) }
		py := func(v float64) float64 { return y0 - v/maxY*(y0-y1) }
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", ox+10, oy+18, html.EscapeString(c.name))
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", x0, y0, x1, y0)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", x0, y0, x0, y1)
		for _, v := range []float64{0, maxY / 2, maxY} {
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`+"\n", x0-4, py(v)+4, html.EscapeString(fmtValue(c.unit, v)))
		}
		var path bytes.Buffer
		for j, p := range c.points {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, px(p[0]), py(p[1]))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p[0]), py(p[1]), palette[1])
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`+"\n", px(p[0]), y0+14, p[0])
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", bytes.TrimSpace(path.Bytes()), palette[1])
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">nodes</text>`+"\n", (x0+x1)/2, y0+28)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
