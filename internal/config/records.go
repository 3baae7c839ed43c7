package config

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
)

// Records converts the resource types, groups and resources of c into the
// records of the cluster database, in file order, with every default
// resolved: a resource's common properties come from the resource, else from
// its type's defaults, else from quorum.DefaultProperties; a group's from the
// entry, else from quorum.DefaultGroup. A resource without an id keeps an
// empty ID, to be assigned when it is first created. Dependency names are
// spelled as the resources they name, GUIDs and sha256 pins are lower case,
// registry checkpoints lose their leading backslash. Call Records on a valid
// Config (as Parse and Load return); the records share nothing with c.
func (c *Config) Records() (types []model.ResourceType, groups []model.Group, resources []model.Resource) {
	typeDefaults := make(map[string]model.Properties, len(c.ResourceTypes))
	for _, t := range c.ResourceTypes {
		rec := model.ResourceType{
			Name:   t.Name,
			Kind:   t.Kind,
			Path:   t.Path,
			SHA256: strings.ToLower(t.SHA256),
			// Resources take their type's defaults: the first entry of a
			// duplicated name wins, as in the database.
			Defaults: t.Defaults.Apply(model.DefaultProperties()),
			Capabilities: model.Capabilities{
				Commands: cloneOrNil(t.Capabilities.Commands),
				Dirs:     cloneOrNil(t.Capabilities.Dirs),
			},
			MemoryLimitPages: t.MemoryLimitPages,
		}
		if _, dup := typeDefaults[t.Name]; !dup {
			typeDefaults[t.Name] = rec.Defaults
		}
		types = append(types, rec)
	}

	for _, g := range c.Groups {
		rec := model.DefaultGroup(g.Name)
		rec.PreferredOwners = cloneOrNil(g.PreferredOwners)
		if g.FailoverThreshold != nil {
			rec.FailoverThreshold = *g.FailoverThreshold
		}
		if g.FailoverPeriod != nil {
			rec.FailoverPeriod = *g.FailoverPeriod
		}
		if g.AutoFailback != "" {
			rec.AutoFailbackType = g.AutoFailback
		}
		rec.FailbackWindowStart = deref(g.FailbackWindowStart, rec.FailbackWindowStart)
		rec.FailbackWindowEnd = deref(g.FailbackWindowEnd, rec.FailbackWindowEnd)
		rec.PersistentState = g.PersistentState
		rec.Priority = g.Priority
		groups = append(groups, rec)
	}

	spelling := make(map[string]string, len(c.Resources))
	for _, r := range c.Resources {
		if _, dup := spelling[strings.ToLower(r.Name)]; !dup {
			spelling[strings.ToLower(r.Name)] = r.Name
		}
	}
	for _, r := range c.Resources {
		base, ok := typeDefaults[r.Type]
		if !ok {
			base = model.DefaultProperties()
		}
		rec := model.Resource{
			ID:             r.ID,
			Name:           r.Name,
			Type:           r.Type,
			Group:          r.Group,
			PossibleOwners: cloneOrNil(r.PossibleOwners),
			Properties:     r.Properties.Apply(base),
			Private:        cloneTree(r.Private),
		}
		if u, err := uuid.Parse(r.ID); err == nil {
			rec.ID = u.String()
		}
		for _, alts := range r.Dependencies {
			group := make([]string, len(alts))
			for i, name := range alts {
				group[i] = name
				if s, ok := spelling[strings.ToLower(name)]; ok {
					group[i] = s
				}
			}
			rec.Dependencies = append(rec.Dependencies, group)
		}
		for _, p := range r.RegistryCheckpoints {
			if norm, err := RegistryPath(p); err == nil {
				p = norm
			}
			rec.RegistryCheckpoints = append(rec.RegistryCheckpoints, p)
		}
		rec.CryptoCheckpoints = cloneOrNil(r.CryptoCheckpoints)
		resources = append(resources, rec)
	}
	return types, groups, resources
}

// ClientConfig says how this node's etcd client reaches the quorum: the
// embedded member's client URL with the node's certificate from the PKI
// (none with a plaintext URL), or in external mode the external endpoints
// with their TLS files and credentials. It reads password_file, whose
// content less a trailing newline is the password.
func (c *Config) ClientConfig() (quorum.ClientConfig, error) {
	q := c.Quorum
	prefix := quorum.NewKeys(c.Cluster.Name).Prefix()
	if q.Mode != ModeExternal {
		cc := quorum.ClientConfig{
			Endpoints:   []string{q.Embedded.ClientURL},
			DialTimeout: q.DialTimeout.D(),
			Prefix:      prefix,
		}
		if c.EmbeddedTLS() {
			d := pki.Dir(c.Cluster.PKIDir)
			cc.CAFile = d.CAFile()
			cc.CertFile, cc.KeyFile = d.NodeFiles(c.Node.Name)
		}
		return cc, nil
	}
	x := q.External
	cc := quorum.ClientConfig{
		Endpoints:   slices.Clone(x.Endpoints),
		DialTimeout: q.DialTimeout.D(),
		CAFile:      x.CAFile,
		CertFile:    x.CertFile,
		KeyFile:     x.KeyFile,
		Username:    x.Username,
		Password:    x.Password,
		Prefix:      prefix,
	}
	if x.PasswordFile != "" {
		b, err := os.ReadFile(x.PasswordFile)
		if err != nil {
			return quorum.ClientConfig{}, fmt.Errorf("config: quorum.external.password_file: %w", err)
		}
		cc.Password = strings.TrimRight(string(b), "\r\n")
		if cc.Password == "" {
			return quorum.ClientConfig{}, fmt.Errorf("config: quorum.external.password_file %s is empty", x.PasswordFile)
		}
	}
	return cc, nil
}

// OperatorClientConfig is how the cluster CLI reaches the quorum as the
// named operator: in embedded mode with the operator's certificate from the
// PKI; in external mode with the node's own credentials, as ClientConfig.
func (c *Config) OperatorClientConfig(operator string) (quorum.ClientConfig, error) {
	cc, err := c.ClientConfig()
	if err != nil || c.Quorum.Mode == ModeExternal || !c.EmbeddedTLS() {
		return cc, err
	}
	cc.CertFile, cc.KeyFile = pki.Dir(c.Cluster.PKIDir).OperatorFiles(operator)
	return cc, nil
}

// EmbeddedTLS reports whether the embedded member serves its clients over
// TLS (an https:// client_url).
func (c *Config) EmbeddedTLS() bool {
	return strings.HasPrefix(c.Quorum.Embedded.ClientURL, "https://")
}

// NodeHosts are the addresses of this node that its certificate must name:
// the hosts of its client and peer URLs.
func (c *Config) NodeHosts() []string {
	var hosts []string
	for _, s := range []string{c.Quorum.Embedded.ClientURL, c.Quorum.Embedded.PeerURL} {
		if u, err := url.Parse(s); err == nil && u.Hostname() != "" && !slices.Contains(hosts, u.Hostname()) {
			hosts = append(hosts, u.Hostname())
		}
	}
	return hosts
}

// PeerHosts are the hosts of every member's peer URL, by member name: what
// each node's certificate must name.
func (c *Config) PeerHosts() map[string][]string {
	out := map[string][]string{}
	for name, s := range c.Quorum.Embedded.Peers {
		if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
			out[name] = []string{u.Hostname()}
		}
	}
	return out
}

// EtcdDir is the embedded member's directory inside the node's data_dir.
const EtcdDir = "etcd"

// EmbedConfig describes the embedded etcd member of this node (meaningful in
// embedded mode). Its data lives in <data_dir>/etcd.
func (c *Config) EmbedConfig() quorum.EmbedConfig {
	e := c.Quorum.Embedded
	var peers map[string]string
	if len(e.Peers) > 0 {
		peers = maps.Clone(e.Peers)
	}
	var tls *quorum.MemberTLS
	if strings.HasPrefix(e.ClientURL, "https://") || strings.HasPrefix(e.PeerURL, "https://") {
		d := pki.Dir(c.Cluster.PKIDir)
		cert, key := d.NodeFiles(c.Node.Name)
		tls = &quorum.MemberTLS{CAFile: d.CAFile(), CertFile: cert, KeyFile: key, PeerHostname: pki.NodeMarker}
	}
	return quorum.EmbedConfig{
		TLS:          tls,
		Name:         c.Node.Name,
		DataDir:      filepath.Join(c.Node.DataDir, EtcdDir),
		ClientURL:    e.ClientURL,
		PeerURL:      e.PeerURL,
		Peers:        peers,
		ClusterToken: e.ClusterToken,
		Join:         e.Join,
		TickMs:       uint(e.Heartbeat.D() / time.Millisecond),
		ElectionMs:   uint(e.Election.D() / time.Millisecond),
	}
}

// CryptoKeyLen is the length of the crypto checkpoint key (AES-256).
const CryptoKeyLen = 32

// CryptoKey reads the key that encrypts crypto checkpoints from
// cluster.crypto_key_file: 32 raw bytes, or 64 hexadecimal digits with an
// optional trailing newline (as `openssl rand -hex 32` writes). The file must
// not be readable by group or others. CryptoKey returns nil, nil when no file
// is configured.
func (c *Config) CryptoKey() ([]byte, error) {
	path := c.Cluster.CryptoKeyFile
	if path == "" {
		return nil, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: cluster.crypto_key_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("config: cluster.crypto_key_file %s is accessible by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: cluster.crypto_key_file: %w", err)
	}
	if len(b) == CryptoKeyLen {
		return b, nil
	}
	text := bytes.TrimRight(b, "\r\n")
	if len(text) == 2*CryptoKeyLen {
		if key, err := hex.DecodeString(string(text)); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("config: cluster.crypto_key_file %s must hold %d bytes, or %d hexadecimal digits; it holds %d bytes",
		path, CryptoKeyLen, 2*CryptoKeyLen, len(b))
}

func cloneOrNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// cloneTree deep-copies the tables and arrays of a decoded TOML value.
func cloneTree(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneTree(x)
	case []map[string]any:
		out := make([]map[string]any, len(x))
		for i := range x {
			out[i] = cloneTree(x[i])
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = cloneValue(x[i])
		}
		return out
	}
	return v
}
