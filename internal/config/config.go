// Package config reads cluster.toml, the file that configures one clusterd
// node and seeds the cluster database with resource types, groups and
// resources. Decoding is strict: unknown keys, wrongly typed values and
// inconsistent settings are all reported in one error, each naming the file and
// the TOML entry at fault, and Records turns a valid file into quorum records
// with every default resolved.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
)

// Config is the content of cluster.toml. The toml tags are the file's keys.
// After Parse or Load every default is filled in and every relative path is
// resolved against the directory of the file.
type Config struct {
	Cluster       Cluster        `toml:"cluster"`
	Node          Node           `toml:"node"`
	Log           Log            `toml:"log"`
	Quorum        Quorum         `toml:"quorum"`
	Events        Events         `toml:"events"`
	Web           Web            `toml:"web"`
	ResourceTypes []ResourceType `toml:"resource_type"`
	Groups        []Group        `toml:"group"`
	Resources     []Resource     `toml:"resource"`

	// File is the file the configuration was read from, as named to Parse or
	// Load; problems found by Validate name it. Empty for a Config built in code.
	File string `toml:"-"`
}

// Cluster is the [cluster] table.
type Cluster struct {
	// Name separates clusters sharing one etcd: keys live under /resmon/<name>/.
	Name string `toml:"name"`
	// CryptoKeyFile holds the AES-256 key that encrypts crypto checkpoints
	// (.CPR); empty when no resource checkpoints crypto containers. See CryptoKey.
	CryptoKeyFile string `toml:"crypto_key_file"`
	// PKIDir is the cluster PKI (package pki): the CA, node and operator
	// certificates. Default <data_dir>/pki, which a single node creates on
	// its first start.
	PKIDir string `toml:"pki_dir"`
}

// Node is the [node] table: this machine.
type Node struct {
	Name    string `toml:"name"`     // default: the host name
	DataDir string `toml:"data_dir"` // default: data/<name>
	// Admin is the node admin API address, "unix:PATH" or "tcp:HOST:PORT";
	// default unix:<data_dir>/admin.sock. See AdminAddr.
	Admin string `toml:"admin"`
	// AdminCert, AdminKey and AdminCA turn on mutual TLS for a tcp: admin
	// address: the node's certificate and key, and the CA whose client
	// certificates it accepts (also the CA the cluster CLI trusts). All three
	// or none; a tcp: address needs them, loopback included.
	AdminCert string `toml:"admin_cert"`
	AdminKey  string `toml:"admin_key"`
	AdminCA   string `toml:"admin_ca"`
	// Metrics is the HOST:PORT of the node's HTTP endpoint for Prometheus
	// (/metrics) and health checks (/healthz); empty: not served.
	Metrics string `toml:"metrics"`
	// Watchdog is a machine watchdog device, such as /dev/watchdog (the
	// softdog module or a hardware timer); empty: none. clusterd arms it
	// once it has joined, before it acquires any group, and pets it only
	// when a keepalive of its lease is confirmed (internal/watchdog).
	Watchdog string `toml:"watchdog"`
	// WatchdogMode is WatchdogOptional (the default: a node whose watchdog
	// cannot be armed warns and runs without) or WatchdogRequired (it owns
	// no group until the watchdog is armed).
	WatchdogMode string `toml:"watchdog_mode"`
	// WatchdogTimeout is the watchdog's timeout: whole seconds, longer than
	// the keepalive interval ((lease_ttl − fence_margin)/3) and shorter than
	// lease_ttl − fence_margin. Default: the longest whole number of
	// seconds below lease_ttl − fence_margin.
	WatchdogTimeout model.Duration `toml:"watchdog_timeout"`
}

// Watchdog modes.
const (
	WatchdogOptional = "optional"
	WatchdogRequired = "required"
)

// Web is the [web] table: the web console (internal/web), served over
// HTTPS only.
type Web struct {
	// Listen is the console's HOST:PORT; empty: no console. An address
	// other hosts can reach needs allow_remote as well.
	Listen string `toml:"listen"`
	// AllowRemote lets Listen be an address other hosts can reach (the
	// console is HTTPS with client certificates or login codes either way).
	AllowRemote bool `toml:"allow_remote"`
	// CertFile and KeyFile are the console's certificate; default: this
	// node's certificate of the cluster PKI (pki_dir).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ClientCA is the CA whose operator certificates log in without a code;
	// default: the CA of the cluster PKI.
	ClientCA string `toml:"client_ca"`
	// SessionTTL is how long a login lasts.
	SessionTTL model.Duration `toml:"session_ttl"`
}

// DefaultWebSessionTTL is how long a console login lasts by default.
const DefaultWebSessionTTL = 8 * time.Hour

// Log is the [log] table.
type Log struct {
	Level  string `toml:"level"`  // trace, debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// Quorum is the [quorum] table: how this node reaches etcd.
type Quorum struct {
	Mode        string         `toml:"mode"`      // ModeEmbedded or ModeExternal
	LeaseTTL    model.Duration `toml:"lease_ttl"` // whole seconds, at least 1s
	DialTimeout model.Duration `toml:"dial_timeout"`
	// FenceMargin is how long before the node's lease could expire that the
	// node takes its resources down by itself. 0 in the file means the default,
	// lease_ttl/5 but at least 100ms; it must not exceed lease_ttl/2.
	FenceMargin model.Duration `toml:"fence_margin"`
	// KeepaliveInterval is how often the node renews its lease and
	// KeepaliveTimeout how long one renewal may take; they must keep the
	// timing rule keepalive_interval + 2 × keepalive_timeout ≤ lease_ttl −
	// fence_margin, so a renewal can be lost whole and the next one still
	// has its full timeout before the node must fence itself. 0 in the
	// file means the default, (lease_ttl − fence_margin)/3 for both.
	KeepaliveInterval model.Duration `toml:"keepalive_interval"`
	KeepaliveTimeout  model.Duration `toml:"keepalive_timeout"`
	// InsecurePlaintext allows http:// (and unix://) etcd addresses on
	// loopback, without TLS or etcd auth: any local user can then read and
	// change the cluster. clusterd warns at every start while it is set.
	// Addresses other hosts can reach are refused without TLS regardless.
	InsecurePlaintext bool     `toml:"insecure_plaintext"`
	Embedded          Embedded `toml:"embedded"`
	External          External `toml:"external"`
}

// Quorum modes.
const (
	ModeEmbedded = "embedded" // run an etcd member inside clusterd
	ModeExternal = "external" // use an etcd cluster run elsewhere
)

// Embedded is the [quorum.embedded] table.
type Embedded struct {
	ClientURL    string         `toml:"client_url"` // default https://127.0.0.1:2379
	PeerURL      string         `toml:"peer_url"`   // default peers[node name], else https://127.0.0.1:2380
	Heartbeat    model.Duration `toml:"heartbeat"`  // etcd heartbeat (TickMs)
	Election     model.Duration `toml:"election"`   // etcd election timeout (ElectionMs)
	ClusterToken string         `toml:"cluster_token"`
	// Join starts the member as an addition to a running cluster; it must be
	// added first with `etcdctl member add`.
	Join bool `toml:"join"`
	// Peers maps every member's name to its peer URL, this node included, for
	// a node-majority cluster; empty for a single member.
	Peers map[string]string `toml:"peers"`
}

// External is the [quorum.external] table.
type External struct {
	Endpoints    []string `toml:"endpoints"`
	CAFile       string   `toml:"ca_file"`
	CertFile     string   `toml:"cert_file"`
	KeyFile      string   `toml:"key_file"`
	Username     string   `toml:"username"`
	Password     string   `toml:"password"`
	PasswordFile string   `toml:"password_file"`
	// Election is the etcd cluster's election timeout (etcd's
	// --election-timeout, 1s unless its operator changed it), or 0 for a
	// single member, which never elects. clusterd cannot read it from etcd;
	// it sizes the default lease_ttl by it and warns of a shorter one (see
	// Config.LeaderElection).
	Election model.Duration `toml:"election"`
}

// Events is the [events] table: retention of the cluster event log.
type Events struct {
	MaxEntries int            `toml:"max_entries"`
	MaxAge     model.Duration `toml:"max_age"`
}

// ResourceType is one [[resource_type]] entry.
type ResourceType struct {
	Name             string `toml:"name"`
	Kind             string `toml:"kind"` // quorum.KindPlugin or quorum.KindWASM
	Path             string `toml:"path"`
	SHA256           string `toml:"sha256"`             // optional pin, 64 hex digits
	MemoryLimitPages uint32 `toml:"memory_limit_pages"` // wasm only; 0 = wasm.DefaultMemoryLimitPages (64 MiB)
	// Defaults override the Windows defaults for resources of this type.
	Defaults     Properties   `toml:"defaults"`
	Capabilities Capabilities `toml:"capabilities"` // wasm only
}

// Capabilities is the [resource_type.capabilities] table.
type Capabilities struct {
	Commands []string `toml:"commands"`
	Dirs     []string `toml:"dirs"`
}

// Properties are optional overrides of the resource common properties; nil
// means "not set here".
type Properties struct {
	PendingTimeout         *model.Duration `toml:"pending_timeout"`
	RestartAction          *int            `toml:"restart_action"`
	RestartThreshold       *int            `toml:"restart_threshold"`
	RestartPeriod          *model.Duration `toml:"restart_period"`
	RestartDelay           *model.Duration `toml:"restart_delay"`
	LooksAlivePollInterval *model.Duration `toml:"looks_alive_poll_interval"`
	IsAlivePollInterval    *model.Duration `toml:"is_alive_poll_interval"`
	RetryPeriodOnFailure   *model.Duration `toml:"retry_period_on_failure"`
	SeparateMonitor        *bool           `toml:"separate_monitor"`
	DeadlockTimeout        *model.Duration `toml:"deadlock_timeout"`
}

// Apply returns base with the properties set in p replacing it.
func (p Properties) Apply(base model.Properties) model.Properties {
	setD := func(dst *model.Duration, src *model.Duration) {
		if src != nil {
			*dst = *src
		}
	}
	setD(&base.PendingTimeout, p.PendingTimeout)
	if p.RestartAction != nil {
		base.RestartAction = *p.RestartAction
	}
	if p.RestartThreshold != nil {
		base.RestartThreshold = *p.RestartThreshold
	}
	setD(&base.RestartPeriod, p.RestartPeriod)
	setD(&base.RestartDelay, p.RestartDelay)
	setD(&base.LooksAlivePollInterval, p.LooksAlivePollInterval)
	setD(&base.IsAlivePollInterval, p.IsAlivePollInterval)
	setD(&base.RetryPeriodOnFailure, p.RetryPeriodOnFailure)
	if p.SeparateMonitor != nil {
		base.SeparateMonitor = *p.SeparateMonitor
	}
	setD(&base.DeadlockTimeout, p.DeadlockTimeout)
	return base
}

// Group is one [[group]] entry. Pointer fields are optional; nil takes the
// default of quorum.DefaultGroup.
type Group struct {
	Name              string          `toml:"name"`
	PreferredOwners   []string        `toml:"preferred_owners"`
	FailoverThreshold *int            `toml:"failover_threshold"` // nil: nodes - 1
	FailoverPeriod    *model.Duration `toml:"failover_period"`    // nil: 6h
	AutoFailback      string          `toml:"auto_failback"`      // prevent (default) or allow
	// FailbackWindowStart and FailbackWindowEnd are hours 0-23, or -1 (the
	// default) for no window; give both or neither.
	FailbackWindowStart *int `toml:"failback_window_start"`
	FailbackWindowEnd   *int `toml:"failback_window_end"`
	PersistentState     bool `toml:"persistent_state"`
	Priority            int  `toml:"priority"`
}

// Resource is one [[resource]] entry. The common property overrides sit
// directly in the entry, next to name and type.
type Resource struct {
	Name string `toml:"name"`
	// ID is the resource's GUID when the file fixes it; empty means one is
	// assigned when the resource is first created in the cluster database.
	ID    string `toml:"id"`
	Type  string `toml:"type"`
	Group string `toml:"group"`
	// Dependencies is an AND of OR-groups of resource names in the same group.
	Dependencies        Dependencies `toml:"dependencies"`
	PossibleOwners      []string     `toml:"possible_owners"`
	RegistryCheckpoints []string     `toml:"registry_checkpoints"`
	CryptoCheckpoints   []string     `toml:"crypto_checkpoints"`
	Properties
	// Private is passed as is to the resource type's Open.
	Private map[string]any `toml:"private"`
}

// Dependencies is an AND of OR-groups: [["Disk P"], ["IP A", "IP B"]] means
// Disk P and (IP A or IP B). In the file a plain string may stand for a
// one-name group, so ["Disk P", "IP A"] means Disk P and IP A.
type Dependencies [][]string

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Dependencies) UnmarshalTOML(v any) error {
	items, ok := v.([]any)
	if !ok {
		return fmt.Errorf(`expected an array such as [["Disk P"], ["IP A", "IP B"]], got %s`, describe(v))
	}
	out := make(Dependencies, 0, len(items))
	for i, item := range items {
		switch x := item.(type) {
		case string:
			out = append(out, []string{x})
		case []any:
			group := make([]string, 0, len(x))
			for j, name := range x {
				s, ok := name.(string)
				if !ok {
					return fmt.Errorf("item %d, name %d: expected a resource name, got %s", i+1, j+1, describe(name))
				}
				group = append(group, s)
			}
			out = append(out, group)
		default:
			return fmt.Errorf("item %d: expected a resource name or an array of alternative names, got %s", i+1, describe(item))
		}
	}
	*d = out
	return nil
}

// Default returns the configuration of an empty cluster.toml: one embedded
// etcd member on loopback, named after the host, with paths relative to the
// working directory.
func Default() *Config {
	c := staticDefaults()
	c.fill()
	return c
}

// staticDefaults holds the defaults that do not depend on other settings.
func staticDefaults() *Config {
	host, _ := os.Hostname()
	return &Config{
		Cluster: Cluster{Name: "resmon"},
		Node:    Node{Name: host},
		Log:     Log{Level: "info", Format: "text"},
		Quorum: Quorum{
			Mode:        ModeEmbedded,
			DialTimeout: model.Duration(5 * time.Second),
			Embedded: Embedded{
				Heartbeat:    model.Duration(50 * time.Millisecond),
				Election:     model.Duration(500 * time.Millisecond),
				ClusterToken: "resmon",
			},
			External: External{Election: model.Duration(time.Second)},
		},
		Events: Events{MaxEntries: 10000, MaxAge: model.Duration(7 * 24 * time.Hour)},
	}
}

// Default addresses of the embedded member.
const (
	DefaultClientURL = "https://127.0.0.1:2379"
	DefaultPeerURL   = "https://127.0.0.1:2380"
)

// PKISubdir is the default cluster PKI directory inside data_dir.
const PKISubdir = "pki"

// FenceBudget is lease_ttl − fence_margin: how long after a keepalive is
// sent the node may go on without another one confirmed.
func (c *Config) FenceBudget() time.Duration {
	return c.Quorum.LeaseTTL.D() - c.Quorum.FenceMargin.D()
}

// minFenceMargin is the smallest default fence margin.
const minFenceMargin = 100 * time.Millisecond

// fill sets the defaults that derive from other settings, where unset.
func (c *Config) fill() {
	if c.Node.DataDir == "" && c.Node.Name != "" {
		c.Node.DataDir = filepath.Join("data", c.Node.Name)
	}
	if c.Node.Admin == "" && c.Node.DataDir != "" {
		c.Node.Admin = "unix:" + filepath.Join(c.Node.DataDir, "admin.sock")
	}
	if c.Cluster.PKIDir == "" && c.Node.DataDir != "" {
		c.Cluster.PKIDir = filepath.Join(c.Node.DataDir, PKISubdir)
	}
	if w := &c.Web; w.Listen != "" && c.Cluster.PKIDir != "" {
		if w.CertFile == "" && w.KeyFile == "" && c.Node.Name != "" {
			w.CertFile, w.KeyFile = pki.Dir(c.Cluster.PKIDir).NodeFiles(c.Node.Name)
		}
		if w.ClientCA == "" {
			w.ClientCA = pki.Dir(c.Cluster.PKIDir).CAFile()
		}
	}
	if c.Web.SessionTTL == 0 {
		c.Web.SessionTTL = model.Duration(DefaultWebSessionTTL)
	}
	if c.Quorum.LeaseTTL == 0 {
		c.Quorum.LeaseTTL = model.Duration(c.DefaultLeaseTTL())
	}
	if c.Quorum.FenceMargin == 0 {
		c.Quorum.FenceMargin = model.Duration(defaultFenceMargin(c.Quorum.LeaseTTL.D()))
	}
	if q := &c.Quorum; q.KeepaliveInterval == 0 || q.KeepaliveTimeout == 0 {
		// The default keeps the timing rule exactly: interval + 2 ×
		// timeout = lease_ttl − fence_margin (quorum.KeepaliveTiming).
		third := model.Duration(max(c.FenceBudget()/3, 10*time.Millisecond))
		if q.KeepaliveInterval == 0 {
			q.KeepaliveInterval = third
		}
		if q.KeepaliveTimeout == 0 {
			q.KeepaliveTimeout = third
		}
	}
	if c.Node.Watchdog != "" {
		if c.Node.WatchdogMode == "" {
			c.Node.WatchdogMode = WatchdogOptional
		}
		if c.Node.WatchdogTimeout == 0 {
			// 0 when no whole second fits: Validate says so.
			c.Node.WatchdogTimeout = model.Duration((c.FenceBudget() - 1).Truncate(time.Second))
		}
	}
	e := &c.Quorum.Embedded
	if e.ClientURL == "" {
		e.ClientURL = DefaultClientURL
	}
	if e.PeerURL == "" {
		if u, ok := e.Peers[c.Node.Name]; ok {
			e.PeerURL = u
		} else {
			e.PeerURL = DefaultPeerURL
		}
	}
}

// A configuration file under /etc holds configuration only: its relative
// paths do not resolve under /etc but against the node's state directory
// (data_dir, pki_dir, keys, sockets, certificates: StateDir, or the
// first entry of $STATE_DIRECTORY that systemd's StateDirectory= sets) and,
// for the executables and modules of resource types, against LibDir,
// where the package installs them. Anywhere else relative paths resolve
// against the file's directory, as a developer's checkout expects.
var (
	EtcDir   = "/etc"
	StateDir = "/var/lib/resmon"
	LibDir   = "/usr/lib/resmon"
)

// bases returns the directories that relative data paths and resource
// type paths of a file in dir resolve against.
func bases(dir string) (data, types string) {
	etc := filepath.Clean(EtcDir)
	if dir != etc && !strings.HasPrefix(dir, etc+string(filepath.Separator)) {
		return dir, dir
	}
	data = StateDir
	if sd, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); sd != "" && filepath.IsAbs(sd) {
		data = sd
	}
	return data, LibDir
}

// resolve makes the relative paths of c absolute: data paths against
// dataDir, resource type paths against typeDir.
func (c *Config) resolve(dataDir, typeDir string) {
	dir := dataDir
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Cluster.CryptoKeyFile)
	abs(&c.Cluster.PKIDir)
	abs(&c.Node.DataDir)
	abs(&c.Node.AdminCert)
	abs(&c.Node.AdminKey)
	abs(&c.Node.AdminCA)
	abs(&c.Web.CertFile)
	abs(&c.Web.KeyFile)
	abs(&c.Web.ClientCA)
	if rest, ok := strings.CutPrefix(c.Node.Admin, "unix:"); ok {
		abs(&rest)
		c.Node.Admin = "unix:" + rest
	}
	x := &c.Quorum.External
	abs(&x.CAFile)
	abs(&x.CertFile)
	abs(&x.KeyFile)
	abs(&x.PasswordFile)
	dir = typeDir
	for i := range c.ResourceTypes {
		t := &c.ResourceTypes[i]
		abs(&t.Path)
		// Capabilities are not resolved: a grant must name what it grants
		// exactly, so relative commands and directories are refused.
	}
}

// Load reads and parses the file at path. Relative paths in it are resolved
// against the file's directory (under /etc: see StateDir and LibDir), made
// absolute; problems name the file by path as given.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, dir, data, true)
}

// Parse decodes data, the content of the file filename, strictly: it fills in
// defaults, resolves relative paths against filename's directory, and
// validates the result. A file that is not TOML gives a *SyntaxError; any
// other problem gives an *Error listing every problem found. Both match
// ErrInvalid. Parse reads no files: unlike Load and Validate, it does not
// check that the commands and directories granted to WASM types exist on
// this machine.
func Parse(filename string, data []byte) (*Config, error) {
	return parse(filename, filepath.Dir(filename), data, false)
}

// parse decodes and checks data; host adds the checks against this
// machine's file system.
func parse(filename, dir string, data []byte, host bool) (*Config, error) {
	raw, err := decodeTOML(data)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	c := staticDefaults()
	c.File = filename
	var d decoder
	d.table(raw, reflect.ValueOf(c).Elem(), place{})
	c.fill()
	c.resolve(bases(dir))

	var v problems
	c.check(&v, host)
	// A value that could not be decoded was left unset; the complaints that
	// this causes ("name is required") would only repeat the decoding problem.
	failed := make(map[[2]string]bool)
	for _, p := range d.list {
		if p.Key != "" {
			failed[[2]string{p.Path, p.Key}] = true
		}
	}
	for _, p := range v.list {
		if p.Key == "" || !failed[[2]string{p.Path, p.Key}] {
			d.list = append(d.list, p)
		}
	}
	if err := d.err(filename); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeTOML parses data into its raw tree. A panic in the parser (there
// should be none) is returned as an error rather than taking the daemon down.
func decodeTOML(data []byte) (raw map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("TOML parser failed: %v", r)
		}
	}()
	raw = make(map[string]any)
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func syntaxError(filename string, err error) *SyntaxError {
	se := &SyntaxError{File: filename, Msg: err.Error(), Err: err}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		se.Line, se.Column = pe.Position.Line, pe.Position.Col
		se.Msg = pe.Message
	}
	return se
}
