package config

import (
	"errors"
	"strings"
	"testing"
)

// baseTOML is a small valid file the strict tests add to.
const baseTOML = `
[node]
name = "node1"

[[resource_type]]
name = "app"
kind = "plugin"
path = "/bin/app"

[[group]]
name = "data"

[[group]]
name = "other"
`

// problemLines parses data as cluster.toml and returns its problems, one
// string per problem, failing the test if the error is of the wrong kind.
func problemLines(t *testing.T, data string) []string {
	t.Helper()
	_, err := Parse("cluster.toml", []byte(data))
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error does not match ErrInvalid: %v", err)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is a %T, want *Error: %v", err, err)
	}
	if got := strings.Join(problemStrings(ce), "\n"); got != err.Error() {
		t.Errorf("Error() = %q, want the problems one per line: %q", err.Error(), got)
	}
	return problemStrings(ce)
}

func problemStrings(e *Error) []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.String()
	}
	return out
}

func checkProblems(t *testing.T, data string, want []string) {
	t.Helper()
	got := problemLines(t, data)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("cluster.toml", []byte(baseTOML)); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownKeys: every key the schema does not know is reported, with its
// entry, and a likely intended key when there is one.
func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"top level", `Cluster = { name = "x" }` + "\nclustr = 1\n" + baseTOML, []string{
			`cluster.toml: unknown key "Cluster" (did you mean "cluster"?)`,
			`cluster.toml: unknown key "clustr"`,
		}},
		{"section", baseTOML + "[quorum]\nlease-ttl = \"5s\"\n[quorum.embedded]\nheartbeats = \"10ms\"\nelection = \"100ms\"\n", []string{
			`cluster.toml: quorum: unknown key "lease-ttl" (did you mean "lease_ttl"?)`,
			`cluster.toml: quorum.embedded: unknown key "heartbeats" (did you mean "heartbeat"?)`,
			// heartbeat stays 50ms: still checked.
			`cluster.toml: quorum.embedded: election: 100ms must be at least 5 heartbeats (250ms)`,
		}},
		{"unknown table", baseTOML + "[quorum.etcd]\nendpoints = []\n", []string{
			`cluster.toml: quorum: unknown key "etcd"`,
		}},
		{"entries", baseTOML + `
[[resource]]
name = "r1"
type = "app"
group = "data"
nmae = "x"

[[resource]]
name = "r2"
type = "app"
group = "data"
[resource.privat]
x = 1

[resource_type.defaults]
pending = "1s"
`, []string{
			`cluster.toml: resource_type "app": unknown key "defaults.pending"`,
			`cluster.toml: resource "r1": unknown key "nmae"`,
			`cluster.toml: resource "r2": unknown key "privat"`,
		}},
		{"private is free-form", baseTOML + `
[[resource]]
name = "r"
type = "app"
group = "data"
[resource.private]
Anything = { goes = [1, "two", 3.0] }
`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.toml, tt.want) })
	}
}

// TestWrongTypes: a value of the wrong TOML type is reported with its entry
// and key, and the other values are still checked.
func TestWrongTypes(t *testing.T) {
	res := func(extra string) string {
		return baseTOML + "\n[[resource]]\nname = \"r\"\ntype = \"app\"\ngroup = \"data\"\n" + extra + "\n"
	}
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"integer as string", res(`restart_threshold = "3"`), []string{
			`cluster.toml: resource "r": restart_threshold: expected an integer, got string "3"`,
		}},
		{"duration as number", "[quorum]\nlease_ttl = 10\n" + baseTOML, []string{
			`cluster.toml: quorum: lease_ttl: expected a duration string such as "5s" or "500ms", got integer 10`,
		}},
		{"bad duration", baseTOML + "[events]\nmax_age = \"7d\"\n", []string{
			`cluster.toml: events: max_age: invalid duration "7d" (want a string such as "5s" or "500ms")`,
		}},
		{"negative duration", res(`pending_timeout = "-5s"`), []string{
			`cluster.toml: resource "r": pending_timeout: invalid duration "-5s": must not be negative`,
		}},
		{"section not a table", "quorum = 5\n" + baseTOML, []string{
			`cluster.toml: quorum: expected a table, got integer 5`,
		}},
		{"boolean", res(`separate_monitor = "yes"`), []string{
			`cluster.toml: resource "r": separate_monitor: expected true or false, got string "yes"`,
		}},
		{"array item", baseTOML + "[[group]]\nname = \"g\"\npreferred_owners = [\"a\", 2]\n", []string{
			`cluster.toml: group "g": preferred_owners: item 2: expected a string, got integer 2`,
		}},
		{"string for array", res(`possible_owners = "node1"`), []string{
			`cluster.toml: resource "r": possible_owners: expected an array, got string "node1"`,
		}},
		{"map value", baseTOML + "[quorum.embedded.peers]\nnode1 = \"http://127.0.0.1:2380\"\nnode2 = 1\n", []string{
			`cluster.toml: quorum.embedded: peers: node2: expected a string, got integer 1`,
		}},
		{"dependencies", res(`dependencies = [1]`), []string{
			`cluster.toml: resource "r": dependencies: item 1: expected a resource name or an array of alternative names, got integer 1`,
		}},
		{"dependency group", res(`dependencies = [["a", 2]]`), []string{
			`cluster.toml: resource "r": dependencies: item 1, name 2: expected a resource name, got integer 2`,
		}},
		{"dependencies not an array", res(`dependencies = "a"`), []string{
			`cluster.toml: resource "r": dependencies: expected an array such as [["Disk P"], ["IP A", "IP B"]], got string "a"`,
		}},
		{"out of range", baseTOML + "[[resource_type]]\nname = \"w\"\nkind = \"wasm\"\npath = \"w.wasm\"\nmemory_limit_pages = -1\n", []string{
			`cluster.toml: resource_type "w": memory_limit_pages: -1 is out of range (0 to 4294967295)`,
		}},
		{"datetime", baseTOML + "[cluster]\nname = 1979-05-27T07:32:00Z\n", []string{
			`cluster.toml: cluster: name: expected a string, got datetime 1979-05-27T07:32:00Z`,
		}},
		{"entries not tables", "resource = [1]\n" + baseTOML, []string{
			`cluster.toml: resource: item 1: expected a table, got integer 1`,
		}},
		{"entries not an array", "group = \"data\"\n[node]\nname = \"n\"\n", []string{
			`cluster.toml: group: expected an array of tables ([[group]]), got string "data"`,
		}},
		{"nested table in entry", baseTOML + "[[resource_type]]\nname = \"t\"\nkind = \"plugin\"\npath = \"p\"\ndefaults = 3\n", []string{
			`cluster.toml: resource_type "t": defaults: expected a table, got integer 3`,
		}},
		// A value that could not be read is not reported a second time as missing.
		{"no echo", baseTOML + "\n[[resource]]\nname = \"r\"\ntype = 5\ngroup = \"data\"\n", []string{
			`cluster.toml: resource "r": type: expected a string, got integer 5`,
		}},
		{"unnamed entry", baseTOML + "\n[[resource]]\nname = 5\ntype = \"app\"\ngroup = \"data\"\n", []string{
			`cluster.toml: resource #1: name: expected a string, got integer 5`,
		}},
		// Several bad values in several entries: all reported.
		{"all at once", baseTOML + `
[[resource]]
name = "a"
type = "app"
group = "data"
restart_action = "two"
pending_timeout = 5

[[resource]]
name = "b"
type = "app"
group = "data"
restart_threshold = 1.5
`, []string{
			`cluster.toml: resource "a": pending_timeout: expected a duration string such as "5s" or "500ms", got integer 5`,
			`cluster.toml: resource "a": restart_action: expected an integer, got string "two"`,
			`cluster.toml: resource "b": restart_threshold: expected an integer, got float 1.5`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.toml, tt.want) })
	}
}
