package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/testutil/applife"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// group is one group of the test type with its single resource.
type group struct {
	name, res, key, witness string
	faultKey                string // node-local, not checkpointed: a fault set here stays on that node
	wasm                    bool   // the resource is of the WASM build of the test type
	id                      string // resource id, read after bootstrap
}

type runner struct {
	cfg      Config
	rng      *rand.Rand
	dir      string
	clusterd string
	plugin   string
	module   string // the WASM build of the test type, if any group uses it
	app      string // applife-app: the application every resource runs
	apps     *applife.Watcher
	pki      pki.Dir // the run's certificates
	members  []*member
	cli      *clientv3.Client
	store    *quorum.Store
	nodes    []*node
	groups   []*group
	track    *tracker
	hist     *history
	faults   []window
	resets   map[string][]int64 // group → tokens whose confirmations a corrupt recovery forgives
	rep      *Report
	start    time.Time
	round    int

	stopHist, stopTrack context.CancelFunc
}

// Run starts a cluster, runs cfg.Rounds seeded faults against it, checks the
// invariants and stops everything it started. The error is for a run that
// could not be carried out; broken invariants are in Report.Violations.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)), start: time.Now(), resets: map[string][]int64{},
		rep: &Report{Seed: cfg.Seed, Requested: cfg.Rounds, EtcdMembers: cfg.EtcdMembers, Faults: map[Kind]int{}, Failovers: map[Kind]int{}, Times: map[Kind][]time.Duration{}}}
	defer r.teardown()
	if err := r.setup(ctx); err != nil {
		return r.rep, err
	}
	err := r.run(ctx)
	r.rep.Elapsed = time.Since(r.start)
	return r.rep, err
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%7s ", time.Since(r.start).Round(10*time.Millisecond))
	fmt.Fprintf(r.cfg.Log, format+"\n", args...)
}

func (r *runner) violate(check, format string, args ...any) {
	v := Violation{Round: r.round, Check: check, Detail: fmt.Sprintf(format, args...)}
	r.rep.Violations = append(r.rep.Violations, v)
	r.logf("VIOLATION %s", v)
}

func (r *runner) setup(ctx context.Context) error {
	dir := r.cfg.Out
	if dir == "" {
		d, err := os.MkdirTemp("", "resmon-chaos-")
		if err != nil {
			return fmt.Errorf("chaos: run dir: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("chaos: run dir: %w", err)
	}
	r.dir, r.rep.Dir = dir, dir
	var err error
	if r.clusterd, err = binary(ctx, r.cfg.Clusterd, dir, "github.com/resmon/resmon/cmd/clusterd"); err != nil {
		return err
	}
	if r.plugin, err = binary(ctx, r.cfg.Testtype, dir, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin"); err != nil {
		return err
	}
	if r.cfg.WasmGroups > 0 {
		if r.module, err = binary(ctx, r.cfg.TesttypeWASM, dir, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm"); err != nil {
			return err
		}
	}
	if r.app, err = binary(ctx, r.cfg.App, dir, "github.com/resmon/resmon/testutil/applife/cmd/applife-app"); err != nil {
		return err
	}
	if r.pki, err = newPKI(dir, r.cfg.EtcdMembers, r.cfg.Nodes); err != nil {
		return err
	}
	if r.members, err = startEtcd(ctx, dir, r.pki, r.cfg.EtcdMembers); err != nil {
		return err
	}
	var eps []string
	for _, m := range r.members {
		eps = append(eps, m.cfg.ClientURL)
	}
	if r.cli, err = enableAuth(ctx, r.pki, eps, r.cfg.Nodes); err != nil {
		return err
	}
	if r.store, err = quorum.NewStore(r.cli, clusterName, nil); err != nil {
		return err
	}
	resp, err := r.cli.Get(ctx, r.store.Keys().Prefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	r.hist = newHistory(r.store.Keys())
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopHist = cancel
	go r.hist.run(hctx, r.cli, resp.Header.Revision+1)

	witness := map[string]string{}
	for i := range r.cfg.Groups + r.cfg.WasmGroups {
		name, res := fmt.Sprintf("g%d", i+1), fmt.Sprintf("r%d", i+1)
		wasm := i >= r.cfg.Groups
		if wasm {
			name, res = fmt.Sprintf("w%d", i-r.cfg.Groups+1), fmt.Sprintf("wr%d", i-r.cfg.Groups+1)
		}
		g := &group{name: name, res: res, wasm: wasm,
			key:      `SOFTWARE\resmon-chaos\` + name,
			faultKey: `SOFTWARE\resmon-chaos-faults\` + name,
			witness:  filepath.Join(dir, "witness-"+name)}
		r.groups = append(r.groups, g)
		witness[g.name] = g.witness
	}
	r.track = newTracker(witness, r.nodeOfPID, r.hist.ownerOf, func(name string, at time.Time) int {
		if n := r.nodeByName(name); n != nil {
			return n.pidAt(at)
		}
		return 0
	})
	tctx, tcancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopTrack = tcancel
	r.apps = applife.Watch(tctx, filepath.Join(dir, "apps"))
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				r.track.poll()
			}
		}
	}()
	for i := range r.cfg.Nodes {
		if err := r.addNode(i); err != nil {
			return err
		}
	}
	for _, n := range r.nodes {
		if err := r.startNode(ctx, n); err != nil {
			return err
		}
	}
	for _, g := range r.groups {
		res, err := r.store.ResourceByName(ctx, g.res)
		if err != nil {
			return fmt.Errorf("chaos: resource %s: %w", g.res, err)
		}
		g.id = res.Value.ID
	}
	if err := r.spread(ctx); err != nil {
		return fmt.Errorf("chaos: the cluster did not come up: %w", err)
	}
	r.logf("cluster up: %d nodes, %d groups, %d etcd member(s), run dir %s", r.cfg.Nodes, r.cfg.Groups, r.cfg.EtcdMembers, dir)
	return nil
}

// spread moves each group to its first preferred owner: the node that
// starts first takes every group, and faults on one node that owns all
// groups would exercise only one shape of failover.
func (r *runner) spread(ctx context.Context) error {
	now, err := r.settle(ctx, r.cfg.Settle)
	if err != nil {
		return err
	}
	for i, g := range r.groups {
		want := fmt.Sprintf("node%d", i%r.cfg.Nodes+1)
		if now[g.name].owner == want {
			continue
		}
		if _, err := r.store.File(ctx, model.Request{Group: g.name, Action: model.RequestMove, Node: want, Operator: "chaos"}); err != nil {
			return fmt.Errorf("chaos: moving %s to %s: %w", g.name, want, err)
		}
		if err := waitFor(ctx, r.cfg.Settle, func() (bool, error) {
			st, err := r.store.GroupStatus(ctx, g.name)
			return err == nil && st.Owner == want && st.State == "Online", nil
		}, "group %s online on %s", g.name, want); err != nil {
			return err
		}
	}
	_, err = r.settle(ctx, r.cfg.Settle)
	return err
}

// binary returns given, or builds pkg into dir (the testtype-wasm command
// as a WASM module).
func binary(ctx context.Context, given, dir, pkg string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	out := filepath.Join(dir, "bin", filepath.Base(pkg))
	args := []string{"build", "-o", out}
	var env []string
	if strings.HasSuffix(pkg, "-wasm") {
		out += ".wasm"
		args = []string{"build", "-buildmode=c-shared", "-o", out}
		env = []string{"GOOS=wasip1", "GOARCH=wasm"}
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("chaos: go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// addNode writes the config of node i; node1 carries the cluster database.
func (r *runner) addNode(i int) error {
	name := fmt.Sprintf("node%d", i+1)
	// A short data dir: the plugin host's socket path must fit 107 bytes.
	data, err := os.MkdirTemp("", "chaos-"+name+"-")
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	n := &node{name: name, dataDir: data, cfgPath: filepath.Join(r.dir, name+".toml"), logPath: filepath.Join(r.dir, name+".log")}
	r.nodes = append(r.nodes, n)
	var eps []string
	for _, m := range r.members {
		p, err := newProxy(hostPort(m.cfg.ClientURL))
		if err != nil {
			return err
		}
		n.proxies = append(n.proxies, p)
		eps = append(eps, fmt.Sprintf("%q", p.URL()))
	}
	cert, key := r.pki.NodeFiles(name)
	cfg := fmt.Sprintf(nodeConfig, clusterName, name, data, r.cfg.Lease.String(), strings.Join(eps, ", "), r.pki.CAFile(), cert, key)
	if i == 0 {
		cfg += r.spec()
	}
	return os.WriteFile(n.cfgPath, []byte(cfg), 0o600)
}

// spec is the cluster database: the go-plugin test type (and its WASM
// build), and cfg.Groups (+ cfg.WasmGroups) groups of one checkpointed
// resource each, preferred owners rotated so every node is someone's first
// choice. Each resource counts in every LooksAlive and reports the counts
// the host confirmed stored. The thresholds are high because a chaos run
// fails groups over far more often than FailoverThreshold allows in real
// life; failing a group for good is not what it tests.
func (r *runner) spec() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[resource_type]]\nname = \"testtype\"\nkind = \"plugin\"\npath = %q\n", r.plugin)
	if r.module != "" {
		// The sandbox may reach the run dir only: the witness files.
		fmt.Fprintf(&b, "\n[[resource_type]]\nname = \"testtype-wasm\"\nkind = \"wasm\"\npath = %q\n[resource_type.capabilities]\ndirs = [%q]\ncommands = [%q]\n", r.module, r.dir, r.app)
	}
	for i, g := range r.groups {
		var owners []string
		for j := range r.cfg.Nodes {
			owners = append(owners, fmt.Sprintf("%q", fmt.Sprintf("node%d", (i+j)%r.cfg.Nodes+1)))
		}
		typ := "testtype"
		if g.wasm {
			typ = "testtype-wasm"
		}
		fmt.Fprintf(&b, `
[[group]]
name = %q
preferred_owners = [%s]
persistent_state = true
failover_threshold = 100000

[[resource]]
name = %q
type = %q
group = %q
registry_checkpoints = [%q]
pending_timeout = "3s"
deadlock_timeout = "2s"
looks_alive_poll_interval = "100ms"
is_alive_poll_interval = "300ms"
restart_delay = "50ms"
retry_period_on_failure = "2s"
[resource.private]
CounterKey = %q
CountInLooksAlive = true
FaultKey = %q
TenureKey = %q
WitnessFile = %q
AppCommand = %q
AppFile = %q
AppLabel = %q
`, g.name, strings.Join(owners, ", "), g.res, typ, g.name, g.key, g.key, g.faultKey, g.faultKey, g.witness, r.app, filepath.Join(r.dir, "apps"), g.name)
	}
	return b.String()
}

func (r *runner) nodeOfPID(ppid int) string {
	for _, n := range r.nodes {
		if n.pid() == ppid {
			return n.name
		}
	}
	return ""
}

// startNode starts clusterd and waits until it is registered in etcd.
func (r *runner) startNode(ctx context.Context, n *node) error {
	if err := n.start(r.clusterd); err != nil {
		return err
	}
	return r.waitUp(ctx, n, 30*time.Second)
}

func (r *runner) waitUp(ctx context.Context, n *node, d time.Duration) error {
	return waitFor(ctx, d, func() (bool, error) {
		nodes, err := r.store.Nodes(ctx)
		if err != nil {
			return false, nil
		}
		for _, x := range nodes {
			if x.Node == n.name && x.PID == n.pid() {
				return true, nil
			}
		}
		return false, nil
	}, "node %s to register", n.name)
}

// waitFor polls cond every 20ms until it holds, fails, or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() (bool, error), what string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: waited %s for %s", d, fmt.Sprintf(what, args...))
		case <-t.C:
		}
	}
}

// snap is a group's ownership and stored counter at one moment.
type snap struct {
	owner string
	token int64
	count uint64
	ok    bool // the count could be read
}

// settle waits until every group is Online, published under the current
// ownership, on a node that is neither dead, stopped nor cut off.
func (r *runner) settle(ctx context.Context, d time.Duration) (map[string]snap, error) {
	out := map[string]snap{}
	var last string
	err := waitFor(ctx, d, func() (bool, error) {
		healthy := map[string]bool{}
		for _, n := range r.nodes {
			healthy[n.name] = n.healthy()
		}
		for _, g := range r.groups {
			v, err := r.store.GroupView(ctx, g.name)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			st := v.Status
			if !v.Owned || st.State != "Online" || st.Token != v.Ownership.Token || !healthy[st.Owner] {
				last = fmt.Sprintf("group %s: owned=%v state=%q owner=%q token=%d (owner key %d) message=%q", g.name, v.Owned, st.State, st.Owner, st.Token, v.Ownership.Token, st.Message)
				return false, nil
			}
			out[g.name] = snap{owner: st.Owner, token: st.Token}
		}
		return true, nil
	}, "every group online on a live node")
	if err != nil {
		return nil, fmt.Errorf("%w (last: %s)", err, last)
	}
	return out, nil
}

// count reads a group's checkpointed counter from etcd.
func (r *runner) count(ctx context.Context, g *group) (uint64, error) {
	b, _, err := r.store.GetCheckpoint(ctx, g.id, model.RegistryCheckpoint, 1)
	if err != nil {
		return 0, err
	}
	d, err := checkpoint.Decode(b, nil)
	if err != nil {
		return 0, fmt.Errorf("chaos: checkpoint of %s: %w", g.res, err)
	}
	for _, v := range d.Tree.Values {
		if v.Name == "Count" && v.Type == sdk.DWord {
			return v.Num, nil
		}
	}
	return 0, nil
}

func (r *runner) snapshot(ctx context.Context) (map[string]snap, error) {
	s, err := r.settle(ctx, r.cfg.Settle)
	if err != nil {
		return nil, err
	}
	for _, g := range r.groups {
		x := s[g.name]
		c, err := r.count(ctx, g)
		x.count, x.ok = c, err == nil
		s[g.name] = x
	}
	return s, nil
}

func (r *runner) nodeByName(name string) *node {
	for _, n := range r.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// teardown stops everything the runner started, in reverse order.
func (r *runner) teardown() {
	for _, n := range r.nodes {
		n.kill()
	}
	// A plugin host exits when its clusterd's end of stdin closes; one that
	// lingers (a wedged process) is killed here rather than left behind.
	if r.track != nil {
		for _, pid := range r.track.pids() {
			if alive(pid) {
				if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == r.plugin {
					killPID(pid)
				}
			}
		}
	}
	if r.apps != nil {
		// Nothing a run started may outlive it, even after a violation.
		for _, l := range r.apps.Lives() {
			if l.End.IsZero() && alive(l.PID) {
				killPID(l.PID)
			}
		}
	}
	if r.stopTrack != nil {
		r.stopTrack()
	}
	for _, n := range r.nodes {
		for _, p := range n.proxies {
			p.Close()
		}
		os.RemoveAll(n.dataDir)
	}
	if r.stopHist != nil {
		r.stopHist()
	}
	if r.cli != nil {
		r.cli.Close()
	}
	for _, m := range r.members {
		m.stop()
	}
}

var errNoTarget = errors.New("chaos: no target for this fault")
