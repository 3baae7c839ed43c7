package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// clusterName is the resmon cluster the runner builds.
const clusterName = "chaos"

// member is one embedded etcd member the runner owns.
type member struct {
	cfg quorum.EmbedConfig
	mu  sync.Mutex
	e   *quorum.Embedded // nil while stopped
}

func (m *member) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// isLeader reports whether the member runs and leads the raft group.
func (m *member) isLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.e != nil && m.e.IsLeader()
}

func (m *member) start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e != nil {
		return nil
	}
	e, err := quorum.StartEmbedded(ctx, m.cfg)
	if err != nil {
		return fmt.Errorf("chaos: etcd member %s: %w", m.cfg.Name, err)
	}
	m.e = e
	return nil
}

func freeURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("chaos: free port: %w", err)
	}
	defer l.Close()
	return "https://" + l.Addr().String(), nil
}

// runnerIdentity is the operator the runner reads and writes etcd as.
const runnerIdentity = "chaos-runner"

// newPKI makes the run's certificates in dir/pki, as clusterd's would be:
// one for each etcd member and each node, and an admin operator for the
// runner.
func newPKI(dir string, members, nodes int) (pki.Dir, error) {
	d := pki.Dir(filepath.Join(dir, "pki"))
	ca, err := pki.Init(d, clusterName)
	if err != nil {
		return "", fmt.Errorf("chaos: %w", err)
	}
	for i := range members {
		if _, err := ca.IssueNode(fmt.Sprintf("m%d", i+1), nil, 0); err != nil {
			return "", fmt.Errorf("chaos: %w", err)
		}
	}
	for i := range nodes {
		if _, err := ca.IssueNode(fmt.Sprintf("node%d", i+1), nil, 0); err != nil {
			return "", fmt.Errorf("chaos: %w", err)
		}
	}
	if _, err := ca.IssueOperator(runnerIdentity, pki.RoleAdmin, 0); err != nil {
		return "", fmt.Errorf("chaos: %w", err)
	}
	return d, nil
}

// enableAuth turns etcd auth on with every node and the runner as users,
// as clusterd does for its embedded members.
func enableAuth(ctx context.Context, d pki.Dir, eps []string, nodes int) (*clientv3.Client, error) {
	cert, key := d.OperatorFiles(runnerIdentity)
	cli, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: eps, CAFile: d.CAFile(), CertFile: cert, KeyFile: key,
		Prefix: quorum.NewKeys(clusterName).Prefix(), DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	spec := quorum.AuthSpec{Prefix: quorum.NewKeys(clusterName).Prefix(), Users: []quorum.AuthUser{{Name: runnerIdentity, Role: pki.RoleAdmin}}}
	for i := range nodes {
		spec.Users = append(spec.Users, quorum.AuthUser{Name: fmt.Sprintf("node%d", i+1), Role: pki.RoleNode})
	}
	if _, err := quorum.EnableAuth(ctx, cli, spec); err != nil {
		cli.Close()
		return nil, fmt.Errorf("chaos: %w", err)
	}
	return cli, nil
}

// startEtcd starts n members with fast raft timings in dir, serving TLS
// with the certificates of d. The members of a multi-member cluster start
// concurrently: each one's start only returns once a majority is up, so a
// strictly sequential start would wait forever on the first.
func startEtcd(ctx context.Context, dir string, d pki.Dir, n int) ([]*member, error) {
	peers := map[string]string{}
	ms := make([]*member, n)
	for i := range ms {
		name := fmt.Sprintf("m%d", i+1)
		cu, err := freeURL()
		if err != nil {
			return nil, err
		}
		pu, err := freeURL()
		if err != nil {
			return nil, err
		}
		cert, key := d.NodeFiles(name)
		ms[i] = &member{cfg: quorum.EmbedConfig{
			TLS:  &quorum.MemberTLS{CAFile: d.CAFile(), CertFile: cert, KeyFile: key, PeerHostname: pki.NodeMarker},
			Name: name, DataDir: filepath.Join(dir, "etcd-"+name), ClientURL: cu, PeerURL: pu,
			ClusterToken: fmt.Sprintf("chaos-%d", time.Now().UnixNano()),
			TickMs:       10, ElectionMs: 100, StartTimeout: 60 * time.Second,
		}}
		peers[name] = pu
	}
	token := ms[0].cfg.ClusterToken
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range ms {
		m.cfg.ClusterToken = token
		if n > 1 {
			m.cfg.Peers = peers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.start(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, m := range ms {
			m.stop()
		}
		return nil, err
	}
	return ms, nil
}

// hostPort turns a URL into host:port for dialing.
func hostPort(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}

// node is one clusterd process and its proxies to etcd.
type node struct {
	name    string
	cfgPath string
	dataDir string
	logPath string
	proxies []*proxy

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool // SIGSTOPped
	isCut   bool
	incs    []incarnation // every clusterd process started, oldest first
}

// incarnation is one clusterd process of a node.
type incarnation struct {
	pid   int
	start time.Time
}

// pidAt is the pid of the clusterd process that ran the node at t (the
// latest one started by then), or 0.
func (n *node) pidAt(t time.Time) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	pid := 0
	for _, inc := range n.incs {
		if !inc.start.After(t) {
			pid = inc.pid
		}
	}
	return pid
}

const nodeConfig = `[cluster]
name = %q
[node]
name = %q
data_dir = %q
[log]
level = "debug"
[quorum]
mode = "external"
lease_ttl = %q
[quorum.external]
endpoints = [%s]
ca_file = %q
cert_file = %q
key_file = %q
`

// start runs clusterd for the node, appending its log to logPath.
func (n *node) start(bin string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("chaos: %s is already running", n.name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("chaos: %s log: %w", n.name, err)
	}
	fmt.Fprintf(logf, "=== chaos: starting %s at %s ===\n", n.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, "-config", n.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("chaos: starting %s: %w", n.name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.cmd, n.exited, n.stopped = cmd, exited, false
	n.incs = append(n.incs, incarnation{pid: cmd.Process.Pid, start: time.Now()})
	return nil
}

// pid is the running clusterd's pid, or 0.
func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// running reports whether clusterd runs and is neither stopped nor cut off.
func (n *node) healthy() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !n.stopped && !n.isCut
}

func (n *node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("chaos: %s is not running", n.name)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("chaos: %s %s: %w", sig, n.name, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		n.stopped = true
	case syscall.SIGCONT:
		n.stopped = false
	}
	return nil
}

// wait waits up to d for clusterd to exit and forgets the process.
func (n *node) wait(d time.Duration) error {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	if exited == nil {
		return nil
	}
	select {
	case <-exited:
	case <-time.After(d):
		return fmt.Errorf("chaos: %s did not exit within %s", n.name, d)
	}
	n.mu.Lock()
	n.cmd, n.exited, n.stopped = nil, nil, false
	n.mu.Unlock()
	return nil
}

// kill sends SIGKILL (after SIGCONT, so a stopped process dies too) and reaps it.
func (n *node) kill() error {
	if n.pid() == 0 {
		return nil
	}
	n.signal(syscall.SIGCONT)
	if err := n.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return n.wait(10 * time.Second)
}

func (n *node) cut(on bool) {
	n.mu.Lock()
	n.isCut = on
	n.mu.Unlock()
	for _, p := range n.proxies {
		if on {
			p.Cut()
		} else {
			p.Heal()
		}
	}
}

// pluginPIDs lists the plugin host processes (executable exe) that are
// children of the node's clusterd, found through /proc: go-plugin starts
// them as direct children.
func (n *node) pluginPIDs(exe string) []int {
	parent := n.pid()
	if parent == 0 {
		return nil
	}
	var out []int
	for _, p := range procChildren(parent) {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if err == nil && strings.TrimSuffix(got, " (deleted)") == exe {
			out = append(out, p)
		}
	}
	return out
}

// keeperPID is the pid of the node's process keeper (`clusterd keeper`, a
// child of its clusterd), or 0.
func (n *node) keeperPID() int {
	parent := n.pid()
	if parent == 0 {
		return 0
	}
	for _, p := range procChildren(parent) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err == nil && strings.HasSuffix(string(b), "\x00keeper\x00") {
			return p
		}
	}
	return 0
}
