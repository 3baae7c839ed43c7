package ocf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resmon/resmon/sdk"
)

// Control codes of the type's own (in the range sdk.ControlCode.IsTypeCode
// describes), for `cluster resource NAME control CODE`.
const (
	// CodeMetadata answers with the agent's meta-data, as it printed it at
	// Open.
	CodeMetadata sdk.ControlCode = 0x01200001
	// CodeValidate runs validate-all with the resource's parameters and
	// answers with its outcome.
	CodeValidate sdk.ControlCode = 0x01200005
	// CodeMonitor runs monitor at the depth given as input (decimal; empty
	// is 0) and answers with its outcome.
	CodeMonitor sdk.ControlCode = 0x01200009
)

// Type is the OCF Agent resource type: each resource runs a Pacemaker
// resource agent (Open Cluster Framework), chosen by its Provider and
// Agent private properties, with its other private properties as the
// agent's parameters.
type Type struct {
	Config Config

	mu   sync.Mutex
	open map[*resource]bool // resources open in this process, for unique parameters
}

var _ sdk.ResourceType = (*Type)(nil)

// resource is one opened OCF resource.
type resource struct {
	t    *Type
	host sdk.Host
	name string
	meta *Metadata
	raw  []byte // the meta-data as printed

	mu      sync.Mutex
	a       *agent
	started bool               // start succeeded and no stop since
	cancel  context.CancelFunc // of the action in flight; Terminate cancels it
}

var (
	_ sdk.Resource      = (*resource)(nil)
	_ sdk.HealthChecker = (*resource)(nil)
	_ sdk.Controller    = (*resource)(nil)
)

// Open reads the resource's private properties, runs the agent's
// meta-data and checks the parameters against it, then runs validate-all
// when the agent has it. Property and meta-data errors fail the resource
// everywhere (they are the same on every node); an agent missing on this
// node bans the node; validate-all's exit code is classed like any other.
func (t *Type) Open(ctx context.Context, host sdk.Host, req sdk.OpenRequest) (sdk.Resource, error) {
	cfg := t.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, sdk.BanNode(err)
	}
	spec, err := ParseSpec(req)
	if err != nil {
		return nil, sdk.FailEverywhere(err)
	}
	r := &resource{t: t, host: host, name: req.Name}
	r.a = &agent{cfg: cfg, spec: spec, path: agentPath(cfg.Root, spec), instance: instanceName(req), resource: req.Name, log: host.Log}
	if err := r.a.installed(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.RscTmp, 0o755); err != nil {
		return nil, sdk.BanNode(fmt.Errorf("ocf: resource %q: HA_RSCTMP: %w", req.Name, err))
	}
	var out bytes.Buffer
	res, err := r.a.run(ctx, call{action: "meta-data", timeout: cfg.MetadataTimeout, stdout: &out})
	if err != nil {
		return nil, err
	}
	if res.code != ExitSuccess {
		return nil, r.a.exitError("meta-data", res)
	}
	r.raw = out.Bytes()
	if r.meta, err = ParseMetadata(r.raw); err != nil {
		return nil, sdk.FailEverywhere(fmt.Errorf("resource %q: ocf:%s: %w", req.Name, spec.Name(), err))
	}
	if err := spec.Validate(req.Name, r.meta); err != nil {
		return nil, sdk.FailEverywhere(err)
	}
	if err := t.claim(r); err != nil {
		return nil, sdk.FailEverywhere(err)
	}
	if err := r.validate(ctx, spec.Params); err != nil {
		t.release(r)
		return nil, err
	}
	host.Log(sdk.LevelDebug, "opened", "agent", spec.Name(), "instance", r.a.instance, "ocf_version", r.meta.Version)
	return r, nil
}

// instanceName is OCF_RESOURCE_INSTANCE: agents put it into file names
// unquoted, so it holds only letters, digits, _ . and -. A name that needs
// changing gets part of the resource's id, so two names that change alike
// stay apart.
func instanceName(req sdk.OpenRequest) string {
	s := safeName(req.Name)
	if s != req.Name && req.ID != "" {
		s += "-" + safeName(req.ID[:min(8, len(req.ID))])
	}
	return s
}

// claim registers r among the open resources after checking that no other
// resource of the same agent open in this process uses the same value for
// a parameter the agent declares unique.
func (t *Type) claim(r *resource) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.checkUnique(r, r.a.spec.Params); err != nil {
		return err
	}
	if t.open == nil {
		t.open = map[*resource]bool{}
	}
	t.open[r] = true
	return nil
}

func (t *Type) checkUnique(r *resource, params map[string]string) error {
	for o := range t.open {
		if o == r || o.spec().Name() != r.a.spec.Name() {
			continue
		}
		for _, p := range r.meta.Parameters {
			v, ok := params[p.Name]
			if !p.Unique || !ok || v == "" {
				continue
			}
			if ov, ok := o.spec().Params[p.Name]; ok && ov == v {
				return &PropertyError{Resource: r.name, Property: p.Name, Err: fmt.Errorf(
					"ocf:%s declares %s unique, and resource %q on this node has the same value %q", r.a.spec.Name(), p.Name, o.name, v)}
			}
		}
	}
	return nil
}

func (t *Type) release(r *resource) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, r)
}

func (r *resource) spec() Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.a.spec
}

func (r *resource) agent() *agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.a
}

// action runs one declared action with its timeout from the meta-data; a
// Terminate cancels it.
func (r *resource) action(ctx context.Context, c call) (result, error) {
	a := r.agent()
	if c.timeout == 0 {
		if act := r.meta.Action(c.action); act != nil {
			c.timeout = act.Timeout
		}
	}
	if c.params == nil {
		c.params = a.spec.Params
	}
	ctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.cancel = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cancel = nil
		r.mu.Unlock()
		cancel()
	}()
	return a.run(ctx, c)
}

// withProgress runs fn while reporting progress every second, so that a
// start or stop within the agent's timeout is never cut short by the
// resource's PendingTimeout.
func (r *resource) withProgress(ctx context.Context, what string, fn func() error) error {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = r.host.Progress(ctx, what)
			}
		}
	}()
	defer close(done)
	return fn()
}

func (r *resource) validate(ctx context.Context, params map[string]string) error {
	if !r.meta.Has("validate-all") {
		return nil
	}
	res, err := r.action(ctx, call{action: "validate-all", params: params})
	if err != nil {
		return err
	}
	if res.code != ExitSuccess {
		return fmt.Errorf("resource %q: %w", r.name, r.agent().exitError("validate-all", res))
	}
	return nil
}

// Online runs start.
func (r *resource) Online(ctx context.Context) error {
	a := r.agent()
	return r.withProgress(ctx, "ocf:"+a.spec.Name()+" start", func() error {
		res, err := r.action(ctx, call{action: "start"})
		if err != nil {
			return err
		}
		if res.code != ExitSuccess {
			return a.exitError("start", res)
		}
		r.mu.Lock()
		r.started = true
		r.mu.Unlock()
		return nil
	})
}

// Offline runs stop; "not running" is a successful stop, as in Pacemaker.
func (r *resource) Offline(ctx context.Context) error {
	a := r.agent()
	return r.withProgress(ctx, "ocf:"+a.spec.Name()+" stop", func() error {
		return r.stop(ctx)
	})
}

func (r *resource) stop(ctx context.Context) error {
	a := r.agent()
	res, err := r.action(ctx, call{action: "stop"})
	if err != nil {
		return err
	}
	if res.code != ExitSuccess && res.code != ExitNotRunning {
		return a.exitError("stop", res)
	}
	r.mu.Lock()
	r.started = false
	r.mu.Unlock()
	return nil
}

// Terminate kills the action in flight, if any, and runs stop: an agent
// has no faster way to take its resource down.
func (r *resource) Terminate(ctx context.Context) error {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	return r.stop(ctx)
}

// CheckHealth runs monitor: at OCF_CHECK_LEVEL 0 for the cheap check, at
// the deepest level the agent declares for the thorough one. "Running"
// (and running promoted, or degraded) is alive; every other code is a
// failure with its class.
func (r *resource) CheckHealth(ctx context.Context, deep bool) error {
	a := r.agent()
	mon, _ := r.meta.Monitor(deep)
	interval := mon.Interval
	if interval == 0 {
		interval = 10 * time.Second
	}
	res, err := r.action(ctx, call{action: "monitor", timeout: mon.Timeout, interval: interval, depth: mon.Depth, quiet: true})
	if err != nil {
		return err
	}
	switch res.code {
	case ExitSuccess, ExitRunningPromoted:
		return nil
	case ExitDegraded, ExitDegradedPromote:
		r.host.Log(sdk.LevelWarn, "the agent reports the resource degraded", "agent", a.spec.Name(), "reason", res.reason)
		return nil
	}
	return a.exitError(fmt.Sprintf("monitor (OCF_CHECK_LEVEL %d)", mon.Depth), res)
}

// LooksAlive is the cheap check without its reason (hosts that do not use
// sdk.HealthChecker).
func (r *resource) LooksAlive(ctx context.Context) bool { return r.CheckHealth(ctx, false) == nil }

// IsAlive is the thorough check without its reason.
func (r *resource) IsAlive(ctx context.Context) bool { return r.CheckHealth(ctx, true) == nil }

// Close forgets the resource; an action still in flight is killed.
func (r *resource) Close(context.Context) error {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.t.release(r)
	return nil
}

// Control answers sdk.SetPrivateProperties (reload) and the type's own
// codes.
func (r *resource) Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error) {
	switch code {
	case sdk.SetPrivateProperties:
		return nil, r.setProperties(ctx, in)
	case CodeMetadata:
		return slices.Clone(r.raw), nil
	case CodeValidate:
		if !r.meta.Has("validate-all") {
			return nil, fmt.Errorf("%w: ocf:%s has no validate-all action", sdk.ErrInvalidFunction, r.spec().Name())
		}
		if err := r.validate(ctx, r.spec().Params); err != nil {
			return nil, err
		}
		return []byte("validate-all: success (0)\n"), nil
	case CodeMonitor:
		return r.monitorAt(ctx, strings.TrimSpace(string(in)))
	}
	return nil, fmt.Errorf("%w: %s (the OCF Agent type answers 0x%08X meta-data, 0x%08X validate-all, 0x%08X monitor)",
		sdk.ErrInvalidFunction, code, uint32(CodeMetadata), uint32(CodeValidate), uint32(CodeMonitor))
}

func (r *resource) monitorAt(ctx context.Context, depth string) ([]byte, error) {
	depth = strings.Trim(depth, `" `) // a JSON string or number, as the CLI's -in sends it
	d := 0
	if depth != "" {
		if _, err := fmt.Sscanf(depth, "%d", &d); err != nil || d < 0 {
			return nil, fmt.Errorf("%w: monitor depth %q is not a whole number", sdk.ErrInvalidParameter, depth)
		}
	}
	var mon Action
	for _, m := range r.meta.Actions {
		if m.Name == "monitor" && m.Depth == d {
			mon = m
		}
	}
	res, err := r.action(ctx, call{action: "monitor", timeout: mon.Timeout, interval: 0, depth: d})
	if err != nil {
		return nil, err
	}
	out := fmt.Sprintf("monitor (OCF_CHECK_LEVEL %d): %s (%d)", d, ExitName(res.code), res.code)
	if res.timedOut {
		out = fmt.Sprintf("monitor (OCF_CHECK_LEVEL %d): timed out", d)
	}
	if res.reason != "" {
		out += ": " + res.reason
	}
	return []byte(out + "\n"), nil
}

// errNeedsRestart says that changed parameters apply only at the next
// start; sdk.ErrInvalidFunction tells the monitor to give them at the
// resource's next Open.
var errNeedsRestart = fmt.Errorf("%w: the change takes effect when the resource next comes online", sdk.ErrInvalidFunction)

// setProperties takes the complete new private properties. While the
// resource is stopped, they replace the old ones once validate-all agrees.
// While it runs, a change of reloadable parameters only is applied with
// reload-agent (OCF 1.1: parameters marked reloadable) or, for an agent
// of the older API, reload (every parameter not marked unique), as
// Pacemaker does; anything else waits for the next start.
func (r *resource) setProperties(ctx context.Context, in []byte) error {
	var props map[string]any
	d := json.NewDecoder(bytes.NewReader(in))
	d.UseNumber()
	if err := d.Decode(&props); err != nil {
		return fmt.Errorf("%w: resource %q: private properties: %v", sdk.ErrInvalidParameter, r.name, err)
	}
	for k, v := range props {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				props[k] = i
			} else if f, err := n.Float64(); err == nil {
				props[k] = f
			}
		}
	}
	old := r.spec()
	spec, err := ParseSpec(sdk.OpenRequest{Name: r.name, Properties: props})
	if err != nil {
		return err
	}
	if spec.Name() != old.Name() {
		return fmt.Errorf("%w: the agent changed from ocf:%s to ocf:%s", errNeedsRestart, old.Name(), spec.Name())
	}
	if maps.Equal(spec.Params, old.Params) {
		return nil
	}
	if err := spec.Validate(r.name, r.meta); err != nil {
		return err
	}
	r.t.mu.Lock()
	err = r.t.checkUnique(r, spec.Params)
	r.t.mu.Unlock()
	if err != nil {
		return err
	}
	changed := changedParams(old.Params, spec.Params)
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started {
		reload := ""
		switch {
		case r.meta.Has("reload-agent"):
			reload = "reload-agent"
		case r.meta.Has("reload"):
			reload = "reload"
		}
		for _, k := range changed {
			p := r.meta.Parameter(k)
			if reload == "" || p == nil || (reload == "reload-agent" && !p.Reloadable) || (reload == "reload" && p.Unique) {
				return fmt.Errorf("%w: ocf:%s cannot reload parameter %s", errNeedsRestart, spec.Name(), k)
			}
		}
		if err := r.validate(ctx, spec.Params); err != nil {
			return err
		}
		res, err := r.action(ctx, call{action: reload, params: spec.Params})
		if err != nil {
			return err
		}
		if res.code != ExitSuccess {
			return r.agent().exitError(reload, res)
		}
		r.host.Log(sdk.LevelInfo, "parameters reloaded", "agent", spec.Name(), "action", reload, "changed", strings.Join(changed, ","))
	} else if err := r.validate(ctx, spec.Params); err != nil {
		return err
	}
	r.mu.Lock()
	a := *r.a
	a.spec = spec
	r.a = &a
	r.mu.Unlock()
	return nil
}

func changedParams(a, b map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if v, ok := a[k]; !ok || v != b[k] {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}
