// Package testtype is a resource type for testing the plugin hosts and the
// monitor. The same Go code is built as a go-plugin executable and as a WASM
// module, and its behaviour is steered by private properties, so one test
// can drive both transports through every path: slow starts with progress,
// hangs, crashes, failing health checks, registry writes and checkpoint
// control codes issued from inside entry points.
package testtype

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/resmon/resmon/sdk"
)

// Private properties understood by the type (all optional):
//
//	OnlineDelayMs   int     Online takes this long, reporting progress every ProgressMs
//	ProgressMs      int     interval of progress reports (default 50)
//	HangIn          string  entry point that blocks until Terminate or ctx end:
//	                        "Open", "Online", "Offline", "LooksAlive", "IsAlive", "Control"
//	SpinIn          string  entry point that busy-loops without ever returning (WASM
//	                        deadline tests: only an interrupt stops it)
//	ExitIn          string  entry point that makes the whole process exit(3)
//	PanicIn         string  entry point that panics (a trap in WASM)
//	FailIn          string  entry point that returns an error
//	LooksAlive      bool    result of LooksAlive (default true)
//	IsAlive         bool    result of IsAlive (default true)
//	CheckpointKey   string  Online adds this registry checkpoint (host-handled code)
//	                        and reads the list back with GET, from inside Online
//	RegistryKey     string  Online writes value "Started" (QWORD unix nanos) here
//	CounterKey      string  Online reads DWORD "Count" here (0 when missing) and
//	                        writes Count+1: with the key checkpointed, the count
//	                        goes on across nodes only if each restore worked
//	WitnessFile     string  each Online, Offline and Terminate appends a line
//	                        "<entry> <fencing token> <pid> <unix nanos>" here (pid 0
//	                        in WASM, where the guest cannot know its host's); the
//	                        online line adds the Count that Online found
//	CountInLooksAlive bool  each LooksAlive of an online resource also writes
//	                        Count+1 at CounterKey, issues FLUSH_CHECKPOINTS and,
//	                        once the host confirms it stored, appends
//	                        "stored <token> <pid> <nanos> <count>" to WitnessFile
//	FaultKey        string  each LooksAlive looks for a string value "Fault" here,
//	                        deletes it and acts on it once: "fail" (LooksAlive
//	                        and the next IsAlive say false), "trap" (a panic: a
//	                        trap in WASM), "hang" (a spin only an interrupt or
//	                        a kill ends); it appends "fault <token> <pid> <nanos>
//	                        <kind>" to WitnessFile first
//	AppCommand      string  Online starts this program (testutil/applife's app) with
//	                        the arguments AppFile, AppLabel and the tenure's token,
//	                        and Offline and Terminate kill it: a real application
//	                        whose lifetime the test watches from outside (WASM:
//	                        through the host, so it must be a granted command)
//	AppFile, AppLabel string  see AppCommand
//	MeetKey         string  Online sets DWORD <resource name> = 1 in this node-local
//	MeetCount       int     key, then waits (reporting progress every ProgressMs)
//	                        until the key holds MeetCount values: resources that
//	                        meet there come online only if their Onlines run at
//	                        the same time
//	TenureKey       string  Online records its tenure's token as QWORD "Tenure" in
//	                        this node-local key, so that an Offline or Terminate
//	                        in an instance that lost its memory (a WASM instance
//	                        the host re-created after a trap or an interrupt)
//	                        still names the tenure it ends
type Type struct{}

var _ sdk.ResourceType = Type{}

// Open implements sdk.ResourceType.
func (Type) Open(ctx context.Context, host sdk.Host, r sdk.OpenRequest) (sdk.Resource, error) {
	res := &Resource{host: host, req: r, stop: make(chan struct{})}
	res.looksAlive = boolProp(r.Properties, "LooksAlive", true)
	res.isAlive = boolProp(r.Properties, "IsAlive", true)
	if err := res.misbehave(ctx, "Open"); err != nil {
		return nil, err
	}
	host.Log(sdk.LevelInfo, "opened", "resource", r.Name)
	return res, nil
}

// Resource is one opened test resource.
type Resource struct {
	host       sdk.Host
	req        sdk.OpenRequest
	looksAlive bool
	isAlive    bool

	mu         sync.Mutex
	online     bool
	sick       bool // a "fail" fault: the next IsAlive says false
	terminated bool
	token      int64         // of the tenure that last brought it online
	stop       chan struct{} // closed by Terminate
	app        app           // the running AppCommand, if any
}

// app is a running AppCommand (app_os.go, app_wasip1.go).
type app interface{ stop() }

// stopApp kills the application, if one runs.
func (r *Resource) stopApp() {
	r.mu.Lock()
	a := r.app
	r.app = nil
	r.mu.Unlock()
	if a != nil {
		a.stop()
	}
}

var (
	_ sdk.Resource   = (*Resource)(nil)
	_ sdk.Controller = (*Resource)(nil)
)

// ErrInjected is returned by an entry point named in FailIn.
var ErrInjected = errors.New("testtype: injected failure")

func (r *Resource) misbehave(ctx context.Context, entry string) error {
	p := r.req.Properties
	switch entry {
	case strProp(p, "ExitIn"):
		os.Exit(3)
	case strProp(p, "PanicIn"):
		panic("testtype: injected panic in " + entry)
	case strProp(p, "SpinIn"):
		spin()
	case strProp(p, "FailIn"):
		return fmt.Errorf("%w in %s", ErrInjected, entry)
	case strProp(p, "HangIn"):
		select {
		case <-r.stop:
			return fmt.Errorf("testtype: %s interrupted by Terminate", entry)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// spin busy-loops for good: only an interrupt (WASM) or a kill ends it.
func spin() {
	for n := 0; ; n++ {
		if n < 0 {
			return // never: keeps the compiler from proving the loop infinite
		}
	}
}

// witness appends an entry-point line to the WitnessFile, if any, with
// extra as a fifth field when it is not empty.
func (r *Resource) witness(ctx context.Context, entry, extra string) {
	path := strProp(r.req.Properties, "WitnessFile", "")
	if path == "" {
		return
	}
	// Online records the token of its tenure: after a fence the host
	// rightly refuses to hand it out, yet Terminate must still name it.
	r.mu.Lock()
	if entry == "online" {
		r.token, _ = r.host.FencingToken(ctx)
	}
	tok := r.token
	r.mu.Unlock()
	if key := strProp(r.req.Properties, "TenureKey", ""); key != "" {
		if entry == "online" {
			r.host.Registry().SetValue(ctx, key, "Tenure", sdk.QWordValue("Tenure", uint64(tok)))
		} else if tok == 0 {
			if v, err := r.host.Registry().GetValue(ctx, key, "Tenure"); err == nil {
				tok = int64(v.Num)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		r.host.Log(sdk.LevelError, "witness file", "error", err.Error())
		return
	}
	pid := os.Getpid()
	if runtime.GOOS == "wasip1" {
		pid = 0 // a constant there, not the host process
	}
	line := fmt.Sprintf("%s %d %d %d", entry, tok, pid, time.Now().UnixNano())
	if extra != "" {
		line += " " + extra
	}
	// One write per line, so readers never see half a line of two writers.
	f.Write([]byte(line + "\n"))
	f.Close()
}

// count reads DWORD "Count" at key (0 when missing) and writes Count+1; it
// returns the value written.
func (r *Resource) count(ctx context.Context, key string) (uint64, error) {
	n := uint64(0)
	v, err := r.host.Registry().GetValue(ctx, key, "Count")
	switch {
	case err == nil:
		n = v.Num
	case !errors.Is(err, sdk.ErrNotFound):
		return 0, fmt.Errorf("reading the counter: %w", err)
	}
	if err := r.host.Registry().SetValue(ctx, key, "Count", sdk.DWordValue("Count", uint32(n+1))); err != nil {
		return 0, fmt.Errorf("writing the counter: %w", err)
	}
	return n + 1, nil
}

// countAndConfirm counts and reports the value once the host has stored it.
func (r *Resource) countAndConfirm(ctx context.Context, key string) {
	n, err := r.count(ctx, key)
	if err == nil {
		_, err = r.host.Control(ctx, sdk.FlushCheckpoints, nil, nil)
	}
	if err != nil {
		r.host.Log(sdk.LevelWarn, "counter not confirmed", "error", err.Error())
		return
	}
	r.witness(ctx, "stored", fmt.Sprint(n))
}

// meet marks this resource's arrival at key and waits, reporting
// progress, until n resources have arrived.
func (r *Resource) meet(ctx context.Context, key string, n int, every time.Duration) error {
	reg := r.host.Registry()
	if err := reg.SetValue(ctx, key, r.req.Name, sdk.DWordValue(r.req.Name, 1)); err != nil {
		return fmt.Errorf("arriving at %q: %w", key, err)
	}
	for {
		vs, err := reg.Values(ctx, key)
		if err != nil {
			return fmt.Errorf("reading %q: %w", key, err)
		}
		if len(vs) >= n {
			return nil
		}
		if err := r.host.Progress(ctx, fmt.Sprintf("waiting at %s: %d of %d arrived", key, len(vs), n)); err != nil {
			return err
		}
		select {
		case <-time.After(every):
		case <-r.stop:
			return errors.New("testtype: Online interrupted by Terminate")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fault takes the one-shot fault waiting at FaultKey, if any.
func (r *Resource) fault(ctx context.Context) string {
	key := strProp(r.req.Properties, "FaultKey", "")
	if key == "" {
		return ""
	}
	v, err := r.host.Registry().GetValue(ctx, key, "Fault")
	if err != nil || v.Type != sdk.String {
		return ""
	}
	// Taken first, so that a restart, here or on another node, runs clean.
	if err := r.host.Registry().DeleteValue(ctx, key, "Fault"); err != nil {
		return ""
	}
	r.witness(ctx, "fault", v.Str)
	return v.Str
}

// Online implements sdk.Resource.
func (r *Resource) Online(ctx context.Context) error {
	if err := r.misbehave(ctx, "Online"); err != nil {
		return err
	}
	p := r.req.Properties
	if delay := time.Duration(intProp(p, "OnlineDelayMs", 0)) * time.Millisecond; delay > 0 {
		every := time.Duration(intProp(p, "ProgressMs", 50)) * time.Millisecond
		end := time.Now().Add(delay)
		for time.Now().Before(end) {
			if err := r.host.Progress(ctx, "starting"); err != nil {
				return err
			}
			select {
			case <-time.After(min(every, time.Until(end))):
			case <-r.stop:
				return errors.New("testtype: Online interrupted by Terminate")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if key := strProp(p, "MeetKey", ""); key != "" {
		if err := r.meet(ctx, key, intProp(p, "MeetCount", 2), time.Duration(intProp(p, "ProgressMs", 50))*time.Millisecond); err != nil {
			return err
		}
	}
	if key := strProp(p, "CheckpointKey", ""); key != "" {
		// Issued from inside Online: the host must answer without calling back.
		if _, err := r.host.Control(ctx, sdk.AddRegistryCheckpoint, []byte(key), nil); err != nil && !errors.Is(err, sdk.ErrAlreadyExists) {
			return fmt.Errorf("adding checkpoint %q: %w", key, err)
		}
		_, err := r.host.Control(ctx, sdk.GetRegistryCheckpoints, nil, nil)
		var more *sdk.MoreDataError
		if !errors.As(err, &more) {
			return fmt.Errorf("GET with no buffer: want more data, got %v", err)
		}
		buf := make([]byte, more.Needed)
		if _, err := r.host.Control(ctx, sdk.GetRegistryCheckpoints, nil, buf); err != nil {
			return fmt.Errorf("listing checkpoints: %w", err)
		}
	}
	if key := strProp(p, "RegistryKey", ""); key != "" {
		if err := r.host.Registry().SetValue(ctx, key, "Started", sdk.QWordValue("Started", uint64(time.Now().UnixNano()))); err != nil {
			return fmt.Errorf("writing registry: %w", err)
		}
	}
	found := ""
	if key := strProp(p, "CounterKey", ""); key != "" {
		n, err := r.count(ctx, key)
		if err != nil {
			return err
		}
		found = fmt.Sprint(n - 1)
	}
	r.witness(ctx, "online", found)
	if cmd := strProp(p, "AppCommand", ""); cmd != "" {
		r.stopApp() // a restart within the tenure: one copy at a time
		r.mu.Lock()
		tok := r.token
		r.mu.Unlock()
		a, err := startApp(cmd, strProp(p, "AppFile", ""), strProp(p, "AppLabel", ""), fmt.Sprint(tok))
		if err != nil {
			return fmt.Errorf("starting the application: %w", err)
		}
		r.mu.Lock()
		r.app = a
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.online = true
	r.mu.Unlock()
	r.host.Log(sdk.LevelInfo, "online")
	return nil
}

// Offline implements sdk.Resource.
func (r *Resource) Offline(ctx context.Context) error {
	if err := r.misbehave(ctx, "Offline"); err != nil {
		return err
	}
	r.stopApp()
	r.witness(ctx, "offline", "")
	r.mu.Lock()
	r.online = false
	r.mu.Unlock()
	return nil
}

// Terminate implements sdk.Resource: it releases any entry point that hangs.
func (r *Resource) Terminate(ctx context.Context) error {
	r.stopApp()
	r.witness(ctx, "terminate", "")
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.terminated {
		r.terminated = true
		close(r.stop)
	}
	r.online = false
	return nil
}

// LooksAlive implements sdk.Resource.
func (r *Resource) LooksAlive(ctx context.Context) bool {
	if r.misbehave(ctx, "LooksAlive") != nil {
		return false
	}
	switch r.fault(ctx) {
	case "fail":
		r.mu.Lock()
		r.sick = true
		r.mu.Unlock()
		return false
	case "trap":
		panic("testtype: injected trap in LooksAlive")
	case "hang":
		spin()
	}
	r.mu.Lock()
	online := r.online
	r.mu.Unlock()
	if key := strProp(r.req.Properties, "CounterKey", ""); key != "" && online && boolProp(r.req.Properties, "CountInLooksAlive", false) {
		r.countAndConfirm(ctx, key)
	}
	return r.looksAlive
}

// IsAlive implements sdk.Resource.
func (r *Resource) IsAlive(ctx context.Context) bool {
	if r.misbehave(ctx, "IsAlive") != nil {
		return false
	}
	r.mu.Lock()
	sick := r.sick
	r.sick = false
	r.mu.Unlock()
	return r.isAlive && !sick
}

// Control implements sdk.Controller: code 0x00000001 echoes its input, and
// 0x00000002 returns the fencing token as decimal text.
func (r *Resource) Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error) {
	if err := r.misbehave(ctx, "Control"); err != nil {
		return nil, err
	}
	switch code {
	case 1:
		return append([]byte(nil), in...), nil
	case 2:
		t, err := r.host.FencingToken(ctx)
		if err != nil {
			return nil, err
		}
		return []byte(fmt.Sprint(t)), nil
	}
	return nil, fmt.Errorf("%w: %s", sdk.ErrInvalidFunction, code)
}

// Close implements sdk.Resource.
func (r *Resource) Close(ctx context.Context) error { return r.misbehave(ctx, "Close") }

func strProp(p map[string]any, k string, def ...string) string {
	if v, ok := p[k].(string); ok {
		return v
	}
	if len(def) > 0 {
		return def[0]
	}
	return "\x00none" // matches no entry point name
}

func boolProp(p map[string]any, k string, def bool) bool {
	if v, ok := p[k].(bool); ok {
		return v
	}
	return def
}

func intProp(p map[string]any, k string, def int) int {
	switch v := p[k].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return def
}
