// Package proctrack keeps track of every process a node's resources start,
// so that none outlives the node's claim to run it. Processes are started
// into units: a cgroup v2 of their own where the system lets clusterd
// create one (everything they start stays in it, whatever process group
// or session it makes), otherwise a session of their own (setsid), recorded
// with the leader's start time from /proc so that a reused pid is never
// mistaken for it. Each unit is written down under the node's data
// directory before anything runs in it, so a clusterd that starts again
// after a crash kills what the previous one left (Setup) before it joins.
//
// A keeper, a small separate process (keeper.go), holds the node's
// self-fencing deadline and the list of units: it kills the units marked
// for it when the deadline passes unrenewed, and every unit when clusterd
// dies, so processes started by WASM resource types stop on time even
// while clusterd is stopped or gone.
//
// Linux only.
package proctrack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Errors.
var (
	// ErrConfig reports a Config that cannot work.
	ErrConfig = errors.New("proctrack: invalid configuration")
	// ErrClosed reports a tracker or unit used after Close.
	ErrClosed = errors.New("proctrack: closed")
)

// Mode is how a tracker holds its units' processes.
type Mode string

// Modes.
const (
	// ModeCgroup puts each unit in a cgroup v2 of its own.
	ModeCgroup Mode = "cgroup"
	// ModeSession starts each process of a unit in a session of its own,
	// recorded with its leader's start time.
	ModeSession Mode = "session"
)

// Config configures a Tracker.
type Config struct {
	// Dir holds the records of the units (one JSON file each); it belongs
	// to the tracker (mode 0700). Required.
	Dir string
	// Node is the node's name; it names the node's cgroup. Required.
	Node string
	// NoCgroups uses sessions even where cgroups are available.
	NoCgroups bool
	// CgroupParent is the cgroup v2 directory under which the node's own
	// cgroup is made; default: clusterd's own cgroup, found through
	// /proc/self/cgroup and /proc/self/mountinfo.
	CgroupParent string
	// Log is the node log; default: discard.
	Log hclog.Logger
}

// Tracker starts processes into units and kills them. Safe for
// concurrent use.
type Tracker struct {
	cfg Config
	log hclog.Logger
	run string // unique per Tracker: unit names never repeat

	mu       sync.Mutex
	ready    bool
	closed   bool
	mode     Mode
	base     string // the node's cgroup directory (ModeCgroup)
	seq      int
	units    map[string]*Unit
	keeper   *keeper
	deadline int64 // CLOCK_MONOTONIC ns; 0: none yet
}

// New checks cfg and returns a tracker. It does no I/O: Setup does.
func New(cfg Config) (*Tracker, error) {
	switch {
	case cfg.Dir == "":
		return nil, fmt.Errorf("%w: Config.Dir is required", ErrConfig)
	case cfg.Node == "" || strings.ContainsAny(cfg.Node, "/\n\x00"):
		return nil, fmt.Errorf("%w: Config.Node %q is not a usable node name", ErrConfig, cfg.Node)
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Tracker{cfg: cfg, log: log, run: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff), units: map[string]*Unit{}}, nil
}

// Leftovers is what Setup found of a previous run.
type Leftovers struct {
	Units     int // records and cgroups found
	Processes int // processes killed
}

// Setup prepares the tracker: it picks the mode (making the node's cgroup
// where it can) and kills every process a previous run of this node left
// behind, whether recorded under Dir or found in the node's cgroup. Call
// it once, before the node joins the cluster: nothing of the previous run
// may run beside what this one starts.
func (t *Tracker) Setup(ctx context.Context) (Leftovers, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var left Leftovers
	if t.ready {
		return left, nil
	}
	// The records say what to kill: only clusterd's user may write them.
	if err := os.MkdirAll(t.cfg.Dir, 0o700); err != nil {
		return left, fmt.Errorf("proctrack: records directory: %w", err)
	}
	if err := os.Chmod(t.cfg.Dir, 0o700); err != nil {
		return left, fmt.Errorf("proctrack: records directory: %w", err)
	}
	t.mode = ModeSession
	if !t.cfg.NoCgroups {
		base, err := t.nodeCgroup()
		if err != nil {
			t.log.Warn("processes of resources are tracked by session, not cgroup: a process that starts a session of its own escapes", "reason", err)
		} else {
			t.mode, t.base = ModeCgroup, base
		}
	}
	recs, err := readRecords(t.cfg.Dir)
	if err != nil {
		return left, err
	}
	for _, r := range recs {
		if r.Cgroup != "" && !strings.HasPrefix(filepath.Base(filepath.Dir(r.Cgroup)), "resmon."+t.cfg.Node+".") {
			// Not a cgroup this tracker makes: never kill a whole hierarchy
			// on the word of a record.
			t.log.Warn("ignoring a process record that names a foreign cgroup", "record", r.Name, "cgroup", r.Cgroup)
			_ = os.Remove(filepath.Join(t.cfg.Dir, r.Name+".json"))
			continue
		}
		n, err := r.kill(ctx)
		left.Units++
		left.Processes += n
		if err != nil {
			return left, fmt.Errorf("proctrack: killing what unit %s of a previous run left: %w", r.Name, err)
		}
		r.remove(t.cfg.Dir)
	}
	if t.mode == ModeCgroup {
		ents, _ := os.ReadDir(t.base)
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			r := record{Name: e.Name(), Cgroup: filepath.Join(t.base, e.Name())}
			n, err := r.kill(ctx)
			left.Units++
			left.Processes += n
			if err != nil {
				return left, fmt.Errorf("proctrack: killing what cgroup %s of a previous run holds: %w", r.Cgroup, err)
			}
			r.remove(t.cfg.Dir)
		}
	}
	t.ready = true
	if left.Units > 0 {
		t.log.Warn("killed what a previous run of this node left running", "units", left.Units, "processes", left.Processes)
	}
	t.log.Info("tracking resource processes", "mode", t.mode, "cgroup", t.base)
	return left, nil
}

// Mode is the mode Setup picked.
func (t *Tracker) Mode() Mode {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mode
}

// nodeCgroup makes (or finds) the node's cgroup directory and checks that
// clusterd may use it.
func (t *Tracker) nodeCgroup() (string, error) {
	parent := t.cfg.CgroupParent
	if parent == "" {
		p, err := ownCgroup()
		if err != nil {
			return "", err
		}
		parent = p
	}
	abs, err := filepath.Abs(t.cfg.Dir)
	if err != nil {
		return "", err
	}
	// Several nodes may share a machine (tests, a walk-through), even under
	// one name: the data directory tells their cgroups apart.
	sum := sha256.Sum256([]byte(abs))
	base := filepath.Join(parent, "resmon."+t.cfg.Node+"."+hex.EncodeToString(sum[:4]))
	if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("making cgroup %s: %w", base, err)
	}
	if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
		return "", fmt.Errorf("%s is not a cgroup v2 directory: %w", base, err)
	}
	return base, nil
}

// ownCgroup is the cgroup v2 directory clusterd runs in.
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var rel string
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			rel, found = p, true
		}
	}
	if !found {
		return "", errors.New("no cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)")
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		fs := strings.Fields(pre)
		if len(fs) < 5 {
			continue
		}
		root, mount := unescapeMount(fs[3]), unescapeMount(fs[4])
		if root != "/" && rel != root && !strings.HasPrefix(rel, root+"/") {
			continue // a bind mount of another part of the hierarchy
		}
		return filepath.Join(mount, strings.TrimPrefix(rel, strings.TrimSuffix(root, "/"))), nil
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo.
func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Policy says what the keeper kills of a unit when the node's deadline
// passes unrenewed. Every unit dies with clusterd whatever its policy.
type Policy int

// Policies.
const (
	// KillAll: every process of the unit (the children of a WASM
	// resource, which nothing else outside clusterd can stop).
	KillAll Policy = iota
	// SpareLeader: every process but the first the unit started (a
	// plugin host, which terminates its resources on its own timer and
	// must live to refuse the host's next Online); whatever its resources
	// started, and left behind, dies.
	SpareLeader
)

// NewUnit makes a unit for what (a resource id, a plugin type: it names the
// unit for people), with the keeper's policy at the deadline.
func (t *Tracker) NewUnit(what string, p Policy) (*Unit, error) {
	t.mu.Lock()
	if !t.ready || t.closed {
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: the process tracker is not set up or closed", ErrClosed)
	}
	t.seq++
	label := unsafeName.ReplaceAllString(what, "_")
	if len(label) > 64 {
		label = label[:64]
	}
	u := &Unit{t: t, spare: p == SpareLeader, rec: record{Name: fmt.Sprintf("%s.%s.%d", label, t.run, t.seq), What: what}}
	if t.mode == ModeCgroup {
		u.rec.Cgroup = filepath.Join(t.base, u.rec.Name)
	}
	t.units[u.rec.Name] = u
	t.mu.Unlock()
	// Written down before anything can run in it.
	if err := u.rec.save(t.cfg.Dir); err != nil {
		t.forget(u)
		return nil, err
	}
	if u.rec.Cgroup != "" {
		if err := mkdirUnit(u.rec.Cgroup); err != nil {
			u.rec.remove(t.cfg.Dir)
			t.forget(u)
			return nil, fmt.Errorf("proctrack: making cgroup %s: %w", u.rec.Cgroup, err)
		}
	}
	// A copy: the keeper's writer marshals it later, while Start goes on
	// changing u.rec under u.mu.
	rec := u.rec
	t.tell(keeperMsg{Track: &rec})
	return u, nil
}

// mkdirUnit makes a unit's cgroup, and the node's cgroup again if it is
// gone: the keeper of a previous run removes it once empty when it exits,
// which may be after this run's Setup made it.
func mkdirUnit(dir string) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = os.Mkdir(dir, 0o755); !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err = os.Mkdir(filepath.Dir(dir), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return err
}

func (t *Tracker) forget(u *Unit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.units[u.rec.Name] == u {
		delete(t.units, u.rec.Name)
	}
}

// Unit is a set of processes started for one owner and killed together.
type Unit struct {
	t     *Tracker
	spare bool // SpareLeader: the first process started becomes rec.Spare

	mu     sync.Mutex
	rec    record
	closed bool
}

// Name is the unit's name (its cgroup's and its record's).
func (u *Unit) Name() string { return u.rec.Name }

// Cgroup is the unit's cgroup directory ("" in ModeSession).
func (u *Unit) Cgroup() string { return u.rec.Cgroup }

// Start starts cmd in the unit: in a session of its own, inside the
// unit's cgroup from its first instruction where there is one. It sets
// cmd.SysProcAttr's Setsid and cgroup fields and keeps the others.
func (u *Unit) Start(cmd *exec.Cmd) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return fmt.Errorf("%w: unit %s", ErrClosed, u.rec.Name)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setpgid = true, false
	var err error
	if u.rec.Cgroup != "" {
		err = startInCgroup(cmd, u.rec.Cgroup)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return err
	}
	pid := cmd.Process.Pid
	start, _ := startTime(pid)
	u.rec.Sessions = append(u.rec.Sessions, session{SID: pid, Start: start})
	if u.spare && u.rec.Spare == 0 {
		u.rec.Spare = pid
	}
	if err := u.rec.save(u.t.cfg.Dir); err != nil {
		u.t.log.Warn("recording a started process", "unit", u.rec.Name, "pid", pid, "error", err)
	}
	rec := u.rec
	u.t.tell(keeperMsg{Track: &rec})
	return nil
}

// startInCgroup starts cmd directly inside the cgroup dir (clone3 with
// CLONE_INTO_CGROUP, Linux 5.7 and later), or, on older kernels, moves it
// there right after it started.
func startInCgroup(cmd *exec.Cmd, dir string) error {
	if !cloneIntoCgroup {
		if err := cmd.Start(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(cmd.Process.Pid)), 0); err != nil {
			_ = cmd.Process.Kill()
			return fmt.Errorf("proctrack: moving pid %d into %s: %w", cmd.Process.Pid, dir, err)
		}
		return nil
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("proctrack: opening cgroup %s: %w", dir, err)
	}
	defer syscall.Close(fd)
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return cmd.Start()
}

// cloneIntoCgroup tells whether the kernel starts a process straight into
// a cgroup (Linux 5.7).
var cloneIntoCgroup = func() bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(b), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 7
}()

// Kill SIGKILLs every process of the unit and returns once none is left,
// or ctx ends.
func (u *Unit) Kill(ctx context.Context) error {
	u.mu.Lock()
	rec := u.rec
	u.mu.Unlock()
	_, err := rec.kill(ctx)
	return err
}

// Close kills whatever still runs in the unit, removes its cgroup and its
// record, and tells the keeper. Calling it again does nothing.
func (u *Unit) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	rec := u.rec
	u.mu.Unlock()
	_, err := rec.kill(ctx)
	if err == nil {
		rec.remove(u.t.cfg.Dir)
	}
	u.t.forget(u)
	u.t.tell(keeperMsg{Untrack: rec.Name})
	return err
}

// records returns the records of every open unit, sorted by name.
func (t *Tracker) records() []record {
	t.mu.Lock()
	us := make([]*Unit, 0, len(t.units))
	for _, u := range t.units {
		us = append(us, u)
	}
	t.mu.Unlock()
	out := make([]record, 0, len(us))
	for _, u := range us {
		u.mu.Lock()
		if !u.closed {
			out = append(out, u.rec)
		}
		u.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// record is what is written down about a unit: enough for a later
// clusterd, or the keeper, to find and kill its processes.
type record struct {
	Name     string    `json:"name"`
	What     string    `json:"what,omitempty"`
	Cgroup   string    `json:"cgroup,omitempty"`
	Sessions []session `json:"sessions,omitempty"`
	Spare    int       `json:"spare,omitempty"` // the pid the keeper spares at the deadline
}

// session is a process started in a session of its own: its pid (the
// session id) and its start time in clock ticks since boot (/proc).
type session struct {
	SID   int    `json:"sid"`
	Start uint64 `json:"start"`
}

func (r record) save(dir string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+r.Name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("proctrack: recording unit %s: %w", r.Name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, r.Name+".json")); err != nil {
		return fmt.Errorf("proctrack: recording unit %s: %w", r.Name, err)
	}
	return nil
}

// remove deletes the unit's cgroup (once empty) and its record.
func (r record) remove(dir string) {
	if r.Cgroup != "" {
		for try := 0; try < 50; try++ {
			err := syscall.Rmdir(r.Cgroup)
			if err == nil || errors.Is(err, syscall.ENOENT) || !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(2 * time.Millisecond) // the last task is still leaving
		}
	}
	if dir != "" {
		_ = os.Remove(filepath.Join(dir, r.Name+".json"))
	}
}

func readRecords(dir string) ([]record, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []record
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("proctrack: reading %s: %w", n, err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.Name == "" {
			// Half a record cannot name anything to kill; a cgroup it named
			// is still found under the node's cgroup.
			_ = os.Remove(n)
			continue
		}
		out = append(out, r)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	for _, s := range stale {
		_ = os.Remove(s)
	}
	return out, nil
}
