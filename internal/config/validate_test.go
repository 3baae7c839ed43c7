package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/resmon/resmon/model"
)

// res is a [[resource]] entry of type app with extra lines.
func res(name, group string, extra ...string) string {
	return "\n[[resource]]\nname = \"" + name + "\"\ntype = \"app\"\ngroup = \"" + group + "\"\n" + strings.Join(extra, "\n") + "\n"
}

// TestDependencyInOtherGroup pins the exact wording of this common mistake.
func TestDependencyInOtherGroup(t *testing.T) {
	data := baseTOML + res("Disk P", "other") + res("Network Name DATA", "data", `dependencies = ["Disk P"]`)
	_, err := Parse("cluster.toml", []byte(data))
	const want = `cluster.toml: resource "Network Name DATA": depends on "Disk P", which is in group "other"`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestDependencies(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"and of ors", res("a", "data") + res("b", "data") + res("c", "data", `dependencies = [["a"], ["B", "x"]]`), []string{
			`cluster.toml: resource "c": depends on "x", which is not a resource in this file`,
		}},
		{"or group", res("a", "data") + res("b", "data") + res("c", "data", `dependencies = [["a"], ["B", "a"]]`), []string{
			`cluster.toml: resource "c": dependencies: "a" is listed more than once`,
		}},
		{"and of ors", res("a", "data") + res("b", "data") + res("d", "data") + res("c", "data", `dependencies = [["a"], ["b", "D"]]`), nil},
		{"flat list", res("a", "data") + res("b", "data") + res("c", "data", `dependencies = ["a", "B"]`), nil},
		{"mixed", res("a", "data") + res("b", "data") + res("c", "data", `dependencies = ["a", ["b"]]`), nil},
		{"missing", res("a", "data", `dependencies = ["nope"]`), []string{
			`cluster.toml: resource "a": depends on "nope", which is not a resource in this file`,
		}},
		{"itself", res("a", "data", `dependencies = ["A"]`), []string{
			`cluster.toml: resource "a": depends on itself`,
		}},
		{"empty alternatives", res("a", "data") + res("b", "data", `dependencies = [[], [""]]`), []string{
			`cluster.toml: resource "b": dependencies: item 1 is an empty list of alternatives`,
			`cluster.toml: resource "b": dependencies: item 2 holds an empty resource name`,
		}},
		{"listed twice", res("a", "data") + res("b", "data", `dependencies = [["a"], ["x", "A"]]`), []string{
			`cluster.toml: resource "b": depends on "x", which is not a resource in this file`,
			`cluster.toml: resource "b": dependencies: "A" is listed more than once`,
		}},
		{"cycle", res("a", "data", `dependencies = ["b"]`) + res("b", "data", `dependencies = [["c", "d"]]`) +
			res("c", "data", `dependencies = ["a"]`) + res("d", "data"), []string{
			`cluster.toml: resource "a": dependency cycle: "a" -> "b" -> "c" -> "a"`,
		}},
		{"cycle found from the middle", res("x", "data", `dependencies = ["b"]`) + res("a", "data", `dependencies = ["b"]`) +
			res("b", "data", `dependencies = ["a"]`), []string{
			`cluster.toml: resource "a": dependency cycle: "a" -> "b" -> "a"`,
		}},
		{"two cycles", res("a", "data", `dependencies = ["b"]`) + res("b", "data", `dependencies = ["a"]`) +
			res("c", "other", `dependencies = ["d"]`) + res("d", "other", `dependencies = ["c"]`), []string{
			`cluster.toml: resource "a": dependency cycle: "a" -> "b" -> "a"`,
			`cluster.toml: resource "c": dependency cycle: "c" -> "d" -> "c"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, baseTOML+tt.toml, tt.want) })
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		toml string // added to baseTOML
		want []string
	}{
		{"duplicate names", `
[[resource_type]]
name = "APP"
kind = "plugin"
path = "x"
[[group]]
name = "data"
` + res("r", "data") + res("R", "data"), []string{
			`cluster.toml: resource_type "APP": name: "APP" is also the name of resource_type #1 ("app")`,
			`cluster.toml: group "data": name: "data" is also the name of group #1`,
			`cluster.toml: resource "R": name: "R" is also the name of resource #1 ("r"); resource names are case-insensitive`,
		}},
		{"bad names", `
[[group]]
name = "a/b"
[[group]]
name = " padded"
[[group]]
name = ".."
[[group]]
preferred_owners = []
`, []string{
			`cluster.toml: group "a/b": name: "a/b" must not contain '/' (names are etcd key segments)`,
			`cluster.toml: group " padded": name: " padded" has leading or trailing spaces`,
			`cluster.toml: group "..": name: ".." is not a usable name`,
			`cluster.toml: group #6: name: is required`,
		}},
		{"unknown type and group", res("r", "Data") + "\n[[resource]]\nname = \"s\"\ntype = \"nope\"\ngroup = \"data\"\n" +
			"\n[[resource]]\nname = \"t\"\n", []string{
			`cluster.toml: resource "r": group: unknown group "Data" (did you mean "data"?)`,
			`cluster.toml: resource "s": type: unknown resource type "nope"`,
			`cluster.toml: resource "t": type: is required`,
			`cluster.toml: resource "t": group: is required`,
		}},
		{"resource type", `
[[resource_type]]
name = "t1"
kind = "dll"
path = ""
sha256 = "abc"
[[resource_type]]
name = "t2"
kind = "plugin"
path = "p"
memory_limit_pages = 10
sha256 = "zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
[resource_type.capabilities]
dirs = ["/tmp"]
[[resource_type]]
name = "t3"
kind = "wasm"
path = "w.wasm"
memory_limit_pages = 70000
[resource_type.capabilities]
commands = [" "]
[resource_type.defaults]
restart_action = 3
pending_timeout = "0s"
`, []string{
			`cluster.toml: resource_type "t1": kind: must be plugin or wasm, got "dll"`,
			`cluster.toml: resource_type "t1": path: is required`,
			`cluster.toml: resource_type "t1": sha256: must be 64 hexadecimal digits, got "abc"`,
			`cluster.toml: resource_type "t2": sha256: must be 64 hexadecimal digits, got "zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"`,
			`cluster.toml: resource_type "t2": memory_limit_pages: applies to wasm resource types only`,
			`cluster.toml: resource_type "t2": capabilities: apply to wasm resource types only`,
			`cluster.toml: resource_type "t3": memory_limit_pages: 70000 is more than 65536 pages (4 GiB, the wasm32 limit)`,
			`cluster.toml: resource_type "t3": capabilities.commands: item 1 is empty`,
			`cluster.toml: resource_type "t3": defaults.pending_timeout: must be greater than 0`,
			`cluster.toml: resource_type "t3": defaults.restart_action: must be 0 (no restart), 1 (restart only) or 2 (restart, then fail the group over), got 3`,
		}},
		{"properties", res("r", "data",
			`restart_action = -1`, `restart_threshold = -2`, `restart_period = "0s"`, `restart_delay = "0s"`,
			`looks_alive_poll_interval = "0s"`, `is_alive_poll_interval = "0ms"`, `retry_period_on_failure = "0h"`,
			`deadlock_timeout = "0s"`), []string{
			`cluster.toml: resource "r": restart_action: must be 0 (no restart), 1 (restart only) or 2 (restart, then fail the group over), got -1`,
			`cluster.toml: resource "r": restart_threshold: must not be negative, got -2`,
			`cluster.toml: resource "r": restart_period: must be greater than 0`,
			`cluster.toml: resource "r": looks_alive_poll_interval: must be greater than 0`,
			`cluster.toml: resource "r": is_alive_poll_interval: must be greater than 0`,
			`cluster.toml: resource "r": retry_period_on_failure: must be greater than 0`,
			`cluster.toml: resource "r": deadlock_timeout: must be greater than 0`,
		}},
		{"group", `
[[group]]
name = "g"
preferred_owners = ["n1", "n2", "n1", "x/y"]
failover_threshold = -1
failover_period = "0s"
auto_failback = "always"
failback_window_start = 24
failback_window_end = -2
priority = -5
[[group]]
name = "h"
failback_window_start = 3
[[group]]
name = "i"
failover_threshold = 0
failback_window_start = 0
failback_window_end = 23
`, []string{
			`cluster.toml: group "g": preferred_owners: "n1" is listed twice`,
			`cluster.toml: group "g": preferred_owners: node name "x/y": "x/y" must not contain '/' (names are etcd key segments)`,
			`cluster.toml: group "g": failover_threshold: must not be negative, got -1 (leave it out for nodes - 1)`,
			`cluster.toml: group "g": failover_period: must be greater than 0`,
			`cluster.toml: group "g": auto_failback: must be prevent or allow, got "always"`,
			`cluster.toml: group "g": failback_window_start: must be an hour 0-23, or -1 for none; got 24`,
			`cluster.toml: group "g": failback_window_end: must be an hour 0-23, or -1 for none; got -2`,
			`cluster.toml: group "g": priority: must not be negative, got -5`,
			`cluster.toml: group "h": failback_window_start and failback_window_end must both be hours, or both -1 for no window`,
		}},
		{"ids", res("a", "data", `id = "not-a-guid"`) + res("b", "data", `id = "00000000-0000-0000-0000-000000000000"`) +
			res("c", "data", `id = "6F1C2A0E-5B7D-4E8F-9A3B-2C4D6E8F0A1B"`) + res("d", "data", `id = "{6f1c2a0e-5b7d-4e8f-9a3b-2c4d6e8f0a1b}"`), []string{
			`cluster.toml: resource "a": id: "not-a-guid" is not a GUID (like 6f1c2a0e-5b7d-4e8f-9a3b-2c4d6e8f0a1b)`,
			`cluster.toml: resource "b": id: must not be the nil GUID`,
			`cluster.toml: resource "d": id: is also the id of resource "c"`,
		}},
		{"possible owners", res("r", "data", `possible_owners = ["n1", "n1", ""]`), []string{
			`cluster.toml: resource "r": possible_owners: "n1" is listed twice`,
			`cluster.toml: resource "r": possible_owners: node name "": is required`,
		}},
		{"registry checkpoints", res("a", "data", `registry_checkpoints = ['\SOFTWARE\A', '', '\', 'SOFTWARE/B', 'SOFTWARE\\C', 'SOFTWARE\D\', 'HKLM\SOFTWARE\E', 'software\a\sub']`) +
			res("b", "data", `registry_checkpoints = ['SOFTWARE\a', 'SOFTWARE']`) + res("c", "data", `registry_checkpoints = ['SYSTEM\X', 'SYSTEM\Y']`), []string{
			`cluster.toml: resource "a": registry_checkpoints: "" is not a registry path`,
			`cluster.toml: resource "a": registry_checkpoints: "\\" is not a registry path`,
			`cluster.toml: resource "a": registry_checkpoints: "SOFTWARE/B" contains '/': registry paths are separated by backslashes, like SOFTWARE\Vendor\App`,
			`cluster.toml: resource "a": registry_checkpoints: "SOFTWARE\\\\C" has an empty key name (a doubled or trailing backslash)`,
			`cluster.toml: resource "a": registry_checkpoints: "SOFTWARE\\D\\" has an empty key name (a doubled or trailing backslash)`,
			`cluster.toml: resource "a": registry_checkpoints: "HKLM\\SOFTWARE\\E": checkpoint paths are relative to the machine root; leave out HKLM`,
			`cluster.toml: resource "a": registry_checkpoints: "software\\a\\sub" is inside "SOFTWARE\\A", which this resource already checkpoints`,
			`cluster.toml: resource "b": registry_checkpoints: "SOFTWARE\\a" is already checkpointed by resource "a"`,
			`cluster.toml: resource "b": registry_checkpoints: "SOFTWARE" contains "SOFTWARE\\A", which resource "a" already checkpoints`,
		}},
		{"crypto checkpoints", "[cluster]\ncrypto_key_file = \"k\"\n" +
			res("a", "data", `crypto_checkpoints = ['1\Prov\C1', '1\Prov', '1\\C', '1\P\C\D', '1\prov\c1']`) +
			res("b", "data", `crypto_checkpoints = ['1\PROV\C1']`), []string{
			`cluster.toml: resource "a": crypto_checkpoints: "1\\Prov" is not a key container name of the form Type\Provider\Container`,
			`cluster.toml: resource "a": crypto_checkpoints: "1\\\\C" is not a key container name of the form Type\Provider\Container`,
			`cluster.toml: resource "a": crypto_checkpoints: "1\\P\\C\\D" is not a key container name of the form Type\Provider\Container`,
			`cluster.toml: resource "a": crypto_checkpoints: "1\\prov\\c1" is already checkpointed by this resource`,
			`cluster.toml: resource "b": crypto_checkpoints: "1\\PROV\\C1" is already checkpointed by resource "a"`,
		}},
		{"crypto checkpoints need a key", res("a", "data", `crypto_checkpoints = ['1\P\C']`) + res("b", "data", `crypto_checkpoints = ['1\P\D']`), []string{
			`cluster.toml: resource "a": crypto_checkpoints: need cluster.crypto_key_file, the key that encrypts them in the quorum`,
		}},
		{"node and log", `
[cluster]
name = "a/b"
[log]
level = "verbose"
format = "xml"
`, []string{
			`cluster.toml: cluster: name: "a/b" must not contain '/' (names are etcd key segments)`,
			`cluster.toml: log: level: must be trace, debug, info, warn or error, got "verbose"`,
			`cluster.toml: log: format: must be text or json, got "xml"`,
		}},
		{"quorum timings", `
[quorum]
mode = "raft"
lease_ttl = "1500ms"
dial_timeout = "0s"
fence_margin = "1s"
[quorum.embedded]
heartbeat = "100ms"
election = "400ms"
cluster_token = ""
`, []string{
			`cluster.toml: quorum: mode: must be embedded or external, got "raft"`,
			`cluster.toml: quorum: lease_ttl: must be a whole number of seconds (etcd leases count seconds), got 1.5s`,
			`cluster.toml: quorum: dial_timeout: must be greater than 0`,
			`cluster.toml: quorum: fence_margin: 1s is more than half of lease_ttl (1.5s)`,
			`cluster.toml: quorum.embedded: election: 400ms must be at least 5 heartbeats (500ms)`,
			`cluster.toml: quorum.embedded: cluster_token: must not be empty`,
		}},
		{"more timings", `
[quorum]
lease_ttl = "500ms"
[quorum.embedded]
heartbeat = "1500us"
election = "60s"
`, []string{
			`cluster.toml: quorum: lease_ttl: must be at least 1s, got 500ms`,
			`cluster.toml: quorum.embedded: heartbeat: must be a whole number of milliseconds, got 1.5ms`,
			`cluster.toml: quorum.embedded: election: 1m0s is more than etcd's limit of 50s`,
		}},
		{"embedded urls", `
[quorum.embedded]
client_url = "ftp://127.0.0.1:2379"
peer_url = "https://node1.example:2380"
[quorum.embedded.peers]
node2 = "https://10.0.0.2"
node3 = "https://10.0.0.2:2380"
node4 = "https://10.0.0.2:2380"
`, []string{
			`cluster.toml: quorum.embedded: client_url: "ftp://127.0.0.1:2379": expected https://HOST:PORT`,
			`cluster.toml: quorum.embedded: peer_url: "https://node1.example:2380": this member listens there, so the host must be an IP address or localhost`,
			`cluster.toml: quorum.embedded.peers: node2: "https://10.0.0.2": expected https://HOST:PORT`,
			`cluster.toml: quorum.embedded.peers: node4: "https://10.0.0.2:2380" is also the peer URL of "node3"`,
			`cluster.toml: quorum.embedded: peers: must include this node, "node1", when set`,
		}},
		{"plaintext embedded", `
[quorum.embedded]
client_url = "http://0.0.0.0:2379"
peer_url = "http://127.0.0.1:2380"
[quorum.embedded.peers]
node1 = "http://127.0.0.1:2380"
node2 = "http://10.0.0.2:2380"
`, []string{
			`cluster.toml: quorum.embedded: client_url: "http://0.0.0.0:2379" is plaintext on an address other machines can reach: use https:// (TLS with client certificates)`,
			`cluster.toml: quorum.embedded: peer_url: "http://127.0.0.1:2380" is plaintext: every local user could read and change the cluster database; use https://, or set quorum.insecure_plaintext = true to accept that`,
			`cluster.toml: quorum.embedded.peers: node1: "http://127.0.0.1:2380" is plaintext: every local user could read and change the cluster database; use https://, or set quorum.insecure_plaintext = true to accept that`,
			`cluster.toml: quorum.embedded.peers: node2: "http://10.0.0.2:2380" is plaintext on an address other machines can reach: use https:// (TLS with client certificates)`,
		}},
		{"insecure_plaintext allows loopback only", `
[quorum]
insecure_plaintext = true
[quorum.embedded]
client_url = "http://[::]:2379"
peer_url = "http://localhost:2380"
`, []string{
			`cluster.toml: quorum.embedded: client_url: "http://[::]:2379" is plaintext on an address other machines can reach: use https:// (TLS with client certificates)`,
		}},
		{"insecure_plaintext on loopback", `
[quorum]
insecure_plaintext = true
[quorum.embedded]
client_url = "http://127.0.0.1:2379"
peer_url = "http://127.0.0.1:2380"
`, nil},
		{"peer url mismatch", `
[quorum.embedded]
peer_url = "https://10.0.0.9:2380"
[quorum.embedded.peers]
node1 = "https://10.0.0.1:2380"
node2 = "https://10.0.0.2:2380"
`, []string{
			`cluster.toml: quorum.embedded: peer_url: "https://10.0.0.9:2380" differs from this node's entry in peers, "https://10.0.0.1:2380"`,
		}},
		{"peer url from peers", `
[quorum.embedded.peers]
node1 = "https://10.0.0.1:2380"
node2 = "https://10.0.0.2:2380"
`, nil},
		{"join without peers", "[quorum.embedded]\njoin = true\n", []string{
			`cluster.toml: quorum.embedded: join: needs peers: every member of the running cluster, this node included`,
		}},
		{"same url twice", "[quorum.embedded]\nclient_url = \"https://127.0.0.1:2380\"\n", []string{
			`cluster.toml: quorum.embedded: peer_url: must differ from client_url`,
		}},
		{"external needs endpoints", "[quorum]\nmode = \"external\"\n", []string{
			`cluster.toml: quorum.external: endpoints: at least one etcd endpoint is required in external mode`,
		}},
		{"external", `
[quorum]
mode = "external"
[quorum.external]
endpoints = ["https://etcd1:2379", "etcd2", "ftp://x:1", "https://etcd1:2379", "https://:2379", "etcd3:99999", "unixs:///run/etcd.sock"]
cert_file = "c.pem"
password = "p"
password_file = "pf"
`, []string{
			`cluster.toml: quorum.external: endpoints: item 2: "etcd2": expected a URL such as https://etcd1:2379, or HOST:PORT`,
			`cluster.toml: quorum.external: endpoints: item 3: "ftp://x:1": the scheme must be https, unixs, or with insecure_plaintext http or unix`,
			`cluster.toml: quorum.external: endpoints: "https://etcd1:2379" is listed twice`,
			`cluster.toml: quorum.external: endpoints: item 5: "https://:2379" has no host`,
			`cluster.toml: quorum.external: endpoints: item 6: port "99999" is not a number from 1 to 65535`,
			`cluster.toml: quorum.external: cert_file and key_file must be given together`,
			`cluster.toml: quorum.external: password and password_file are exclusive; give one`,
			`cluster.toml: quorum.external: username: is required with a password`,
		}},
		{"external plaintext and a password over it", `
[quorum]
mode = "external"
[quorum.external]
endpoints = ["http://10.0.0.5:2379", "http://127.0.0.1:2379", "unix:///run/etcd.sock", "127.0.0.1:2379"]
username = "resmon"
password_file = "pf"
`, []string{
			`cluster.toml: quorum.external: endpoints: item 1: "http://10.0.0.5:2379" is plaintext on an address other machines can reach: use https:// (TLS with client certificates)`,
			`cluster.toml: quorum.external: endpoints: item 2: "http://127.0.0.1:2379" is plaintext: every local user could read and change the cluster database; use https://, or set quorum.insecure_plaintext = true to accept that`,
			`cluster.toml: quorum.external: endpoints: item 3: "unix:///run/etcd.sock" is plaintext: use unixs://, or set quorum.insecure_plaintext = true to accept that`,
			`cluster.toml: quorum.external: endpoints: item 4: "127.0.0.1:2379" is plaintext: every local user could read and change the cluster database; use https://, or set quorum.insecure_plaintext = true to accept that`,
			`cluster.toml: quorum.external: password_file: the password would cross "http://10.0.0.5:2379" in clear: use https:// endpoints, or set quorum.insecure_plaintext = true to accept that`,
		}},
		{"external insecure_plaintext: loopback and a socket only", `
[quorum]
mode = "external"
insecure_plaintext = true
[quorum.external]
endpoints = ["http://10.0.0.5:2379", "http://127.0.0.1:2379", "unix:///run/etcd.sock"]
username = "resmon"
password = "p"
`, []string{
			`cluster.toml: quorum.external: endpoints: item 1: "http://10.0.0.5:2379" is plaintext on an address other machines can reach: use https:// (TLS with client certificates)`,
		}},
		{"external HOST:PORT is TLS with a CA file", `
[quorum]
mode = "external"
[quorum.external]
endpoints = ["etcd1:2379"]
ca_file = "ca.pem"
username = "resmon"
password = "p"
`, nil},
		{"username without password", "[quorum.external]\nusername = \"u\"\n", []string{
			`cluster.toml: quorum.external: username "u" needs password or password_file`,
		}},
		{"events", "[events]\nmax_entries = 0\nmax_age = \"0s\"\n", []string{
			`cluster.toml: events: max_entries: must be at least 1, got 0`,
			`cluster.toml: events: max_age: must be greater than 0`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, baseTOML+tt.toml, tt.want)
		})
	}
}

func TestNodeSection(t *testing.T) {
	tests := []struct {
		name string
		toml string // the whole file
		want []string
	}{
		{"admin", "[node]\nname = \"n\"\nadmin = \"http://x\"\n", []string{
			`cluster.toml: node: admin: "http://x": expected unix:PATH or tcp:HOST:PORT`,
		}},
		{"admin tcp", "[node]\nname = \"n\"\nadmin = \"tcp:localhost\"\n", []string{
			`cluster.toml: node: admin: "tcp:localhost": expected tcp:HOST:PORT`,
		}},
		{"admin unix", "[node]\nname = \"n\"\nadmin = \"unix:\"\n", []string{
			`cluster.toml: node: admin: "unix:": the socket path is missing`,
		}},
		{"admin tcp without TLS", "[node]\nname = \"n\"\nadmin = \"tcp:0.0.0.0:7401\"\n", []string{
			`cluster.toml: node: admin: "tcp:0.0.0.0:7401" needs mutual TLS, on loopback too (any local user can connect to it): set admin_cert, admin_key and admin_ca, or use a unix: socket`,
		}},
		{"admin tcp loopback without TLS", "[node]\nname = \"n\"\nadmin = \"tcp:[::1]:7401\"\n", []string{
			`cluster.toml: node: admin: "tcp:[::1]:7401" needs mutual TLS, on loopback too (any local user can connect to it): set admin_cert, admin_key and admin_ca, or use a unix: socket`,
		}},
		{"admin tcp localhost without TLS", "[node]\nname = \"n\"\nadmin = \"tcp:localhost:7401\"\n", []string{
			`cluster.toml: node: admin: "tcp:localhost:7401" needs mutual TLS, on loopback too (any local user can connect to it): set admin_cert, admin_key and admin_ca, or use a unix: socket`,
		}},
		{"admin tcp with TLS", "[node]\nname = \"n\"\nadmin = \"tcp:10.0.0.1:7401\"\nadmin_cert = \"c.pem\"\nadmin_key = \"k.pem\"\nadmin_ca = \"ca.pem\"\n", nil},
		{"admin TLS incomplete", "[node]\nname = \"n\"\nadmin = \"tcp:10.0.0.1:7401\"\nadmin_cert = \"c.pem\"\n", []string{
			`cluster.toml: node: admin_cert: admin_cert, admin_key and admin_ca go together: set all three or none`,
		}},
		{"admin TLS on a socket", "[node]\nname = \"n\"\nadmin = \"unix:/run/a.sock\"\nadmin_cert = \"c.pem\"\nadmin_key = \"k.pem\"\nadmin_ca = \"ca.pem\"\n", []string{
			`cluster.toml: node: admin_cert: mutual TLS applies to a tcp: admin address; "unix:/run/a.sock" is a unix socket, guarded by its file mode`,
		}},
		{"name", "[node]\nname = \"..\"\n", []string{
			`cluster.toml: node: name: ".." is not a usable name`,
		}},
		{"empty name", "[node]\nname = \"\"\ndata_dir = \"d\"\n", []string{
			`cluster.toml: node: name: is required`,
		}},
		{"web on loopback", "[node]\nname = \"n\"\n[web]\nlisten = \"127.0.0.1:9443\"\n", nil},
		{"web off loopback", "[node]\nname = \"n\"\n[web]\nlisten = \"0.0.0.0:9443\"\n", []string{
			`cluster.toml: web: listen: "0.0.0.0:9443" can be reached from other hosts: set web.allow_remote = true to serve the console there (HTTPS with operator certificates or login codes), or listen on 127.0.0.1`,
		}},
		{"web off loopback allowed", "[node]\nname = \"n\"\n[web]\nlisten = \"10.0.0.1:9443\"\nallow_remote = true\n", nil},
		{"web address", "[node]\nname = \"n\"\n[web]\nlisten = \"9443\"\nsession_ttl = \"1s\"\n", []string{
			`cluster.toml: web: listen: "9443": expected HOST:PORT such as 127.0.0.1:9443`,
			`cluster.toml: web: session_ttl: must be at least 1m, got 1s`,
		}},
		{"web certificate half", "[node]\nname = \"n\"\n[web]\nlisten = \"127.0.0.1:9443\"\ncert_file = \"c.pem\"\n", []string{
			`cluster.toml: web: cert_file: cert_file and key_file go together`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.toml, tt.want) })
	}
}

// TestEveryProblemAtOnce: a file with problems in every part gives one error
// that lists them all.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := Load("testdata/invalid.toml")
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want an *Error", err)
	}
	want := []string{
		`testdata/invalid.toml: unknown key "resources" (did you mean "resource"?)`,
		`testdata/invalid.toml: node: unknown key "datadir" (did you mean "data_dir"?)`,
		`testdata/invalid.toml: quorum: lease_ttl: expected a duration string such as "5s" or "500ms", got integer 10`,
		`testdata/invalid.toml: quorum.external: unknown key "password-file" (did you mean "password_file"?)`,
		`testdata/invalid.toml: resource "Network Name DATA": restart_action: expected an integer, got string "restart"`,
		`testdata/invalid.toml: quorum.external: endpoints: at least one etcd endpoint is required in external mode`,
		`testdata/invalid.toml: resource_type "Generic Application": kind: must be plugin or wasm, got "dll"`,
		`testdata/invalid.toml: group "data": preferred_owners: "node1" is listed twice`,
		`testdata/invalid.toml: resource "Network Name DATA": depends on "Disk P", which is in group "other"`,
		`testdata/invalid.toml: resource "Network Name DATA": depends on "IP C", which is not a resource in this file`,
	}
	got := problemStrings(ce)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateInCode(t *testing.T) {
	c := Default()
	c.Node.Name = "n1"
	if err := c.Validate(); err != nil {
		t.Fatalf("Default: %v", err)
	}
	c.Groups = append(c.Groups, Group{Name: "g"})
	c.Resources = append(c.Resources, Resource{Name: "r", Type: "missing", Group: "g"})
	bad := model.Duration(-1)
	c.Resources[0].RestartDelay = &bad
	err := c.Validate()
	const want = "resource \"r\": type: unknown resource type \"missing\"\nresource \"r\": restart_delay: must not be negative"
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestCapabilities: what a WASM type is granted must be named exactly and,
// when the file is loaded, exist on this machine; every problem is listed
// at once, naming the file, the type and the entry.
func TestCapabilities(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "tool") // executable
	plain := filepath.Join(dir, "plain")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	wasm := func(commands, dirs []string) string {
		q := func(l []string) string {
			out := make([]string, len(l))
			for i, s := range l {
				out[i] = strconv.Quote(s)
			}
			return "[" + strings.Join(out, ", ") + "]"
		}
		return baseTOML + "\n[[resource_type]]\nname = \"w\"\nkind = \"wasm\"\npath = \"w.wasm\"\n" +
			"[resource_type.capabilities]\ncommands = " + q(commands) + "\ndirs = " + q(dirs) + "\n"
	}
	const at = `resource_type "w": `
	tests := []struct {
		name     string
		commands []string
		dirs     []string
		loaded   []string // problems from Load (after the file name)
		parsed   []string // problems from Parse, which reads no files
	}{
		{"good", []string{tool}, []string{data, data + "/"}, nil, nil},
		{"the root", nil, []string{"/", "//"}, []string{
			at + `capabilities.dirs: item 1: "/" would grant the whole file system; grant the directories the type needs`,
			at + `capabilities.dirs: item 2: "//" would grant the whole file system; grant the directories the type needs`,
		}, []string{
			at + `capabilities.dirs: item 1: "/" would grant the whole file system; grant the directories the type needs`,
			at + `capabilities.dirs: item 2: "//" would grant the whole file system; grant the directories the type needs`,
		}},
		{"relative", []string{"ip", "bin/tool"}, []string{"state", "./data"}, []string{
			at + `capabilities.commands: item 1: "ip" is not an absolute path (commands are run as named, without a PATH search)`,
			at + `capabilities.commands: item 2: "bin/tool" is not an absolute path (commands are run as named, without a PATH search)`,
			at + `capabilities.dirs: item 1: "state" is not an absolute path`,
			at + `capabilities.dirs: item 2: "./data" is not an absolute path`,
		}, []string{
			at + `capabilities.commands: item 1: "ip" is not an absolute path (commands are run as named, without a PATH search)`,
			at + `capabilities.commands: item 2: "bin/tool" is not an absolute path (commands are run as named, without a PATH search)`,
			at + `capabilities.dirs: item 1: "state" is not an absolute path`,
			at + `capabilities.dirs: item 2: "./data" is not an absolute path`,
		}},
		{"unclean command", []string{dir + "/../" + filepath.Base(dir) + "/tool"}, nil, []string{
			at + `capabilities.commands: item 1: "` + dir + `/../` + filepath.Base(dir) + `/tool" is not a clean path; write "` + tool + `"`,
		}, []string{
			at + `capabilities.commands: item 1: "` + dir + `/../` + filepath.Base(dir) + `/tool" is not a clean path; write "` + tool + `"`,
		}},
		{"missing", []string{missing}, []string{missing}, []string{
			at + `capabilities.commands: item 1: ` + missing + ` does not exist on this machine`,
			at + `capabilities.dirs: item 1: ` + missing + ` does not exist on this machine`,
		}, nil},
		{"wrong kinds", []string{plain, data}, []string{plain}, []string{
			at + `capabilities.commands: item 1: ` + plain + ` is not executable`,
			at + `capabilities.commands: item 2: ` + data + ` is not a regular file`,
			at + `capabilities.dirs: item 1: ` + plain + ` is not a directory`,
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "cluster.toml")
			if err := os.WriteFile(file, []byte(wasm(tt.commands, tt.dirs)), 0o644); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tt.loaded {
				want = append(want, file+": "+w)
			}
			_, err := Load(file)
			compareProblems(t, "Load", err, want)
			want = nil
			for _, w := range tt.parsed {
				want = append(want, "cluster.toml: "+w)
			}
			_, err = Parse("cluster.toml", []byte(wasm(tt.commands, tt.dirs)))
			compareProblems(t, "Parse", err, want)
		})
	}
}

func compareProblems(t *testing.T, what string, err error, want []string) {
	t.Helper()
	var got []string
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v, want an *Error", what, err)
		}
		got = problemStrings(ce)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s problems:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
