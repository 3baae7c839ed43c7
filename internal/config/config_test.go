package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
)

func dur(s string) model.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return model.Duration(d)
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want string
	}{
		{"missing value", "[node]\nname = \n", "cluster.toml:2:8: expected value but found '\\n' instead"},
		{"unclosed table", "[cluster]\nname = \"x\"\n[node]]\n", "cluster.toml:3:7: expected a top-level item to end with a newline, comment, or EOF, but got ']' instead"},
		{"duplicate key", "[node]\nname = \"a\"\nname = \"b\"\n", "cluster.toml:3:12: Key 'node.name' has already been defined."},
		{"bare word", "[quorum]\nmode = embedded\n", "cluster.toml:2:8: expected value but found \"embedded\" instead"},
		{"NUL", "\x00", "cluster.toml:1:1: files cannot contain NULL bytes; probably using UTF-16; TOML files must be UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("cluster.toml", []byte(tt.toml))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want a *SyntaxError", err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("a syntax error does not match ErrInvalid")
			}
			var pe toml.ParseError
			if !errors.As(err, &pe) {
				t.Error("the toml.ParseError is not reachable with errors.As")
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err.Error(), tt.want)
			}
		})
	}
}

func TestSyntaxErrorFromFile(t *testing.T) {
	_, err := Load("testdata/syntax.toml")
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *SyntaxError", err)
	}
	if se.File != "testdata/syntax.toml" || se.Line != 7 || !strings.HasPrefix(err.Error(), "testdata/syntax.toml:7:") {
		t.Errorf("err = %q (line %d)", err, se.Line)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such.toml")
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a not-exist error that is not ErrInvalid", err)
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	checks := []struct {
		name      string
		got, want any
	}{
		{"file", c.File, "testdata/full.toml"},
		{"cluster", c.Cluster, Cluster{Name: "lab", CryptoKeyFile: filepath.Join(dir, "keys/cpr.key"), PKIDir: "/var/lib/resmon/node1/pki"}},
		{"node", c.Node, Node{Name: "node1", DataDir: "/var/lib/resmon/node1", Admin: "tcp:127.0.0.1:7401",
			AdminCert: filepath.Join(dir, "tls/node1.pem"), AdminKey: filepath.Join(dir, "tls/node1-key.pem"), AdminCA: filepath.Join(dir, "tls/ca.pem")}},
		{"log", c.Log, Log{Level: "debug", Format: "json"}},
		{"lease", c.Quorum.LeaseTTL, dur("6s")},
		{"dial", c.Quorum.DialTimeout, dur("3s")},
		{"fence", c.Quorum.FenceMargin, dur("1500ms")},
		{"embedded", c.Quorum.Embedded, Embedded{
			ClientURL: "https://10.0.0.1:2379", PeerURL: "https://10.0.0.1:2380",
			Heartbeat: dur("50ms"), Election: dur("500ms"), ClusterToken: "lab-token",
			Peers: map[string]string{"node1": "https://10.0.0.1:2380", "node2": "https://10.0.0.2:2380", "node3": "https://10.0.0.3:2380"},
		}},
		{"external", c.Quorum.External, External{
			Endpoints: []string{"https://etcd1:2379", "etcd2:2379"},
			CAFile:    filepath.Join(dir, "tls/ca.pem"), CertFile: filepath.Join(dir, "tls/node1.pem"),
			KeyFile: filepath.Join(dir, "tls/node1-key.pem"), Username: "resmon",
			PasswordFile: filepath.Join(dir, "secrets/etcd-password"), Election: dur("1500ms"),
		}},
		{"events", c.Events, Events{MaxEntries: 5000, MaxAge: dur("72h")}},
		{"type path", c.ResourceTypes[0].Path, filepath.Join(dir, "bin/genapp")},
		{"absolute type path", c.ResourceTypes[1].Path, "/opt/resmon/types/ipaddr.wasm"},
		{"capabilities", c.ResourceTypes[1].Capabilities, Capabilities{
			Commands: []string{"/bin/sh", "/bin/true", "/usr/bin/env"},
			Dirs:     []string{"/tmp", "/usr"},
		}},
		{"counts", [3]int{len(c.ResourceTypes), len(c.Groups), len(c.Resources)}, [3]int{2, 2, 5}},
		{"private", c.Resources[0].Private, map[string]any{
			"CommandLine": "/bin/sleep 1000",
			"Env":         map[string]any{"MODE": "primary"},
			"Ports":       []any{int64(8080), int64(8081)},
		}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v\nwant %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "")
	c, err := Parse("/etc/resmon/cluster.toml", []byte("[node]\nname = \"n1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Under /etc, data lands in the state directory (TestRelativePathsUnderEtc).
	want := &Config{
		Cluster: Cluster{Name: "resmon", PKIDir: "/var/lib/resmon/data/n1/pki"},
		Node:    Node{Name: "n1", DataDir: "/var/lib/resmon/data/n1", Admin: "unix:/var/lib/resmon/data/n1/admin.sock"},
		Log:     Log{Level: "info", Format: "text"},
		Quorum: Quorum{
			Mode: ModeEmbedded, LeaseTTL: dur("2s"), DialTimeout: dur("5s"), FenceMargin: dur("400ms"),
			KeepaliveInterval: dur("533333333ns"), KeepaliveTimeout: dur("533333333ns"),
			Embedded: Embedded{
				ClientURL: DefaultClientURL, PeerURL: DefaultPeerURL,
				Heartbeat: dur("50ms"), Election: dur("500ms"), ClusterToken: "resmon",
			},
			External: External{Election: dur("1s")},
		},
		Events: Events{MaxEntries: 10000, MaxAge: dur("168h")},
		Web:    Web{SessionTTL: dur("8h")},
		File:   "/etc/resmon/cluster.toml",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}

	// Default is what an empty file gives, relative to the working directory.
	d := Default()
	e, err := Parse("cluster.toml", nil)
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	e.File = ""
	if !reflect.DeepEqual(d, e) {
		t.Errorf("Default() = %+v\nempty file = %+v", d, e)
	}
	if host, _ := os.Hostname(); d.Node.Name != host || d.Node.DataDir != filepath.Join("data", host) {
		t.Errorf("node = %+v, want named after the host %q", d.Node, host)
	}
}

func TestFenceMarginDefault(t *testing.T) {
	tests := []struct{ ttl, margin, want string }{
		{"10s", "", "2s"},
		{"1s", "", "200ms"},
		{"30s", "", "6s"},
		{"10s", "3s", "3s"},
		{"10s", "0s", "2s"}, // 0 means the default
	}
	for _, tt := range tests {
		data := "[node]\nname = \"n\"\n[quorum]\nlease_ttl = \"" + tt.ttl + "\"\n"
		if tt.margin != "" {
			data += "fence_margin = \"" + tt.margin + "\"\n"
		}
		data += "[quorum.embedded]\nelection = \"600ms\"\n" // etcd grants 1s leases
		c, err := Parse("cluster.toml", []byte(data))
		if err != nil {
			t.Fatalf("%+v: %v", tt, err)
		}
		if c.Quorum.FenceMargin != dur(tt.want) {
			t.Errorf("%+v: fence margin %s", tt, c.Quorum.FenceMargin)
		}
	}
}

func TestRecords(t *testing.T) {
	c, err := Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	types, groups, resources := c.Records()
	if len(types) != 2 || len(groups) != 2 || len(resources) != 5 {
		t.Fatalf("got %d types, %d groups, %d resources", len(types), len(groups), len(resources))
	}

	genapp := model.DefaultProperties()
	genapp.PendingTimeout = dur("90s")
	genapp.RestartThreshold = 5
	genapp.LooksAlivePollInterval = dur("2s")
	if types[0].Defaults != genapp {
		t.Errorf("type defaults = %+v\nwant %+v", types[0].Defaults, genapp)
	}
	if types[0].SHA256 != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("sha256 not lower-cased: %s", types[0].SHA256)
	}
	if types[1].Defaults != model.DefaultProperties() || types[1].MemoryLimitPages != 256 || len(types[1].Capabilities.Commands) != 3 {
		t.Errorf("wasm type = %+v", types[1])
	}

	data := model.Group{
		Name: "data", PreferredOwners: []string{"node1", "node2"}, FailoverThreshold: 2,
		FailoverPeriod: dur("3h"), AutoFailbackType: model.FailbackAllow,
		FailbackWindowStart: 22, FailbackWindowEnd: 4, PersistentState: true, Priority: 2000,
	}
	if !reflect.DeepEqual(groups[0], data) {
		t.Errorf("group = %+v\nwant %+v", groups[0], data)
	}
	if !reflect.DeepEqual(groups[1], model.DefaultGroup("web")) {
		t.Errorf("group = %+v, want the defaults", groups[1])
	}

	// Properties: resource override, else the type's defaults, else Windows'.
	disk := genapp
	disk.RestartAction = model.RestartOnly
	disk.RestartDelay = 0
	disk.SeparateMonitor = true
	ipA := model.DefaultProperties()
	ipA.IsAlivePollInterval = dur("30s")
	netName := genapp
	netName.PendingTimeout = dur("2m")
	netName.RestartPeriod = dur("10m")
	netName.RetryPeriodOnFailure = dur("30m")
	netName.DeadlockTimeout = dur("4m")
	wantProps := []model.Properties{disk, ipA, model.DefaultProperties(), netName, genapp}
	for i, r := range resources {
		if r.Properties != wantProps[i] {
			t.Errorf("resource %q properties = %+v\nwant %+v", r.Name, r.Properties, wantProps[i])
		}
	}

	if resources[0].ID != "6f1c2a0e-5b7d-4e8f-9a3b-2c4d6e8f0a1b" {
		t.Errorf("id not normalised: %q", resources[0].ID)
	}
	if resources[1].ID != "" {
		t.Errorf("id without an id key = %q, want empty", resources[1].ID)
	}
	if got := resources[0].RegistryCheckpoints; !reflect.DeepEqual(got, []string{`SOFTWARE\Vendor\Disk`}) {
		t.Errorf("registry checkpoints = %q", got)
	}
	nn := resources[3]
	if want := [][]string{{"Disk P"}, {"IP A", "IP B"}}; !reflect.DeepEqual(nn.Dependencies, want) {
		t.Errorf("dependencies = %q, want %q (spelled as the resources)", nn.Dependencies, want)
	}
	if want := []string{`1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`}; !reflect.DeepEqual(nn.CryptoCheckpoints, want) {
		t.Errorf("crypto checkpoints = %q", nn.CryptoCheckpoints)
	}
	if resources[4].Dependencies != nil || resources[4].Private != nil {
		t.Errorf("empty dependencies/private = %#v %#v, want nil", resources[4].Dependencies, resources[4].Private)
	}

	// The records share nothing with the Config.
	resources[0].Private["Env"].(map[string]any)["MODE"] = "changed"
	resources[0].Private["Ports"].([]any)[0] = 1
	groups[0].PreferredOwners[0] = "changed"
	if c.Resources[0].Private["Env"].(map[string]any)["MODE"] != "primary" ||
		c.Resources[0].Private["Ports"].([]any)[0] != int64(8080) || c.Groups[0].PreferredOwners[0] != "node1" {
		t.Error("records share memory with the Config")
	}
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("pw", "s3cret\n")
	write("cluster.toml", `
[node]
name = "n"
[quorum]
mode = "external"
dial_timeout = "2s"
[quorum.external]
endpoints = ["https://etcd1:2379", "https://etcd2:2379"]
ca_file = "ca.pem"
cert_file = "/pki/n.pem"
key_file = "/pki/n-key.pem"
username = "resmon"
password_file = "pw"
`)
	c, err := Load(filepath.Join(dir, "cluster.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := c.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := quorum.ClientConfig{
		Endpoints: []string{"https://etcd1:2379", "https://etcd2:2379"}, DialTimeout: 2 * time.Second,
		CAFile: filepath.Join(dir, "ca.pem"), CertFile: "/pki/n.pem", KeyFile: "/pki/n-key.pem",
		Username: "resmon", Password: "s3cret", Prefix: "/resmon/resmon/",
	}
	if !reflect.DeepEqual(cc, want) {
		t.Errorf("ClientConfig = %+v\nwant %+v", cc, want)
	}

	write("pw", "\n")
	if _, err := c.ClientConfig(); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty password file: err = %v", err)
	}
	os.Remove(filepath.Join(dir, "pw"))
	if _, err := c.ClientConfig(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing password file: err = %v", err)
	}

	// Embedded: the node's certificate, or an operator's, from the PKI.
	e := Default()
	e.Node.Name, e.Cluster.PKIDir = "vm", "/pki"
	cc, err = e.ClientConfig()
	want = quorum.ClientConfig{Endpoints: []string{DefaultClientURL}, DialTimeout: 5 * time.Second, Prefix: "/resmon/resmon/",
		CAFile: "/pki/ca.pem", CertFile: "/pki/nodes/vm.pem", KeyFile: "/pki/nodes/vm-key.pem"}
	if err != nil || !reflect.DeepEqual(cc, want) {
		t.Errorf("embedded ClientConfig = %+v, %v", cc, err)
	}
	cc, err = e.OperatorClientConfig("alice")
	want.CertFile, want.KeyFile = "/pki/operators/alice.pem", "/pki/operators/alice-key.pem"
	if err != nil || !reflect.DeepEqual(cc, want) {
		t.Errorf("operator ClientConfig = %+v, %v", cc, err)
	}
	// A plaintext member (insecure_plaintext): no certificates.
	e.Quorum.Embedded.ClientURL = "http://127.0.0.1:2379"
	if cc, _ := e.OperatorClientConfig("alice"); cc.CAFile != "" || cc.CertFile != "" {
		t.Errorf("plaintext operator ClientConfig = %+v", cc)
	}
}

func TestEmbedConfig(t *testing.T) {
	c, err := Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := quorum.EmbedConfig{
		Name: "node1", DataDir: "/var/lib/resmon/node1/etcd",
		ClientURL: "https://10.0.0.1:2379", PeerURL: "https://10.0.0.1:2380",
		Peers:        map[string]string{"node1": "https://10.0.0.1:2380", "node2": "https://10.0.0.2:2380", "node3": "https://10.0.0.3:2380"},
		ClusterToken: "lab-token", TickMs: 50, ElectionMs: 500,
		TLS: &quorum.MemberTLS{CAFile: "/var/lib/resmon/node1/pki/ca.pem", CertFile: "/var/lib/resmon/node1/pki/nodes/node1.pem",
			KeyFile: "/var/lib/resmon/node1/pki/nodes/node1-key.pem", PeerHostname: pki.NodeMarker},
	}
	got := c.EmbedConfig()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EmbedConfig = %+v\nwant %+v", got, want)
	}
	got.Peers["node1"] = "x"
	if c.Quorum.Embedded.Peers["node1"] == "x" {
		t.Error("EmbedConfig shares its peers with the Config")
	}
	if d := Default().EmbedConfig(); d.Peers != nil || d.TickMs != 50 || d.ElectionMs != 500 {
		t.Errorf("default EmbedConfig = %+v", d)
	}
}

func TestCryptoKey(t *testing.T) {
	dir := t.TempDir()
	raw := []byte("0123456789abcdef0123456789ABCDEF")
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []byte
		err     string
	}{
		{"raw", string(raw), 0o600, raw, ""},
		{"hex", "3031323334353637383961626364656630313233343536373839414243444546\n", 0o400, raw, ""},
		{"short", "abc", 0o600, nil, "must hold 32 bytes, or 64 hexadecimal digits; it holds 3 bytes"},
		{"bad hex", strings.Repeat("zz", 32), 0o600, nil, "must hold 32 bytes"},
		{"readable", string(raw), 0o644, nil, "accessible by group or others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			c := &Config{Cluster: Cluster{CryptoKeyFile: path}}
			key, err := c.CryptoKey()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(key) != string(tt.want) {
				t.Fatalf("key = %q, %v", key, err)
			}
		})
	}
	if key, err := (&Config{}).CryptoKey(); key != nil || err != nil {
		t.Errorf("no key file: %q, %v", key, err)
	}
}

func TestAdminAddr(t *testing.T) {
	tests := []struct {
		admin, network, addr, err string
	}{
		{"unix:/run/resmon/admin.sock", "unix", "/run/resmon/admin.sock", ""},
		{"tcp:127.0.0.1:7401", "tcp", "127.0.0.1:7401", ""},
		{"tcp:[::1]:7401", "tcp", "[::1]:7401", ""},
		{"tcp::7401", "tcp", ":7401", ""},
		{"tcp:host:0", "", "", `port "0" is not a number from 1 to 65535`},
		{"unix:/" + strings.Repeat("x", 107), "", "", "Linux allows at most 107"},
		{"/run/admin.sock", "", "", "expected unix:PATH or tcp:HOST:PORT"},
	}
	for _, tt := range tests {
		network, addr, err := Node{Admin: tt.admin}.AdminAddr()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.admin, err, tt.err)
			}
			continue
		}
		if err != nil || network != tt.network || addr != tt.addr {
			t.Errorf("%q: %q %q %v", tt.admin, network, addr, err)
		}
	}
}

func TestRegistryPath(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{`SOFTWARE\Vendor`, `SOFTWARE\Vendor`, ""},
		{`\SOFTWARE\Vendor`, `SOFTWARE\Vendor`, ""},
		{`SOFTWARE`, `SOFTWARE`, ""},
		{`SOFTWARE\Ven dor\x.y`, `SOFTWARE\Ven dor\x.y`, ""},
		{`\\SOFTWARE`, "", "empty key name"},
		{``, "", "is not a registry path"},
		{`SOFTWARE/Vendor`, "", "separated by backslashes"},
		{"SOFTWARE\\\x01", "", "control characters"},
		{`HKEY_LOCAL_MACHINE\SOFTWARE`, "", "relative to the machine root"},
		{`SOFTWARE\` + strings.Repeat("k", 256), "", "longer than 255 bytes"},
	}
	for _, tt := range tests {
		got, err := RegistryPath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v", tt.in, got, err)
		}
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "c.toml", Path: `group "g"`, Key: "priority", Msg: "bad"}, `c.toml: group "g": priority: bad`},
		{Problem{File: "c.toml", Path: `group "g"`, Msg: "bad"}, `c.toml: group "g": bad`},
		{Problem{File: "c.toml", Msg: "bad"}, `c.toml: bad`},
		{Problem{File: "c.toml", Line: 3, Column: 9, Msg: "bad"}, `c.toml:3:9: bad`},
		{Problem{File: "c.toml", Line: 3, Msg: "bad"}, `c.toml:3: bad`},
		{Problem{Path: "node", Key: "name", Msg: "bad"}, `node: name: bad`},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
	if (&Error{}).Error() == "" {
		t.Error("an empty *Error prints nothing")
	}
}

// TestEncodeRoundTrip: a Config written back with the TOML encoder reads the
// same, so tools can generate cluster.toml from the types.
func TestEncodeRoundTrip(t *testing.T) {
	c, err := Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		t.Fatal(err)
	}
	back, err := Parse("/encoded.toml", []byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	back.File = c.File
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip differs:\n%+v\n%+v", back, c)
	}
}

func TestAdminTLSFilesAreRelativeToTheFile(t *testing.T) {
	data := "[node]\nname = \"n\"\nadmin = \"tcp:10.0.0.1:7401\"\nadmin_cert = \"tls/node.pem\"\nadmin_key = \"/etc/k.pem\"\nadmin_ca = \"ca.pem\"\n"
	c, err := Parse("/opt/resmon/cluster.toml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.AdminCert != "/opt/resmon/tls/node.pem" || c.Node.AdminKey != "/etc/k.pem" || c.Node.AdminCA != "/opt/resmon/ca.pem" {
		t.Fatalf("admin TLS files: %q %q %q", c.Node.AdminCert, c.Node.AdminKey, c.Node.AdminCA)
	}
}

// TestRelativePathsUnderEtc: relative paths of a file under /etc land in
// the state directory (data) and the library directory (types), never
// under /etc; elsewhere they stay relative to the file.
func TestRelativePathsUnderEtc(t *testing.T) {
	root := t.TempDir()
	oldEtc, oldState, oldLib := EtcDir, StateDir, LibDir
	EtcDir, StateDir, LibDir = filepath.Join(root, "etc"), filepath.Join(root, "var/lib/resmon"), filepath.Join(root, "usr/lib/resmon")
	t.Cleanup(func() { EtcDir, StateDir, LibDir = oldEtc, oldState, oldLib })
	t.Setenv("STATE_DIRECTORY", "")
	text := "[node]\nname = \"n1\"\n[[resource_type]]\nname = \"T\"\nkind = \"plugin\"\npath = \"genapp\"\n"
	for _, c := range []struct {
		dir, state         string
		wantData, wantType string
	}{
		{filepath.Join(root, "etc/resmon"), "", filepath.Join(root, "var/lib/resmon/data/n1"), filepath.Join(root, "usr/lib/resmon/genapp")},
		{filepath.Join(root, "etc/resmon"), "/srv/resmon", "/srv/resmon/data/n1", filepath.Join(root, "usr/lib/resmon/genapp")},
		{filepath.Join(root, "home/op"), "", filepath.Join(root, "home/op/data/n1"), filepath.Join(root, "home/op/genapp")},
	} {
		t.Setenv("STATE_DIRECTORY", c.state)
		os.MkdirAll(c.dir, 0o755)
		file := filepath.Join(c.dir, "cluster.toml")
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Node.DataDir != c.wantData || cfg.ResourceTypes[0].Path != c.wantType ||
			cfg.Cluster.PKIDir != filepath.Join(c.wantData, "pki") {
			t.Errorf("%s (STATE_DIRECTORY %q): data_dir %s, pki_dir %s, type path %s; want %s, %s", file, c.state,
				cfg.Node.DataDir, cfg.Cluster.PKIDir, cfg.ResourceTypes[0].Path, c.wantData, c.wantType)
		}
	}
}

// TestWebDefaults: a console with no certificate named serves the node's
// certificate of the cluster PKI and trusts the PKI's CA for operators.
func TestWebDefaults(t *testing.T) {
	c, err := Parse("/srv/c/cluster.toml", []byte("[node]\nname = \"n1\"\n[web]\nlisten = \"127.0.0.1:9443\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := pki.Dir("/srv/c/data/n1/pki")
	cert, key := d.NodeFiles("n1")
	if c.Web.CertFile != cert || c.Web.KeyFile != key || c.Web.ClientCA != d.CAFile() {
		t.Errorf("web certificate = %s, %s, CA %s; want %s, %s, %s", c.Web.CertFile, c.Web.KeyFile, c.Web.ClientCA, cert, key, d.CAFile())
	}
	if c.Web.SessionTTL.D() != DefaultWebSessionTTL {
		t.Errorf("session_ttl = %s, want %s", c.Web.SessionTTL, DefaultWebSessionTTL)
	}
}
