package ocf_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/types/ocf"
)

const sampleMetadata = `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="sample" version="0.1">
<version>1.1</version>
<shortdesc lang="de">Beispiel</shortdesc>
<shortdesc lang="en">Sample
  agent</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<shortdesc lang="en">IP address</shortdesc>
<content type="string" default=""/>
</parameter>
<parameter name="level" reloadable="true">
<longdesc lang="en">How loud.</longdesc>
<content type="select" default="low"><option value="low"/><option value="high"/></content>
</parameter>
<parameter name="old"><deprecated/><content type="boolean"/></parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" depth="10" timeout="1min" interval="30"/>
<action name="monitor" depth="0" timeout="500ms" interval="10s"/>
<action name="stop" timeout="2m"/>
</actions>
</resource-agent>`

func TestParseMetadata(t *testing.T) {
	m, err := ocf.ParseMetadata([]byte(sampleMetadata))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "sample" || m.Version != "1.1" || m.ShortDesc != "Sample agent" || len(m.Parameters) != 3 {
		t.Fatalf("%+v", m)
	}
	ip, level, old := m.Parameter("ip"), m.Parameter("level"), m.Parameter("old")
	if !ip.Required || !ip.Unique || ip.Reloadable || ip.ShortDesc != "IP address" || ip.Type != "string" {
		t.Fatalf("ip %+v", ip)
	}
	if !level.Reloadable || level.Type != "select" || strings.Join(level.Options, ",") != "low,high" || level.Default != "low" || level.LongDesc != "How loud." {
		t.Fatalf("level %+v", level)
	}
	if !old.Deprecated || old.Type != "boolean" {
		t.Fatalf("old %+v", old)
	}
	if a := m.Action("start"); a == nil || a.Timeout != 20*time.Second {
		t.Fatalf("start %+v", a)
	}
	if a := m.Action("monitor"); a == nil || a.Depth != 0 || a.Timeout != 500*time.Millisecond {
		t.Fatalf("monitor %+v", a)
	}
	if a, ok := m.Monitor(true); !ok || a.Depth != 10 || a.Timeout != time.Minute || a.Interval != 30*time.Second {
		t.Fatalf("deep monitor %+v", a)
	}
	if a, _ := m.Monitor(false); a.Depth != 0 {
		t.Fatalf("cheap monitor %+v", a)
	}
	if m.Has("reload-agent") || !m.Has("stop") {
		t.Fatal("Has")
	}
}

func TestParseMetadataRefuses(t *testing.T) {
	wrap := func(params, actions string) string {
		return `<resource-agent name="x"><parameters>` + params + `</parameters><actions>` + actions + `</actions></resource-agent>`
	}
	for _, c := range []struct {
		name, doc, want string
	}{
		{"not XML", "usage: agent {start|stop}", "EOF"},
		{"another document", `<html><body/></html>`, "expected element type <resource-agent>"},
		{"unclosed", `<resource-agent name="x"><parameters>`, "unexpected EOF"},
		{"nameless parameter", wrap(`<parameter><content/></parameter>`, ""), "parameter 1 has no name"},
		{"twice", wrap(`<parameter name="a"/><parameter name="a"/>`, ""), `parameter "a" is declared twice`},
		{"not an environment name", wrap(`<parameter name="a b"/>`, ""), `parameter "a b": a name must be letters`},
		{"bad timeout", wrap("", `<action name="start" timeout="soon"/>`), `action start: timeout: "soon" is not a duration`},
		{"bad unit", wrap("", `<action name="start" timeout="5 fortnights"/>`), `unknown unit "fortnights"`},
		{"bad depth", wrap("", `<action name="monitor" depth="deep"/>`), `depth "deep" is not a whole number`},
		{"nameless action", wrap("", `<action timeout="5s"/>`), "an action has no name"},
		{"odd encoding", `<?xml version="1.0" encoding="EBCDIC"?><resource-agent/>`, `encoding "EBCDIC" is not supported`},
		{"too big", "<resource-agent>" + strings.Repeat(" ", 1<<20) + "</resource-agent>", "bytes (at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ocf.ParseMetadata([]byte(c.doc))
			if !errors.Is(err, ocf.ErrMetadata) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrMetadata with %q", err, c.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"20s", 20 * time.Second, true}, {"20", 20 * time.Second, true}, {" 90 sec ", 90 * time.Second, true},
		{"100ms", 100 * time.Millisecond, true}, {"5msec", 5 * time.Millisecond, true}, {"2m", 2 * time.Minute, true},
		{"2min", 2 * time.Minute, true}, {"1h", time.Hour, true}, {"1hr", time.Hour, true}, {"1.5s", 1500 * time.Millisecond, true},
		{"250us", 250 * time.Microsecond, true}, {"-1s", 0, false}, {"s", 0, false}, {"1d", 0, false}, {"1e99", 0, false},
	} {
		got, err := ocf.ParseDuration(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}

// Every agent Debian ships prints meta-data the decoder reads, with
// parameter names that can be environment variables.
func TestEveryDebianAgentsMetadata(t *testing.T) {
	needAgents(t)
	agents, err := filepath.Glob(filepath.Join(debianRoot, "resource.d", "*", "*"))
	if err != nil || len(agents) < 50 {
		t.Fatalf("agents under %s: %d, %v", debianRoot, len(agents), err)
	}
	decoded := 0
	for _, path := range agents {
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, path, "meta-data")
		cmd.Env = []string{"OCF_ROOT=" + debianRoot, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HA_LOGFACILITY=none", "OCF_RESOURCE_INSTANCE=x"}
		out, err := cmd.Output()
		cancel()
		if err != nil {
			// A few agents need software that is not installed even to
			// describe themselves; Pacemaker cannot use them either.
			t.Logf("%s meta-data: %v", filepath.Base(path), err)
			continue
		}
		m, err := ocf.ParseMetadata(out)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !m.Has("start") && !m.Has("monitor") {
			t.Errorf("%s declares neither start nor monitor", path)
		}
		decoded++
	}
	t.Logf("decoded the meta-data of %d of %d agents", decoded, len(agents))
	if decoded < len(agents)*3/4 {
		t.Fatalf("only %d of %d agents decoded", decoded, len(agents))
	}
}

// FuzzParseMetadata: the decoder never panics, and what it accepts is
// consistent (named, unique parameters; non-negative timeouts).
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(sampleMetadata))
	f.Add([]byte(`<resource-agent name="x"><parameters><parameter name="a"><content type="integer" default="1"/></parameter></parameters></resource-agent>`))
	f.Add([]byte(`<resource-agent><actions><action name="monitor" depth="20" timeout="1.5min"/></actions></resource-agent>`))
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><resource-agent/>`))
	f.Add([]byte("not xml"))
	if b, err := os.ReadFile("testdata/classes"); err == nil {
		if i := strings.Index(string(b), "<?xml"); i >= 0 {
			if j := strings.Index(string(b[i:]), "</resource-agent>"); j >= 0 {
				f.Add(b[i : i+j+len("</resource-agent>")])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ocf.ParseMetadata(b)
		if err != nil {
			if !errors.Is(err, ocf.ErrMetadata) {
				t.Fatalf("error without ErrMetadata: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range m.Parameters {
			if p.Name == "" || seen[p.Name] {
				t.Fatalf("parameter %q accepted", p.Name)
			}
			seen[p.Name] = true
		}
		for _, a := range m.Actions {
			if a.Name == "" || a.Timeout < 0 || a.Interval < 0 || a.Depth < 0 {
				t.Fatalf("action %+v accepted", a)
			}
		}
	})
}
