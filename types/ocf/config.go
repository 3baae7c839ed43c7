package ocf

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
)

// Config is the node-level configuration of the type: where agents live
// and where they keep their state. cmd/ocf fills it from the plugin's
// environment (ConfigFromEnv).
type Config struct {
	// Root is OCF_ROOT: agents are Root/resource.d/<provider>/<agent>.
	// Default /usr/lib/ocf.
	Root string
	// RscTmp is HA_RSCTMP, where agents keep state files that must not
	// survive a reboot. Default: /run/resource-agents/resmon-<node> for
	// root (a directory per node, so nodes sharing a machine keep their
	// state apart), else a directory under the system's temporary
	// directory. Created at Open.
	RscTmp string
	// Node is the node's name (OCF_RESKEY_CRM_meta_on_node). Default: the
	// host name.
	Node string
	// Path is the PATH agents run with. Default: the plugin's PATH with
	// the system directories agents expect (/usr/sbin, /sbin…) added.
	Path string
	// MetadataTimeout bounds the meta-data action, whose own timeout is
	// not known before it ran. Default 30s.
	MetadataTimeout time.Duration
	// DefaultTimeout is the timeout of an action the meta-data gives none
	// for. Default 20s, Pacemaker's.
	DefaultTimeout time.Duration
}

// DefaultRoot is OCF_ROOT when Config.Root is empty.
const DefaultRoot = "/usr/lib/ocf"

// ConfigFromEnv is the configuration cmd/ocf starts with: OCF_ROOT and
// HA_RSCTMP from the plugin's environment (clusterd passes its own on),
// and the node name clusterd gives the plugin (RESMON_NODE).
func ConfigFromEnv(node string) Config {
	return Config{Root: os.Getenv("OCF_ROOT"), RscTmp: os.Getenv("HA_RSCTMP"), Node: node, Path: os.Getenv("PATH")}
}

// WithDefaults returns c with every empty field set to its default.
func (c Config) WithDefaults() Config {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.RscTmp == "" {
		dir := "resmon-" + safeName(c.Node)
		if os.Geteuid() == 0 {
			c.RscTmp = filepath.Join("/run/resource-agents", dir)
		} else {
			c.RscTmp = filepath.Join(os.TempDir(), fmt.Sprintf("resmon-ocf-%d", os.Geteuid()), dir)
		}
	}
	c.Path = withSystemPath(c.Path)
	if c.MetadataTimeout == 0 {
		c.MetadataTimeout = 30 * time.Second
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = 20 * time.Second
	}
	return c
}

// ErrConfig reports a bad Config.
var ErrConfig = errors.New("ocf: bad configuration")

// Validate checks a configuration with its defaults applied.
func (c Config) Validate() error {
	var errs []error
	if !filepath.IsAbs(c.Root) {
		errs = append(errs, fmt.Errorf("%w: OCF root %q is not an absolute path", ErrConfig, c.Root))
	}
	if !filepath.IsAbs(c.RscTmp) {
		errs = append(errs, fmt.Errorf("%w: HA_RSCTMP %q is not an absolute path", ErrConfig, c.RscTmp))
	}
	if c.MetadataTimeout < 0 || c.DefaultTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative timeout", ErrConfig))
	}
	return errors.Join(errs...)
}

// withSystemPath adds the directories agents take for granted.
func withSystemPath(path string) string {
	dirs := filepath.SplitList(path)
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return d == "" || !filepath.IsAbs(d) })
	return strings.Join(dirs, string(filepath.ListSeparator))
}

// The private properties that are the type's own; every other one is a
// parameter of the agent.
const (
	PropProvider = "Provider"
	PropAgent    = "Agent"
)

// DefaultProvider is the provider when the Provider property is absent.
const DefaultProvider = "heartbeat"

// nameRE is what a provider or agent name may be: it becomes a path
// component under Root/resource.d, so no separator, no "..", no dot first.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$`)

// Spec is what a resource's private properties ask for: the agent, and
// its parameters as the strings they are given to it.
type Spec struct {
	Provider, Agent string
	Params          map[string]string
}

// Name is provider:agent, as Pacemaker writes it after "ocf:".
func (s Spec) Name() string { return s.Provider + ":" + s.Agent }

// ParseSpec reads a resource's private properties: Provider (default
// heartbeat) and Agent name the agent; every other property is one of its
// parameters. Strings, booleans and whole numbers are accepted as
// parameter values; whether they suit the agent is checked against its
// meta-data (Validate).
func ParseSpec(req sdk.OpenRequest) (Spec, error) {
	bad := func(prop, format string, a ...any) error {
		return &PropertyError{Resource: req.Name, Property: prop, Err: fmt.Errorf(format, a...)}
	}
	s := Spec{Provider: DefaultProvider, Params: map[string]string{}}
	for _, k := range slices.Sorted(maps.Keys(req.Properties)) {
		v := req.Properties[k]
		if v == nil {
			continue
		}
		switch k {
		case PropProvider, PropAgent:
			str, ok := v.(string)
			str = strings.TrimSpace(str)
			if !ok || !nameRE.MatchString(str) {
				return s, bad(k, "%s must be a name of letters, digits, _ . + and - (not %v)", k, describe(v))
			}
			if k == PropProvider {
				s.Provider = str
			} else {
				s.Agent = str
			}
			continue
		}
		if strings.EqualFold(k, PropProvider) || strings.EqualFold(k, PropAgent) {
			return s, bad(k, "did you mean %s?", map[bool]string{true: PropProvider, false: PropAgent}[strings.EqualFold(k, PropProvider)])
		}
		if !validParamName(k) {
			return s, bad(k, "an agent parameter name is letters, digits and _ (it becomes OCF_RESKEY_%s)", k)
		}
		str, err := paramString(v)
		if err != nil {
			return s, bad(k, "%v", err)
		}
		s.Params[k] = str
	}
	if s.Agent == "" {
		return s, bad(PropAgent, "required: the agent to run, such as IPaddr2 (with Provider, default heartbeat)")
	}
	return s, nil
}

// paramString turns a property value into the string the agent gets.
func paramString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 || !utf8.ValidString(x) {
			return "", errors.New("a value cannot hold a NUL byte or invalid UTF-8 (it is passed in the environment)")
		}
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), nil
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("%s: a parameter is a string, a number or a boolean", describe(v))
}

func describe(v any) string {
	switch v.(type) {
	case []any, map[string]any:
		return fmt.Sprintf("a %T", v)
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// Validate checks the parameters against the agent's meta-data: every
// parameter is one the agent declares, required ones are given, and
// integers, booleans and choices parse. Each error names the resource and
// the parameter and quotes the agent's own description of it.
func (s Spec) Validate(resource string, m *Metadata) error {
	var errs []error
	bad := func(p string, err error) {
		errs = append(errs, &PropertyError{Resource: resource, Property: p, Err: err})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Params)) {
		v := s.Params[k]
		p := m.Parameter(k)
		if p == nil {
			hint := ""
			if near := closest(k, m); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			bad(k, fmt.Errorf("ocf:%s has no parameter %q%s; it takes %s", s.Name(), k, hint, paramList(m)))
			continue
		}
		if err := checkType(*p, v); err != nil {
			bad(k, fmt.Errorf("%v; ocf:%s describes %s as: %s", err, s.Name(), k, desc(*p)))
		}
	}
	for _, p := range m.Parameters {
		if _, ok := s.Params[p.Name]; p.Required && !ok {
			bad(p.Name, fmt.Errorf("required by ocf:%s: %s", s.Name(), desc(p)))
		}
	}
	return errors.Join(errs...)
}

func checkType(p Parameter, v string) error {
	switch p.Type {
	case "integer", "int":
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case "boolean", "bool":
		if _, ok := parseBool(v); !ok {
			return fmt.Errorf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", v)
		}
	case "select":
		if len(p.Options) > 0 && !slices.Contains(p.Options, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(p.Options, ", "))
		}
	case "time":
		if _, err := ParseDuration(v); err != nil {
			return err
		}
	}
	return nil
}

func desc(p Parameter) string {
	d := p.ShortDesc
	if d == "" {
		d = p.LongDesc
	}
	if len(d) > 200 {
		d = d[:200] + "…"
	}
	if d == "" {
		d = "(no description)"
	}
	if p.Type != "" && p.Type != "string" {
		d += " [" + p.Type + "]"
	}
	return d
}

func paramList(m *Metadata) string {
	var names []string
	for _, p := range m.Parameters {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return "no parameters"
	}
	return strings.Join(names, ", ")
}

// closest is a declared parameter name that differs from k only in case,
// by one letter or by two neighbours swapped, or "".
func closest(k string, m *Metadata) string {
	for _, p := range m.Parameters {
		if strings.EqualFold(p.Name, k) || editDistance1(strings.ToLower(p.Name), strings.ToLower(k)) {
			return p.Name
		}
	}
	return ""
}

func editDistance1(a, b string) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(a)-len(b) > 1 {
		return false
	}
	i := 0
	for i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) {
		return true
	}
	if len(a) == len(b) {
		// One letter changed, or two neighbours swapped.
		return a[i+1:] == b[i+1:] || (i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:])
	}
	return a[i+1:] == b[i:]
}

// safeName is s with every character that is not a letter, digit, _ . or -
// replaced by _, for file and instance names.
func safeName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			out[i] = '_'
		}
	}
	if len(out) == 0 {
		return "_"
	}
	return string(out)
}
