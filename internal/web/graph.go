package web

import (
	"strings"

	"github.com/resmon/resmon/internal/ops"
)

// The dependency graph of a group, drawn as SVG on the server: each
// resource a box in the column of its depth (a resource sits right of
// every resource it depends on), an arrow from each dependency to its
// dependent; a dependency that is one of several alternatives (an OR) is
// drawn dashed.

const (
	boxW, boxH = 180, 44
	colGap     = 60
	rowGap     = 16
	margin     = 8
)

type graph struct {
	Width, Height int
	Boxes         []box
	Edges         []edge
}

type box struct {
	X, Y, W, H int
	Name       string
	State      string
	Class      string // stateClass of State
}

type edge struct {
	X1, Y1, X2, Y2 int
	Alternative    bool // one of an OR's dependencies
}

// layoutGraph places the resources of a group. Dependencies on names
// outside the group are ignored; a cycle (which cluster.toml refuses) does
// not loop: depth is bounded by the number of resources.
func layoutGraph(rs []ops.ResourceView) graph {
	idx := map[string]int{}
	for i, r := range rs {
		idx[strings.ToLower(r.Name)] = i
	}
	depth := make([]int, len(rs))
	for range rs { // relax: at most len(rs) rounds
		changed := false
		for i, r := range rs {
			for _, or := range r.Dependencies {
				for _, d := range or {
					j, ok := idx[strings.ToLower(d)]
					if ok && j != i && depth[j]+1 > depth[i] && depth[j]+1 < len(rs) {
						depth[i], changed = depth[j]+1, true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	var g graph
	rows := map[int]int{}
	pos := make([]box, len(rs))
	for i, r := range rs {
		c := depth[i]
		x := margin + c*(boxW+colGap)
		y := margin + rows[c]*(boxH+rowGap)
		rows[c]++
		pos[i] = box{X: x, Y: y, W: boxW, H: boxH, Name: r.Name, State: r.State, Class: stateClass(r.State)}
		g.Width = max(g.Width, x+boxW+margin)
		g.Height = max(g.Height, y+boxH+margin)
	}
	g.Boxes = pos
	for i, r := range rs {
		for _, or := range r.Dependencies {
			for _, d := range or {
				j, ok := idx[strings.ToLower(d)]
				if !ok || j == i {
					continue
				}
				a, b := pos[j], pos[i]
				g.Edges = append(g.Edges, edge{X1: a.X + a.W, Y1: a.Y + a.H/2, X2: b.X, Y2: b.Y + b.H/2, Alternative: len(or) > 1})
			}
		}
	}
	return g
}
