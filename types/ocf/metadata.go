package ocf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Metadata is what an agent's meta-data action describes: its parameters
// and its actions with their advised timeouts (OCF resource agent API 1.0
// and 1.1).
type Metadata struct {
	Name       string // the agent's own name for itself
	Version    string // the OCF API version it follows ("1.0", "1.1"); may be empty
	ShortDesc  string
	Parameters []Parameter
	Actions    []Action
}

// Parameter is one parameter an agent takes (OCF_RESKEY_<Name>).
type Parameter struct {
	Name       string
	Required   bool
	Unique     bool
	Reloadable bool // OCF 1.1: reload-agent applies a change without a restart
	Deprecated bool
	ShortDesc  string
	LongDesc   string
	Type       string   // "string", "integer", "boolean", "select", "time"…; empty means string
	Default    string   // as the agent wrote it; the agent applies it itself
	Options    []string // for "select"
}

// Action is one action an agent declares, with its advised timeout.
type Action struct {
	Name     string
	Timeout  time.Duration // 0: not given
	Interval time.Duration // monitor: the advised interval
	Depth    int           // monitor: OCF_CHECK_LEVEL
}

// Limits on meta-data, so that a broken or hostile agent cannot make the
// plugin process build huge structures.
const (
	maxMetadataBytes = 1 << 20
	maxParameters    = 1024
	maxActions       = 256
)

// The XML shape of meta-data (ra-api-1.dtd). Only what resmon uses is
// decoded; unknown elements and attributes are ignored, as Pacemaker does.
type xmlAgent struct {
	XMLName    xml.Name    `xml:"resource-agent"`
	Name       string      `xml:"name,attr"`
	Version    string      `xml:"version"`
	ShortDesc  []xmlDesc   `xml:"shortdesc"`
	Parameters []xmlParam  `xml:"parameters>parameter"`
	Actions    []xmlAction `xml:"actions>action"`
}

type xmlDesc struct {
	Lang string `xml:"lang,attr"`
	Text string `xml:",chardata"`
}

type xmlParam struct {
	Name       string     `xml:"name,attr"`
	Required   string     `xml:"required,attr"`
	Unique     string     `xml:"unique,attr"`
	Reloadable string     `xml:"reloadable,attr"`
	Deprecated *struct{}  `xml:"deprecated"`
	ShortDesc  []xmlDesc  `xml:"shortdesc"`
	LongDesc   []xmlDesc  `xml:"longdesc"`
	Content    xmlContent `xml:"content"`
}

type xmlContent struct {
	Type    string `xml:"type,attr"`
	Default string `xml:"default,attr"`
	Options []struct {
		Value string `xml:"value,attr"`
	} `xml:"option"`
}

type xmlAction struct {
	Name     string `xml:"name,attr"`
	Timeout  string `xml:"timeout,attr"`
	Interval string `xml:"interval,attr"`
	Depth    string `xml:"depth,attr"`
}

// ParseMetadata decodes an agent's meta-data. It refuses documents that
// are not a resource-agent description, parameters without a name or
// named twice, and timeouts, intervals or depths that do not parse; each
// error names the element.
func ParseMetadata(b []byte) (*Metadata, error) {
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMetadata, len(b), maxMetadataBytes)
	}
	var x xmlAgent
	d := xml.NewDecoder(bytes.NewReader(b))
	// Agents declare <?xml version="1.0"?> and sometimes an encoding; the
	// text they print is ASCII or UTF-8 in practice.
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported", charset)
	}
	d.Strict = true
	if err := d.Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMetadata, err)
	}
	if len(x.Parameters) > maxParameters || len(x.Actions) > maxActions {
		return nil, fmt.Errorf("%w: %d parameters and %d actions (at most %d and %d)", ErrMetadata, len(x.Parameters), len(x.Actions), maxParameters, maxActions)
	}
	m := &Metadata{Name: strings.TrimSpace(x.Name), Version: strings.TrimSpace(x.Version), ShortDesc: pickDesc(x.ShortDesc)}
	seen := map[string]bool{}
	for i, p := range x.Parameters {
		name := strings.TrimSpace(p.Name)
		switch {
		case name == "":
			return nil, fmt.Errorf("%w: parameter %d has no name", ErrMetadata, i+1)
		case !validParamName(name):
			return nil, fmt.Errorf("%w: parameter %q: a name must be letters, digits and _ (it becomes OCF_RESKEY_%s)", ErrMetadata, name, name)
		case seen[name]:
			return nil, fmt.Errorf("%w: parameter %q is declared twice", ErrMetadata, name)
		}
		seen[name] = true
		param := Parameter{
			Name: name, Required: isTrue(p.Required), Unique: isTrue(p.Unique), Reloadable: isTrue(p.Reloadable),
			Deprecated: p.Deprecated != nil, ShortDesc: pickDesc(p.ShortDesc), LongDesc: pickDesc(p.LongDesc),
			Type: strings.ToLower(strings.TrimSpace(p.Content.Type)), Default: p.Content.Default,
		}
		for _, o := range p.Content.Options {
			param.Options = append(param.Options, o.Value)
		}
		m.Parameters = append(m.Parameters, param)
	}
	for _, a := range x.Actions {
		name := strings.TrimSpace(a.Name)
		if name == "" {
			return nil, fmt.Errorf("%w: an action has no name", ErrMetadata)
		}
		act := Action{Name: name}
		var err error
		if act.Timeout, err = ParseDuration(a.Timeout); err != nil {
			return nil, fmt.Errorf("%w: action %s: timeout: %v", ErrMetadata, name, err)
		}
		if act.Interval, err = ParseDuration(a.Interval); err != nil {
			return nil, fmt.Errorf("%w: action %s: interval: %v", ErrMetadata, name, err)
		}
		if s := strings.TrimSpace(a.Depth); s != "" {
			if act.Depth, err = strconv.Atoi(s); err != nil || act.Depth < 0 {
				return nil, fmt.Errorf("%w: action %s: depth %q is not a whole number", ErrMetadata, name, a.Depth)
			}
		}
		m.Actions = append(m.Actions, act)
	}
	return m, nil
}

// Parameter returns the parameter called name, or nil.
func (m *Metadata) Parameter(name string) *Parameter {
	for i := range m.Parameters {
		if m.Parameters[i].Name == name {
			return &m.Parameters[i]
		}
	}
	return nil
}

// Action returns the first action called name (for monitor: of depth 0
// if there is one), or nil.
func (m *Metadata) Action(name string) *Action {
	var found *Action
	for i := range m.Actions {
		a := &m.Actions[i]
		if a.Name != name {
			continue
		}
		if found == nil || (name == "monitor" && a.Depth == 0 && found.Depth != 0) {
			found = a
		}
	}
	return found
}

// Has reports whether the agent declares action name.
func (m *Metadata) Has(name string) bool { return m.Action(name) != nil }

// Monitor returns the monitor action of the deepest level the agent
// declares when deep, else of level 0 (or the shallowest declared). ok
// is false when the agent declares no monitor at all.
func (m *Metadata) Monitor(deep bool) (Action, bool) {
	var mons []Action
	for _, a := range m.Actions {
		if a.Name == "monitor" {
			mons = append(mons, a)
		}
	}
	if len(mons) == 0 {
		return Action{Name: "monitor"}, false
	}
	slices.SortStableFunc(mons, func(a, b Action) int { return a.Depth - b.Depth })
	if deep {
		return mons[len(mons)-1], true
	}
	return mons[0], true
}

// ParseDuration reads a duration as Pacemaker writes them in meta-data and
// configuration: a number with an optional unit (ms, msec, us, usec, s,
// sec, m, min, h, hr); no unit means seconds. Empty is 0.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(s[:i]), strings.ToLower(strings.TrimSpace(s[i:]))
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || n > 1e9 {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	var u time.Duration
	switch unit {
	case "", "s", "sec":
		u = time.Second
	case "ms", "msec":
		u = time.Millisecond
	case "us", "usec":
		u = time.Microsecond
	case "m", "min":
		u = time.Minute
	case "h", "hr":
		u = time.Hour
	default:
		return 0, fmt.Errorf("%q has unknown unit %q", s, unit)
	}
	return time.Duration(n * float64(u)), nil
}

// pickDesc is the English description (or the first one), on one line.
func pickDesc(ds []xmlDesc) string {
	pick := ""
	for i, d := range ds {
		if i == 0 || strings.EqualFold(d.Lang, "en") {
			pick = d.Text
			if strings.EqualFold(d.Lang, "en") {
				break
			}
		}
	}
	return strings.Join(strings.Fields(pick), " ")
}

func isTrue(s string) bool {
	b, ok := parseBool(s)
	return ok && b
}

// parseBool reads a boolean as Pacemaker and the agents' ocf_is_true do.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "y", "on":
		return true, true
	case "0", "false", "no", "n", "off":
		return false, true
	}
	return false, false
}

func validParamName(s string) bool {
	for _, r := range s {
		if !(r == '_' || (r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)))) {
			return false
		}
	}
	return true
}
