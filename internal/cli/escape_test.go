package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// Names and messages written straight into etcd, past every validation,
// with terminal escape sequences in them: the listings print them escaped,
// never as raw control bytes, in tables and in JSON; the CLI refuses to
// create such names itself.
func TestControlCharactersPrintedEscaped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	kv, keys := f.raw, f.store.Keys()
	const (
		typ   = "evil\x1b]0;pwned\x07type"
		group = "grp\x1b[2Jclear"
		res   = "res\x1b[31mred\u009b1m\u202eltr"
	)
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, key, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	put(keys.Type(typ), model.ResourceType{Name: typ, Kind: model.KindPlugin, Path: "/bin/\x1b[8mhidden", Defaults: model.DefaultProperties()})
	g := model.DefaultGroup(group)
	g.PreferredOwners = []string{"node\x1b[1m1"}
	put(keys.Group(group), g)
	id := uuid.NewString()
	put(keys.Resource(id), model.Resource{ID: id, Name: res, Type: typ, Group: group, Properties: model.DefaultProperties()})
	if _, err := kv.Put(ctx, keys.ResourceName(res), id); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AppendEvent(ctx, quorum.Event{Node: "node\x1b[1m1", Kind: "test", Subject: group, Message: "line\rover\x1b[Aup"}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		args []string
		want []string // escaped forms that must appear
	}{
		{[]string{"types"}, []string{`evil\x1b]0;pwned\atype`, `/bin/\x1b[8mhidden`}},
		{[]string{"groups"}, []string{`grp\x1b[2Jclear`, `node\x1b[1m1`}},
		{[]string{"group", group}, []string{`grp\x1b[2Jclear`, `node\x1b[1m1`}},
		{[]string{"resources"}, []string{`res\x1b[31mred\u009b1m\u202eltr`, `evil\x1b]0;pwned\atype`, `grp\x1b[2Jclear`}},
		{[]string{"resource", res}, []string{`res\x1b[31mred\u009b1m\u202eltr`}},
		{[]string{"events"}, []string{`line\rover\x1b[Aup`, `node\x1b[1m1`}},
		{[]string{"-o", "json", "resources"}, []string{`res\u001b[31mred\u009b1m\u202eltr`}},
		{[]string{"-o", "json", "events"}, []string{`line\rover\u001b[Aup`}},
	} {
		out, errOut, code := f.run(c.args...)
		if code != cli.ExitOK {
			t.Errorf("%q: exit %d: %s", c.args, code, errOut)
			continue
		}
		if i := strings.IndexFunc(out, func(r rune) bool {
			return r == 0x1b || r == 0x07 || r == '\r' || r == 0x9b || r == 0x202e
		}); i >= 0 {
			t.Errorf("%q: raw control character %q in the output:\n%q", c.args, out[i:min(i+4, len(out))], out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: output lacks %s:\n%s", c.args, w, out)
			}
		}
	}

	// Errors that quote what etcd holds are escaped too.
	_, errOut, _ := f.run("resource", res, "set", "restart_action=9")
	if strings.ContainsRune(errOut, 0x1b) {
		t.Errorf("raw ESC on stderr: %q", errOut)
	}

	// The CLI refuses to make such names.
	for _, name := range []string{"new\x1b[2Jres", "a/b", " padded", ""} {
		_, errOut, code := f.run("resource", "create", name, "-type", "Generic Application", "-group", "onyone")
		if code != cli.ExitUsage || !strings.Contains(errOut, "name") || strings.ContainsRune(errOut, 0x1b) {
			t.Errorf("create %q: exit %d, %q; want a usage error naming the name", name, code, errOut)
		}
	}
	_, errOut, code := f.run("resource", "Network Name DATA", "set", "possible_owners=node1,no\x1bde")
	if code == cli.ExitOK || !strings.Contains(errOut, `control characters`) {
		t.Errorf("set possible_owners with ESC: exit %d, %q", code, errOut)
	}
}
