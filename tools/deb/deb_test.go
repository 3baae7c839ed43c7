package deb_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/tools/deb"
)

// arMembers reads the members of an ar archive (a .deb is one).
func arMembers(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatalf("not an ar archive")
	}
	out := map[string][]byte{}
	for r := b[8:]; len(r) >= 60; {
		name := strings.TrimSuffix(strings.TrimSpace(string(r[:16])), "/")
		var size int
		fmt.Sscanf(strings.TrimSpace(string(r[48:58])), "%d", &size)
		out[name] = r[60 : 60+size]
		r = r[60+size:]
		if size%2 == 1 && len(r) > 0 {
			r = r[1:]
		}
	}
	return out
}

type entry struct {
	mode     os.FileMode
	typ      byte
	linkname string
	data     []byte
}

// tarGz lists a gzipped tar.
func tarGz(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	tr := tar.NewReader(z)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		name := strings.TrimSuffix("/"+strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/"), "/")
		out[name] = entry{os.FileMode(h.Mode), h.Typeflag, h.Linkname, data}
	}
}

// TestDebianPackage builds the .deb with nfpm, lists it and checks what
// an operator gets: the binaries, the unit (Type=notify), the
// configuration as a conffile, completions, man pages, the examples, and
// nothing but configuration under /etc.
func TestDebianPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root, _ := filepath.Abs("../..")
	out := t.TempDir()
	path, err := deb.Build(context.Background(), deb.Options{Root: root, OutDir: out, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".deb") || !strings.Contains(filepath.Base(path), "1.2.3") {
		t.Fatalf("package name %s", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	members := arMembers(t, b)
	if string(members["debian-binary"]) != "2.0\n" {
		t.Fatalf("debian-binary: %q", members["debian-binary"])
	}
	control := tarGz(t, members["control.tar.gz"])
	if c := string(control["/control"].data); !strings.Contains(c, "Package: resmon\n") || !strings.Contains(c, "Version: 1.2.3\n") {
		t.Fatalf("control:\n%s", c)
	}
	if c := string(control["/conffiles"].data); strings.TrimSpace(c) != "/etc/resmon/cluster.toml" {
		t.Fatalf("conffiles: %q", c)
	}
	if _, ok := control["/postinst"]; !ok {
		t.Fatal("no postinst")
	}
	data := tarGz(t, members["data.tar.gz"])
	var listing []string
	for name := range data {
		listing = append(listing, name)
	}
	t.Logf("contents:\n%s", strings.Join(listing, "\n"))
	for _, want := range []struct {
		path string
		mode os.FileMode
	}{
		{"/usr/bin/clusterd", 0o755}, {"/usr/bin/cluster", 0o755}, {"/usr/lib/resmon/genapp", 0o755},
		{"/usr/lib/resmon/genapp.wasm", 0o644}, {"/lib/systemd/system/clusterd.service", 0o644},
		{"/etc/resmon/cluster.toml", 0o640},
		{"/usr/share/bash-completion/completions/cluster", 0o644}, {"/usr/share/zsh/vendor-completions/_cluster", 0o644},
		{"/usr/share/fish/vendor_completions.d/cluster.fish", 0o644},
		{"/usr/share/man/man1/cluster.1.gz", 0o644}, {"/usr/share/man/man1/cluster-node-pause.1.gz", 0o644},
		{"/usr/share/man/man1/cluster-status.1.gz", 0o644},
		{"/usr/share/doc/resmon/examples/alerts.yml", 0o644}, {"/usr/share/doc/resmon/examples/grafana-dashboard.json", 0o644},
	} {
		e, ok := data[want.path]
		if !ok {
			t.Errorf("the package lacks %s", want.path)
			continue
		}
		if e.mode.Perm() != want.mode {
			t.Errorf("%s: mode %v, want %v", want.path, e.mode.Perm(), want.mode)
		}
	}
	if e := data["/usr/bin/Cluster"]; e.typ != tar.TypeSymlink || e.linkname != "/usr/bin/cluster" {
		t.Errorf("/usr/bin/Cluster: %+v", e)
	}
	if e := data["/var/lib/resmon"]; e.typ != tar.TypeDir || e.mode.Perm() != 0o700 {
		t.Errorf("/var/lib/resmon: %+v", e)
	}
	for name, e := range data {
		if strings.HasPrefix(name, "/etc/") && e.typ == tar.TypeReg && name != "/etc/resmon/cluster.toml" {
			t.Errorf("%s: only configuration goes under /etc", name)
		}
	}
	unit := string(data["/lib/systemd/system/clusterd.service"].data)
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecStart=/usr/bin/clusterd -config /etc/resmon/cluster.toml", "StateDirectory=resmon"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	if !strings.Contains(string(data["/usr/share/bash-completion/completions/cluster"].data), "complete -o default -F __start_cluster Cluster") {
		t.Error("bash does not complete Cluster")
	}
	z, err := gzip.NewReader(bytes.NewReader(data["/usr/share/man/man1/cluster-node-pause.1.gz"].data))
	if err != nil {
		t.Fatal(err)
	}
	man, _ := io.ReadAll(z)
	if !bytes.Contains(man, []byte(".TH \"CLUSTER\" \"1\"")) {
		t.Errorf("cluster-node-pause.1 is not a man page:\n%.300s", man)
	}
	// Debian's own tool agrees, where it is installed.
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		outb, err := exec.Command("dpkg-deb", "--contents", path).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb --contents: %v\n%s", err, outb)
		}
		n := 0
		for s := bufio.NewScanner(bytes.NewReader(outb)); s.Scan(); n++ {
		}
		if n < len(data)-1 || !bytes.Contains(outb, []byte("./usr/bin/clusterd")) {
			t.Errorf("dpkg-deb lists %d entries:\n%s", n, outb)
		}
		if outb, err := exec.Command("dpkg-deb", "--info", path).CombinedOutput(); err != nil || !bytes.Contains(outb, []byte("Package: resmon")) {
			t.Errorf("dpkg-deb --info: %v\n%s", err, outb)
		}
	}
}
