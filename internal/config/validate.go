package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/resmon/resmon/model"
)

// Validate checks c and returns an *Error listing every problem found, or
// nil. It checks c as it is: Load has already filled in the defaults and
// called it; call it yourself on a Config built or changed in code. Like
// Load (and unlike Parse) it also checks that the commands and directories
// granted to WASM types exist on this machine.
func (c *Config) Validate() error {
	var ps problems
	c.check(&ps, true)
	return ps.err(c.File)
}

// check collects the problems of c; host adds the checks against this
// machine's file system.
func (c *Config) check(ps *problems, host bool) {
	c.checkNode(ps)
	c.checkQuorum(ps)
	c.checkWatchdog(ps)
	c.checkWeb(ps)
	if c.Events.MaxEntries < 1 {
		ps.add("events", "max_entries", "must be at least 1, got %d", c.Events.MaxEntries)
	}
	if c.Events.MaxAge <= 0 {
		ps.add("events", "max_age", "must be greater than 0")
	}
	c.checkTypes(ps, host)
	c.checkGroups(ps)
	c.checkResources(ps)
}

func (c *Config) checkNode(ps *problems) {
	if msg := nameProblem(c.Cluster.Name); msg != "" {
		ps.add("cluster", "name", "%s", msg)
	}
	if msg := nameProblem(c.Node.Name); msg != "" {
		ps.add("node", "name", "%s", msg)
	}
	if c.Node.DataDir == "" {
		ps.add("node", "data_dir", "is required")
	}
	if _, _, err := c.Node.AdminAddr(); err != nil {
		ps.add("node", "admin", "%v", err)
	} else {
		c.checkAdminTLS(ps)
	}
	if c.Node.Metrics != "" {
		if _, port, err := net.SplitHostPort(c.Node.Metrics); err != nil || port == "" {
			ps.add("node", "metrics", "%q: expected HOST:PORT such as 127.0.0.1:9464", c.Node.Metrics)
		}
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		ps.add("log", "level", "must be trace, debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		ps.add("log", "format", "must be text or json, got %q", c.Log.Format)
	}
}

// checkWatchdog checks [node] watchdog and the timing rule: the machine
// must reset before the lease can expire (timeout < lease_ttl −
// fence_margin), and not between two renewals of a healthy node (timeout >
// the keepalive interval).
func (c *Config) checkWatchdog(ps *problems) {
	n := &c.Node
	if n.Watchdog == "" {
		if n.WatchdogMode != "" {
			ps.add("node", "watchdog_mode", "is set, but node.watchdog names no device")
		}
		if n.WatchdogTimeout != 0 {
			ps.add("node", "watchdog_timeout", "is set, but node.watchdog names no device")
		}
		return
	}
	if !filepath.IsAbs(n.Watchdog) {
		ps.add("node", "watchdog", "%q: must be an absolute path, such as /dev/watchdog", n.Watchdog)
	}
	switch n.WatchdogMode {
	case WatchdogOptional, WatchdogRequired:
	default:
		ps.add("node", "watchdog_mode", "must be %s or %s, got %q", WatchdogOptional, WatchdogRequired, n.WatchdogMode)
	}
	budget, interval := c.FenceBudget(), c.Quorum.KeepaliveInterval.D()
	if budget <= 0 || c.Quorum.LeaseTTL.D() < time.Second {
		return // checkQuorum reports lease_ttl and fence_margin
	}
	switch to := n.WatchdogTimeout.D(); {
	case to == 0:
		ps.add("node", "watchdog_timeout", "lease_ttl %s − fence_margin %s leaves %s, less than the watchdog's smallest timeout (1s) above the keepalive interval: raise lease_ttl",
			c.Quorum.LeaseTTL.D(), c.Quorum.FenceMargin.D(), budget)
	case to < time.Second || to%time.Second != 0:
		ps.add("node", "watchdog_timeout", "must be a whole number of seconds, at least 1s (watchdogs count seconds), got %s", to)
	case to >= budget:
		ps.add("node", "watchdog_timeout", "%s must be shorter than lease_ttl %s − fence_margin %s = %s: the machine must reset before its lease can expire",
			to, c.Quorum.LeaseTTL.D(), c.Quorum.FenceMargin.D(), budget)
	case to <= interval:
		ps.add("node", "watchdog_timeout", "%s must be longer than the keepalive interval %s, or a healthy node resets between two renewals",
			to, interval.Round(time.Millisecond))
	}
}

func (c *Config) checkQuorum(ps *problems) {
	q := &c.Quorum
	switch q.Mode {
	case ModeEmbedded, ModeExternal:
	default:
		ps.add("quorum", "mode", "must be %s or %s, got %q", ModeEmbedded, ModeExternal, q.Mode)
	}
	ttl := q.LeaseTTL.D()
	switch {
	case ttl < time.Second:
		ps.add("quorum", "lease_ttl", "must be at least 1s, got %s", ttl)
	case ttl%time.Second != 0:
		ps.add("quorum", "lease_ttl", "must be a whole number of seconds (etcd leases count seconds), got %s", ttl)
	}
	if q.DialTimeout <= 0 {
		ps.add("quorum", "dial_timeout", "must be greater than 0")
	}
	switch m := q.FenceMargin.D(); {
	case m <= 0:
		ps.add("quorum", "fence_margin", "must be greater than 0")
	case ttl > 0 && m > ttl/2:
		ps.add("quorum", "fence_margin", "%s is more than half of lease_ttl (%s)", m, ttl)
	}
	checkKeepalive(q, ps)

	const em = "quorum.embedded"
	e := &q.Embedded
	insecure := q.InsecurePlaintext
	if err := checkURL(e.ClientURL, true, insecure); err != nil {
		ps.add(em, "client_url", "%v", err)
	}
	if err := checkURL(e.PeerURL, true, insecure); err != nil {
		ps.add(em, "peer_url", "%v", err)
	}
	if e.ClientURL == e.PeerURL {
		ps.add(em, "peer_url", "must differ from client_url")
	}
	hb, el := e.Heartbeat.D(), e.Election.D()
	switch {
	case hb < time.Millisecond:
		ps.add(em, "heartbeat", "must be at least 1ms, got %s", hb)
	case hb%time.Millisecond != 0:
		ps.add(em, "heartbeat", "must be a whole number of milliseconds, got %s", hb)
	}
	switch {
	case el%time.Millisecond != 0:
		ps.add(em, "election", "must be a whole number of milliseconds, got %s", el)
	case el < 5*hb:
		ps.add(em, "election", "%s must be at least 5 heartbeats (%s)", el, 5*hb)
	case el > 50*time.Second:
		ps.add(em, "election", "%s is more than etcd's limit of 50s", el)
	}
	if e.ClusterToken == "" {
		ps.add(em, "cluster_token", "must not be empty")
	}
	if grant := EtcdMinLease(hb, el); q.Mode == ModeEmbedded && hb >= time.Millisecond && el >= 5*hb && ttl >= time.Second && ttl < grant {
		// etcd would silently grant the longer lease: every failover
		// would take longer than the file says.
		ps.add("quorum", "lease_ttl", "%s is shorter than the %s etcd grants with quorum.embedded election %s (leases last at least 1.5 election timeouts): raise lease_ttl or lower election to %s or less",
			ttl, grant, el, maxElectionFor(ttl, hb))
	}
	byURL := make(map[string]string)
	for _, name := range sortedKeys(e.Peers) {
		u := e.Peers[name]
		if msg := nameProblem(name); msg != "" {
			ps.add(em+".peers", quoteKey(name), "%s", msg)
		}
		if err := checkURL(u, false, insecure); err != nil {
			ps.add(em+".peers", quoteKey(name), "%v", err)
		} else if other, dup := byURL[u]; dup {
			ps.add(em+".peers", quoteKey(name), "%q is also the peer URL of %q", u, other)
		} else {
			byURL[u] = name
		}
	}
	if len(e.Peers) > 0 {
		if u, ok := e.Peers[c.Node.Name]; !ok {
			ps.add(em, "peers", "must include this node, %q, when set", c.Node.Name)
		} else if u != e.PeerURL {
			ps.add(em, "peer_url", "%q differs from this node's entry in peers, %q", e.PeerURL, u)
		}
	} else if e.Join {
		ps.add(em, "join", "needs peers: every member of the running cluster, this node included")
	}

	const ex = "quorum.external"
	x := &q.External
	if q.Mode == ModeExternal && len(x.Endpoints) == 0 {
		ps.add(ex, "endpoints", "at least one etcd endpoint is required in external mode")
	}
	if el := x.Election.D(); el < 0 || el > 50*time.Second {
		ps.add(ex, "election", "must be the etcd cluster's election timeout, 0 to 50s (0 for a single member), got %s", el)
	}
	seen := make(map[string]bool)
	hasTLS := x.CAFile != "" || x.CertFile != "" || x.KeyFile != ""
	plaintext := ""
	for i, ep := range x.Endpoints {
		clear, err := checkEndpoint(ep, hasTLS, insecure)
		if err != nil {
			ps.add(ex, "endpoints", "item %d: %v", i+1, err)
		} else if seen[ep] {
			ps.add(ex, "endpoints", "%q is listed twice", ep)
		}
		if clear && plaintext == "" {
			plaintext = ep
		}
		seen[ep] = true
	}
	if plaintext != "" && !insecure {
		for _, k := range []struct{ key, val string }{{"password", x.Password}, {"password_file", x.PasswordFile}} {
			if k.val != "" {
				ps.add(ex, k.key, "the password would cross %q in clear: use https:// endpoints, or set quorum.insecure_plaintext = true to accept that", plaintext)
			}
		}
	}
	if (x.CertFile == "") != (x.KeyFile == "") {
		ps.add(ex, "", "cert_file and key_file must be given together")
	}
	if x.Password != "" && x.PasswordFile != "" {
		ps.add(ex, "", "password and password_file are exclusive; give one")
	}
	if x.Username == "" && (x.Password != "" || x.PasswordFile != "") {
		ps.add(ex, "username", "is required with a password")
	}
	if x.Username != "" && x.Password == "" && x.PasswordFile == "" {
		ps.add(ex, "", "username %q needs password or password_file", x.Username)
	}
}

func (c *Config) checkTypes(ps *problems, host bool) {
	first := make(map[string]int)
	for i, t := range c.ResourceTypes {
		at := entryLabel("resource_type", t.Name, i)
		if msg := nameProblem(t.Name); msg != "" {
			ps.add(at, "name", "%s", msg)
		} else if j, dup := first[strings.ToLower(t.Name)]; dup {
			ps.add(at, "name", "%s", duplicate("resource_type", c.ResourceTypes[j].Name, j, t.Name))
		} else {
			first[strings.ToLower(t.Name)] = i
		}
		switch t.Kind {
		case model.KindPlugin, model.KindWASM:
		case "":
			ps.add(at, "kind", "is required (%s or %s)", model.KindPlugin, model.KindWASM)
		default:
			ps.add(at, "kind", "must be %s or %s, got %q", model.KindPlugin, model.KindWASM, t.Kind)
		}
		if t.Path == "" {
			ps.add(at, "path", "is required")
		}
		if t.SHA256 != "" {
			if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
				ps.add(at, "sha256", "must be 64 hexadecimal digits, got %q", t.SHA256)
			}
		}
		if t.Kind == model.KindPlugin {
			if t.MemoryLimitPages != 0 {
				ps.add(at, "memory_limit_pages", "applies to wasm resource types only")
			}
			if len(t.Capabilities.Commands)+len(t.Capabilities.Dirs) > 0 {
				ps.add(at, "capabilities", "apply to wasm resource types only")
			}
		}
		if t.MemoryLimitPages > 65536 {
			ps.add(at, "memory_limit_pages", "%d is more than 65536 pages (4 GiB, the wasm32 limit)", t.MemoryLimitPages)
		}
		for j, cmd := range t.Capabilities.Commands {
			if strings.TrimSpace(cmd) == "" {
				ps.add(at, "capabilities.commands", "item %d is empty", j+1)
			} else if msg := commandProblem(cmd, host); msg != "" {
				ps.add(at, "capabilities.commands", "item %d: %s", j+1, msg)
			}
		}
		for j, dir := range t.Capabilities.Dirs {
			if strings.TrimSpace(dir) == "" {
				ps.add(at, "capabilities.dirs", "item %d is empty", j+1)
			} else if msg := dirProblem(dir, host); msg != "" {
				ps.add(at, "capabilities.dirs", "item %d: %s", j+1, msg)
			}
		}
		checkProperties(ps, at, "defaults.", t.Defaults)
	}
}

func (c *Config) checkGroups(ps *problems) {
	first := make(map[string]int)
	for i, g := range c.Groups {
		at := entryLabel("group", g.Name, i)
		if msg := nameProblem(g.Name); msg != "" {
			ps.add(at, "name", "%s", msg)
		} else if j, dup := first[strings.ToLower(g.Name)]; dup {
			ps.add(at, "name", "%s", duplicate("group", c.Groups[j].Name, j, g.Name))
		} else {
			first[strings.ToLower(g.Name)] = i
		}
		checkOwners(ps, at, "preferred_owners", g.PreferredOwners)
		if g.FailoverThreshold != nil && *g.FailoverThreshold < 0 {
			ps.add(at, "failover_threshold", "must not be negative, got %d (leave it out for nodes - 1)", *g.FailoverThreshold)
		}
		if g.FailoverPeriod != nil && *g.FailoverPeriod <= 0 {
			ps.add(at, "failover_period", "must be greater than 0")
		}
		switch g.AutoFailback {
		case "", model.FailbackPrevent, model.FailbackAllow:
		default:
			ps.add(at, "auto_failback", "must be %s or %s, got %q", model.FailbackPrevent, model.FailbackAllow, g.AutoFailback)
		}
		start, end := deref(g.FailbackWindowStart, -1), deref(g.FailbackWindowEnd, -1)
		okStart := checkHour(ps, at, "failback_window_start", start)
		okEnd := checkHour(ps, at, "failback_window_end", end)
		if okStart && okEnd && (start == -1) != (end == -1) {
			ps.add(at, "", "failback_window_start and failback_window_end must both be hours, or both -1 for no window")
		}
		if g.Priority < 0 {
			ps.add(at, "priority", "must not be negative, got %d", g.Priority)
		}
	}
}

func checkHour(ps *problems, at, key string, h int) bool {
	if h < -1 || h > 23 {
		ps.add(at, key, "must be an hour 0-23, or -1 for none; got %d", h)
		return false
	}
	return true
}

// checkpointRef is a checkpoint path and the resource that declares it.
type checkpointRef struct {
	path, fold string // as stored; lower case for comparison
	owner      int
}

func (c *Config) checkResources(ps *problems) {
	types := make(map[string]bool, len(c.ResourceTypes))
	for _, t := range c.ResourceTypes {
		types[t.Name] = true
	}
	groups := make(map[string]bool, len(c.Groups))
	for _, g := range c.Groups {
		groups[g.Name] = true
	}
	labels := make([]string, len(c.Resources))
	byName := make(map[string]int)
	ids := make(map[uuid.UUID]int)
	for i, r := range c.Resources {
		at := entryLabel("resource", r.Name, i)
		labels[i] = at
		if msg := nameProblem(r.Name); msg != "" {
			ps.add(at, "name", "%s", msg)
		} else if j, dup := byName[strings.ToLower(r.Name)]; dup {
			ps.add(at, "name", "%s; resource names are case-insensitive", duplicate("resource", c.Resources[j].Name, j, r.Name))
		} else {
			byName[strings.ToLower(r.Name)] = i
		}
		if r.ID != "" {
			if u, err := uuid.Parse(r.ID); err != nil {
				ps.add(at, "id", "%q is not a GUID (like 6f1c2a0e-5b7d-4e8f-9a3b-2c4d6e8f0a1b)", r.ID)
			} else if u == uuid.Nil {
				ps.add(at, "id", "must not be the nil GUID")
			} else if j, dup := ids[u]; dup {
				ps.add(at, "id", "is also the id of %s", entryLabel("resource", c.Resources[j].Name, j))
			} else {
				ids[u] = i
			}
		}
		switch {
		case r.Type == "":
			ps.add(at, "type", "is required")
		case !types[r.Type]:
			ps.add(at, "type", "unknown resource type %q%s", r.Type, suggest(r.Type, c.typeNames()))
		}
		switch {
		case r.Group == "":
			ps.add(at, "group", "is required")
		case !groups[r.Group]:
			ps.add(at, "group", "unknown group %q%s", r.Group, suggest(r.Group, c.groupNames()))
		}
		checkOwners(ps, at, "possible_owners", r.PossibleOwners)
		checkProperties(ps, at, "", r.Properties)
	}
	c.checkDependencies(ps, labels, byName)
	c.checkCheckpoints(ps, labels)
}

// checkDependencies checks that every dependency names a resource of the same
// group and that the dependencies have no cycle.
func (c *Config) checkDependencies(ps *problems, labels []string, byName map[string]int) {
	edges := make([][]int, len(c.Resources))
	for i, r := range c.Resources {
		at := labels[i]
		listed := make(map[string]bool)
		for k, alts := range r.Dependencies {
			if len(alts) == 0 {
				ps.add(at, "dependencies", "item %d is an empty list of alternatives", k+1)
			}
			for _, name := range alts {
				if name == "" {
					ps.add(at, "dependencies", "item %d holds an empty resource name", k+1)
					continue
				}
				fold := strings.ToLower(name)
				if listed[fold] {
					ps.add(at, "dependencies", "%q is listed more than once", name)
					continue
				}
				listed[fold] = true
				j, ok := byName[fold]
				switch {
				case !ok:
					ps.add(at, "", "depends on %q, which is not a resource in this file", name)
				case j == i:
					ps.add(at, "", "depends on itself")
				case c.Resources[j].Group != r.Group:
					ps.add(at, "", "depends on %q, which is in group %q", name, c.Resources[j].Group)
				default:
					edges[i] = append(edges[i], j)
				}
			}
		}
	}

	// Depth-first search; a dependency that leads back to a resource still on
	// the stack closes a cycle.
	const (
		unseen = iota
		onStack
		done
	)
	state := make([]int, len(c.Resources))
	var stack []int
	reported := make(map[string]bool)
	var visit func(i int)
	visit = func(i int) {
		state[i] = onStack
		stack = append(stack, i)
		for _, j := range edges[i] {
			switch state[j] {
			case unseen:
				visit(j)
			case onStack:
				cycle := slices.Clone(stack[slices.Index(stack, j):])
				// Start at the earliest entry so each cycle reads (and is
				// reported) one way only.
				low := slices.Index(cycle, slices.Min(cycle))
				cycle = slices.Concat(cycle[low:], cycle[:low])
				names := make([]string, 0, len(cycle)+1)
				for _, k := range append(cycle, cycle[0]) {
					names = append(names, strconv.Quote(c.Resources[k].Name))
				}
				path := strings.Join(names, " -> ")
				if !reported[path] {
					reported[path] = true
					ps.add(labels[cycle[0]], "", "dependency cycle: %s", path)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range c.Resources {
		if state[i] == unseen {
			visit(i)
		}
	}
}

// checkCheckpoints checks the checkpoint names and refuses two checkpoints of
// the same registry tree or crypto container: on failover one would overwrite
// the other.
func (c *Config) checkCheckpoints(ps *problems, labels []string) {
	var regs, cryptos []checkpointRef
	keyless := c.Cluster.CryptoKeyFile == ""
	for i, r := range c.Resources {
		at := labels[i]
		if keyless && len(r.CryptoCheckpoints) > 0 {
			ps.add(at, "crypto_checkpoints", "need cluster.crypto_key_file, the key that encrypts them in the quorum")
			keyless = false // say it once
		}
		for _, p := range r.RegistryCheckpoints {
			norm, err := RegistryPath(p)
			if err != nil {
				ps.add(at, "registry_checkpoints", "%v", err)
				continue
			}
			ref := checkpointRef{path: norm, fold: strings.ToLower(norm), owner: i}
			for _, prev := range regs {
				if msg := overlap(ref, prev, labels); msg != "" {
					ps.add(at, "registry_checkpoints", "%s", msg)
					break
				}
			}
			regs = append(regs, ref)
		}
		for _, p := range r.CryptoCheckpoints {
			if err := checkCryptoName(p); err != nil {
				ps.add(at, "crypto_checkpoints", "%v", err)
				continue
			}
			ref := checkpointRef{path: p, fold: strings.ToLower(p), owner: i}
			for _, prev := range cryptos {
				if prev.fold == ref.fold {
					where := "this resource"
					if prev.owner != i {
						where = labels[prev.owner]
					}
					ps.add(at, "crypto_checkpoints", "%q is already checkpointed by %s", p, where)
					break
				}
			}
			cryptos = append(cryptos, ref)
		}
	}
}

// overlap describes how registry checkpoint a covers the same keys as b, or
// returns "".
func overlap(a, b checkpointRef, labels []string) string {
	where := "this resource"
	if a.owner != b.owner {
		where = labels[b.owner]
	}
	switch {
	case a.fold == b.fold:
		return fmt.Sprintf("%q is already checkpointed by %s", a.path, where)
	case strings.HasPrefix(a.fold, b.fold+`\`):
		return fmt.Sprintf("%q is inside %q, which %s already checkpoints", a.path, b.path, where)
	case strings.HasPrefix(b.fold, a.fold+`\`):
		return fmt.Sprintf("%q contains %q, which %s already checkpoints", a.path, b.path, where)
	}
	return ""
}

// RegistryPath checks a registry checkpoint path and returns it as it is
// stored: relative to the machine root, without the one leading backslash
// the file may give it. Registry paths are case-insensitive.
func RegistryPath(p string) (string, error) {
	q := strings.TrimPrefix(p, `\`)
	switch {
	case q == "":
		return "", fmt.Errorf("%q is not a registry path", p)
	case !utf8.ValidString(q) || strings.ContainsFunc(q, unicode.IsControl):
		return "", fmt.Errorf("%q holds control characters or invalid UTF-8", p)
	case strings.Contains(q, "/"):
		return "", fmt.Errorf(`%q contains '/': registry paths are separated by backslashes, like SOFTWARE\Vendor\App`, p)
	}
	parts := strings.Split(q, `\`)
	for _, part := range parts {
		switch {
		case part == "":
			return "", fmt.Errorf("%q has an empty key name (a doubled or trailing backslash)", p)
		case len(part) > 255:
			return "", fmt.Errorf("%q has a key name longer than 255 bytes", p)
		}
	}
	switch strings.ToUpper(parts[0]) {
	case "HKEY_LOCAL_MACHINE", "HKLM":
		return "", fmt.Errorf("%q: checkpoint paths are relative to the machine root; leave out %s", p, parts[0])
	}
	return q, nil
}

// checkCryptoName checks a crypto key container name, Type\Provider\Container.
func checkCryptoName(p string) error {
	parts := strings.Split(p, `\`)
	if len(parts) != 3 || slices.Contains(parts, "") {
		return fmt.Errorf(`%q is not a key container name of the form Type\Provider\Container`, p)
	}
	if !utf8.ValidString(p) || strings.ContainsFunc(p, unicode.IsControl) {
		return fmt.Errorf("%q holds control characters or invalid UTF-8", p)
	}
	return nil
}

func checkProperties(ps *problems, at, prefix string, p Properties) {
	positive := func(key string, d *model.Duration) {
		if d != nil && *d <= 0 {
			ps.add(at, prefix+key, "must be greater than 0")
		}
	}
	positive("pending_timeout", p.PendingTimeout)
	if p.RestartAction != nil && (*p.RestartAction < model.RestartNone || *p.RestartAction > model.RestartThenFailover) {
		ps.add(at, prefix+"restart_action", "must be 0 (no restart), 1 (restart only) or 2 (restart, then fail the group over), got %d", *p.RestartAction)
	}
	if p.RestartThreshold != nil && *p.RestartThreshold < 0 {
		ps.add(at, prefix+"restart_threshold", "must not be negative, got %d", *p.RestartThreshold)
	}
	positive("restart_period", p.RestartPeriod)
	if p.RestartDelay != nil && *p.RestartDelay < 0 {
		ps.add(at, prefix+"restart_delay", "must not be negative")
	}
	positive("looks_alive_poll_interval", p.LooksAlivePollInterval)
	positive("is_alive_poll_interval", p.IsAlivePollInterval)
	positive("retry_period_on_failure", p.RetryPeriodOnFailure)
	positive("deadlock_timeout", p.DeadlockTimeout)
}

func checkOwners(ps *problems, at, key string, owners []string) {
	seen := make(map[string]bool, len(owners))
	for _, o := range owners {
		if msg := nameProblem(o); msg != "" {
			ps.add(at, key, "node name %q: %s", o, msg)
		} else if seen[o] {
			ps.add(at, key, "%q is listed twice", o)
		}
		seen[o] = true
	}
}

// commandProblem checks a command granted to a WASM type: an absolute
// path (the guest's request is matched against it exactly and run without
// a PATH search) and, with host, an executable file on this machine.
func commandProblem(cmd string, host bool) string {
	switch {
	case !filepath.IsAbs(cmd):
		return fmt.Sprintf("%q is not an absolute path (commands are run as named, without a PATH search)", cmd)
	case filepath.Clean(cmd) != cmd:
		return fmt.Sprintf("%q is not a clean path; write %q", cmd, filepath.Clean(cmd))
	case !host:
		return ""
	}
	fi, err := os.Stat(cmd)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist on this machine", cmd)
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("%s is not a regular file", cmd)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("%s is not executable", cmd)
	}
	return ""
}

// dirProblem checks a directory granted to a WASM type: an absolute path
// other than "/" (which would grant the whole file system) and, with host,
// a directory on this machine.
func dirProblem(dir string, host bool) string {
	switch {
	case !filepath.IsAbs(dir):
		return fmt.Sprintf("%q is not an absolute path", dir)
	case filepath.Clean(dir) == "/":
		return fmt.Sprintf("%q would grant the whole file system; grant the directories the type needs", dir)
	case !host:
		return ""
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist on this machine", dir)
	case err != nil:
		return err.Error()
	case !fi.IsDir():
		return fmt.Sprintf("%s is not a directory", dir)
	}
	return ""
}

// nameProblem checks a name with model.ValidName, the one rule for names
// wherever they come from; it returns "" for a good name.
func nameProblem(s string) string {
	if s == "" {
		return "is required"
	}
	if err := model.ValidName(s); err != nil {
		return err.Error()
	}
	return ""
}

func duplicate(kind, firstName string, first int, name string) string {
	if firstName == name {
		return fmt.Sprintf("%q is also the name of %s #%d", name, kind, first+1)
	}
	return fmt.Sprintf("%q is also the name of %s #%d (%q)", name, kind, first+1, firstName)
}

// suggest offers a name that differs from want only in case.
func suggest(want string, have []string) string {
	for _, h := range have {
		if strings.EqualFold(h, want) {
			return fmt.Sprintf(" (did you mean %q?)", h)
		}
	}
	return ""
}

func (c *Config) typeNames() []string {
	out := make([]string, len(c.ResourceTypes))
	for i, t := range c.ResourceTypes {
		out[i] = t.Name
	}
	return out
}

func (c *Config) groupNames() []string {
	out := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		out[i] = g.Name
	}
	return out
}

// checkURL checks an embedded member's URL: https://HOST:PORT, or
// http://HOST:PORT on loopback when plaintext is allowed. A URL the member
// binds to needs an IP address or localhost as its host.
func checkURL(s string, bind, insecure bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: expected https://HOST:PORT", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: expected just https://HOST:PORT", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return fmt.Errorf("%q: expected https://HOST:PORT", s)
	}
	if err := checkPort(port); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if bind && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: this member listens there, so the host must be an IP address or localhost", s)
	}
	if u.Scheme == "http" {
		return plaintextProblem(s, host, insecure)
	}
	return nil
}

// plaintextProblem explains why a plaintext etcd address is refused, or
// returns nil when insecure_plaintext allows it: only on loopback.
func plaintextProblem(s, host string, insecure bool) error {
	if !isLoopback(host) {
		return fmt.Errorf("%q is plaintext on an address other machines can reach: use https:// (TLS with client certificates)", s)
	}
	if !insecure {
		return fmt.Errorf("%q is plaintext: every local user could read and change the cluster database; use https://, or set quorum.insecure_plaintext = true to accept that", s)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkEndpoint checks an external etcd endpoint, a URL or HOST:PORT (TLS
// when hasTLS), and reports whether it is plaintext.
func checkEndpoint(s string, hasTLS, insecure bool) (plaintext bool, err error) {
	if !strings.Contains(s, "://") {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return false, fmt.Errorf("%q: expected a URL such as https://etcd1:2379, or HOST:PORT", s)
		}
		if err := checkPort(port); err != nil {
			return false, err
		}
		if !hasTLS {
			return true, plaintextProblem(s, host, insecure)
		}
		return false, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return false, fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Hostname() == "" {
			return false, fmt.Errorf("%q has no host", s)
		}
		if p := u.Port(); p != "" {
			if err := checkPort(p); err != nil {
				return false, err
			}
		}
		if u.Scheme == "http" {
			return true, plaintextProblem(s, u.Hostname(), insecure)
		}
	case "unix", "unixs":
		if u.Host == "" && u.Path == "" {
			return false, fmt.Errorf("%q has no socket path", s)
		}
		if u.Scheme == "unix" && !insecure {
			return true, fmt.Errorf("%q is plaintext: use unixs://, or set quorum.insecure_plaintext = true to accept that", s)
		}
		return u.Scheme == "unix", nil
	default:
		return false, fmt.Errorf("%q: the scheme must be https, unixs, or with insecure_plaintext http or unix", s)
	}
	return false, nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path less
// its terminating NUL).
const maxSocketPath = 107

// AdminAddr splits node.admin into the network ("unix" or "tcp") and the
// address to listen on or dial.
func (n Node) AdminAddr() (network, address string, err error) {
	if path, ok := strings.CutPrefix(n.Admin, "unix:"); ok {
		switch {
		case path == "":
			return "", "", fmt.Errorf("%q: the socket path is missing", n.Admin)
		case len(path) > maxSocketPath:
			return "", "", fmt.Errorf("socket path %q is %d bytes; Linux allows at most %d", path, len(path), maxSocketPath)
		}
		return "unix", path, nil
	}
	if addr, ok := strings.CutPrefix(n.Admin, "tcp:"); ok {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", "", fmt.Errorf("%q: expected tcp:HOST:PORT", n.Admin)
		}
		if err := checkPort(port); err != nil {
			return "", "", fmt.Errorf("%q: %v", n.Admin, err)
		}
		return "tcp", addr, nil
	}
	return "", "", fmt.Errorf("%q: expected unix:PATH or tcp:HOST:PORT", n.Admin)
}

// checkAdminTLS checks admin_cert, admin_key and admin_ca against node.admin.
func (c *Config) checkAdminTLS(ps *problems) {
	n := c.Node
	network, _, _ := n.AdminAddr()
	set := 0
	for _, f := range []string{n.AdminCert, n.AdminKey, n.AdminCA} {
		if f != "" {
			set++
		}
	}
	switch {
	case set > 0 && set < 3:
		ps.add("node", "admin_cert", "admin_cert, admin_key and admin_ca go together: set all three or none")
	case set == 3 && network == "unix":
		ps.add("node", "admin_cert", "mutual TLS applies to a tcp: admin address; %q is a unix socket, guarded by its file mode", n.Admin)
	case set == 0 && network == "tcp":
		// Loopback too: every local user can reach a loopback port.
		ps.add("node", "admin", "%q needs mutual TLS, on loopback too (any local user can connect to it): set admin_cert, admin_key and admin_ca, or use a unix: socket", n.Admin)
	}
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkWeb checks the [web] table: the console listens on loopback unless
// allow_remote says otherwise, and always with a certificate.
func (c *Config) checkWeb(ps *problems) {
	w := &c.Web
	if w.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(w.Listen)
	if err != nil || port == "" {
		ps.add("web", "listen", "%q: expected HOST:PORT such as 127.0.0.1:9443", w.Listen)
	} else if !isLoopback(host) && !w.AllowRemote {
		ps.add("web", "listen", "%q can be reached from other hosts: set web.allow_remote = true to serve the console there (HTTPS with operator certificates or login codes), or listen on 127.0.0.1", w.Listen)
	}
	if (w.CertFile == "") != (w.KeyFile == "") {
		ps.add("web", "cert_file", "cert_file and key_file go together")
	}
	if w.CertFile == "" {
		ps.add("web", "cert_file", "is required (no pki_dir to take the node's certificate from)")
	}
	if w.SessionTTL.D() < time.Minute {
		ps.add("web", "session_ttl", "must be at least 1m, got %s", w.SessionTTL.D())
	}
}

// checkKeepalive checks the keepalive timing rule: keepalive_interval + 2 ×
// keepalive_timeout ≤ lease_ttl − fence_margin. A renewal can then be lost
// or time out whole and the next still has its full timeout before the
// node must fence itself; a node whose settings break it fences itself
// whenever one renewal is slow, though nothing is wrong.
func checkKeepalive(q *Quorum, ps *problems) {
	iv, to := q.KeepaliveInterval.D(), q.KeepaliveTimeout.D()
	if iv < 10*time.Millisecond {
		ps.add("quorum", "keepalive_interval", "must be at least 10ms, got %s", iv)
	}
	if to < 10*time.Millisecond {
		ps.add("quorum", "keepalive_timeout", "must be at least 10ms, got %s", to)
	}
	ttl, m := q.LeaseTTL.D(), q.FenceMargin.D()
	if ttl < time.Second || m <= 0 || m > ttl/2 || iv < 10*time.Millisecond || to < 10*time.Millisecond {
		return // reported above
	}
	if budget := ttl - m; iv+2*to > budget {
		ps.add("quorum", "keepalive_interval", "keepalive_interval %s + 2 × keepalive_timeout %s = %s is more than lease_ttl %s − fence_margin %s = %s: one slow renewal would fence a healthy node; shorten them or raise lease_ttl",
			iv, to, iv+2*to, ttl, m, budget)
	}
}

// EtcdMinLease is the shortest lease etcd grants with the given heartbeat
// and election timeout: 1.5 election timeouts, counted in heartbeat ticks
// and rounded up to whole seconds.
func EtcdMinLease(heartbeat, election time.Duration) time.Duration {
	if heartbeat <= 0 {
		return 0
	}
	ticks := int64(election / heartbeat)
	min := time.Duration(3*ticks/2) * heartbeat
	return (min + time.Second - 1).Truncate(time.Second)
}

// maxElectionFor is the longest election timeout, in whole heartbeats, with
// which etcd grants a lease of ttl (whole seconds): the most ticks t with
// ⌊3t/2⌋ heartbeats ≤ ttl.
func maxElectionFor(ttl, heartbeat time.Duration) time.Duration {
	n := int64(ttl / heartbeat)
	return time.Duration((2*n+1)/3) * heartbeat
}
