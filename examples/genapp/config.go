package genapp

import (
	"fmt"
	"math"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/resmon/resmon/sdk"
)

// Private property names.
const (
	PropCommandLine      = "CommandLine"
	PropCurrentDirectory = "CurrentDirectory"
	PropEnvironment      = "Environment"
	PropStopSignal       = "StopSignal"
	PropStopTimeout      = "StopTimeout"
	PropHealthCommand    = "HealthCommand"
	PropHealthTCP        = "HealthTCP"
	PropHealthHTTP       = "HealthHTTP"
)

var propNames = []string{
	PropCommandLine, PropCurrentDirectory, PropEnvironment, PropStopSignal,
	PropStopTimeout, PropHealthCommand, PropHealthTCP, PropHealthHTTP,
}

// Defaults of the optional properties.
const (
	DefaultStopSignal  = "TERM"
	DefaultStopTimeout = 10 * time.Second
)

// stopSignals are the signals StopSignal may name, without "SIG". KILL
// makes Offline as abrupt as Terminate, which some applications want.
var stopSignals = []string{"HUP", "INT", "QUIT", "TERM", "USR1", "USR2", "KILL"}

// PropertyError is a private property that is missing or malformed. It
// matches sdk.ErrInvalidParameter, so the error keeps its meaning across
// the plugin boundary.
type PropertyError struct {
	Resource string // the resource's name
	Property string
	Problem  string
}

func (e *PropertyError) Error() string {
	return fmt.Sprintf("genapp: resource %q: property %s: %s", e.Resource, e.Property, e.Problem)
}

// Unwrap makes errors.Is(err, sdk.ErrInvalidParameter) true.
func (e *PropertyError) Unwrap() error { return sdk.ErrInvalidParameter }

// Config is a resource's private properties, checked.
type Config struct {
	Command       []string      // CommandLine, split; Command[0] is the program
	Dir           string        // CurrentDirectory; "" keeps the monitor's
	Env           []string      // Environment as "K=V", added to the inherited one
	StopSignal    string        // without "SIG": "TERM"
	StopTimeout   time.Duration // grace between StopSignal and SIGKILL
	HealthCommand []string      // exit status 0 means alive
	HealthTCP     string        // host:port that must accept a connection
	HealthHTTP    string        // URL that must answer 2xx or 3xx
}

// HasProbe reports whether a health probe is configured.
func (c *Config) HasProbe() bool {
	return len(c.HealthCommand) > 0 || c.HealthTCP != "" || c.HealthHTTP != ""
}

// ParseConfig checks the private properties of r. The error names the
// resource and the property at fault.
func ParseConfig(r sdk.OpenRequest) (*Config, error) {
	bad := func(prop, format string, a ...any) error {
		return &PropertyError{Resource: r.Name, Property: prop, Problem: fmt.Sprintf(format, a...)}
	}
	p := r.Properties
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !contains(propNames, k) {
			for _, known := range propNames {
				if strings.EqualFold(k, known) {
					return nil, bad(k, "unknown property; did you mean %s?", known)
				}
			}
			return nil, bad(k, "unknown property (known: %s)", strings.Join(propNames, ", "))
		}
	}

	c := &Config{StopSignal: DefaultStopSignal, StopTimeout: DefaultStopTimeout}
	cl, ok, err := str(p, PropCommandLine)
	switch {
	case err != nil:
		return nil, bad(PropCommandLine, "%v", err)
	case !ok || strings.TrimSpace(cl) == "":
		return nil, bad(PropCommandLine, "required: the command to run, such as \"/usr/bin/myapp --port 8080\"")
	}
	if c.Command, err = SplitCommandLine(cl); err != nil {
		return nil, bad(PropCommandLine, "%v in %q", err, cl)
	}

	if c.Dir, _, err = str(p, PropCurrentDirectory); err != nil {
		return nil, bad(PropCurrentDirectory, "%v", err)
	}
	// The directory is not checked for existence here: it may live on
	// storage that another resource of the group brings online first.
	if c.Dir != "" && !path.IsAbs(c.Dir) {
		return nil, bad(PropCurrentDirectory, "%q is not an absolute path", c.Dir)
	}

	if c.Env, err = environment(p[PropEnvironment]); err != nil {
		return nil, bad(PropEnvironment, "%v", err)
	}

	if s, ok, err := str(p, PropStopSignal); err != nil {
		return nil, bad(PropStopSignal, "%v", err)
	} else if ok {
		name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
		if !contains(stopSignals, name) {
			return nil, bad(PropStopSignal, "unknown signal %q (one of SIG%s)", s, strings.Join(stopSignals, ", SIG"))
		}
		c.StopSignal = name
	}

	if v, ok := p[PropStopTimeout]; ok && v != nil {
		if c.StopTimeout, err = duration(v); err != nil {
			return nil, bad(PropStopTimeout, "%v", err)
		}
	}

	probes := 0
	if s, ok, err := str(p, PropHealthCommand); err != nil {
		return nil, bad(PropHealthCommand, "%v", err)
	} else if ok {
		if c.HealthCommand, err = SplitCommandLine(s); err != nil {
			return nil, bad(PropHealthCommand, "%v in %q", err, s)
		}
		probes++
	}
	for _, f := range []struct {
		prop string
		dst  *string
	}{{PropHealthTCP, &c.HealthTCP}, {PropHealthHTTP, &c.HealthHTTP}} {
		s, ok, err := str(p, f.prop)
		if err != nil {
			return nil, bad(f.prop, "%v", err)
		}
		if ok {
			*f.dst = strings.TrimSpace(s)
			probes++
		}
	}
	if probes > 1 {
		return nil, bad(PropHealthCommand, "set at most one of %s, %s and %s", PropHealthCommand, PropHealthTCP, PropHealthHTTP)
	}
	if err := checkBuild(c); err != nil {
		return nil, bad(err.prop, "%s", err.problem)
	}
	return c, nil
}

// buildError is a property this build of the type cannot honour.
type buildError struct{ prop, problem string }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str returns property k as a string; ok is false when it is absent or null.
func str(p map[string]any, k string) (s string, ok bool, err error) {
	v, present := p[k]
	if !present || v == nil {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, fmt.Errorf("want a string, got %s", typeName(v))
	}
	return s, true, nil
}

func typeName(v any) string {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a table"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a float"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	}
	return fmt.Sprintf("%T", v)
}

// duration accepts a Go duration string ("10s", "1m30s") or a whole
// number of seconds.
func duration(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case string:
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(x)); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as \"10s\" or \"1m30s\"", x)
		}
	default:
		rv := reflect.ValueOf(v)
		switch {
		case rv.CanInt():
			n := rv.Int()
			if n < 0 || n > math.MaxInt64/int64(time.Second) {
				return 0, fmt.Errorf("%d seconds is out of range", n)
			}
			d = time.Duration(n) * time.Second
		case rv.CanUint() && rv.Uint() <= math.MaxInt64/uint64(time.Second):
			d = time.Duration(rv.Uint()) * time.Second
		default:
			return 0, fmt.Errorf("want a duration string such as \"10s\" or whole seconds, got %s", typeName(v))
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s is not positive", d)
	}
	return d, nil
}

// environment accepts a list of "K=V" strings or a table of scalars.
func environment(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	var env []string
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			e, ok := rv.Index(i).Interface().(string)
			if !ok {
				return nil, fmt.Errorf("entry %d: want a \"NAME=value\" string, got %s", i+1, typeName(rv.Index(i).Interface()))
			}
			k, _, found := strings.Cut(e, "=")
			if !found {
				return nil, fmt.Errorf("entry %d: %q has no '='; write \"NAME=value\"", i+1, e)
			}
			if err := checkEnv(k, e); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i+1, err)
			}
			env = append(env, e)
		}
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("table keys must be strings")
		}
		for _, key := range rv.MapKeys() {
			k, x := key.String(), rv.MapIndex(key).Interface()
			var s string
			switch x.(type) {
			case string, bool, int, int32, int64, uint, uint32, uint64, float64:
				s = fmt.Sprint(x)
			default:
				return nil, fmt.Errorf("%s: want a string, number or boolean, got %s", k, typeName(x))
			}
			if err := checkEnv(k, k+"="+s); err != nil {
				return nil, err
			}
			env = append(env, k+"="+s)
		}
		sort.Strings(env) // maps have no order; keep the child's environment stable
	default:
		return nil, fmt.Errorf("want a list of \"NAME=value\" strings or a table, got %s", typeName(v))
	}
	return env, nil
}

func checkEnv(name, entry string) error {
	switch {
	case name == "":
		return fmt.Errorf("%q has an empty name", entry)
	case strings.ContainsAny(name, "= \t\n"):
		return fmt.Errorf("name %q contains '=' or a blank", name)
	case strings.IndexByte(entry, 0) >= 0:
		return fmt.Errorf("%q contains a NUL byte", name)
	}
	return nil
}
