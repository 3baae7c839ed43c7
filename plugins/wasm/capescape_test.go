package wasm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/sdk"
)

const ctlFS = 0x15 // testdata/capguest: one file system operation

func fsOp(op string, args ...string) []byte {
	return []byte(strings.Join(append([]string{op}, args...), "\x00"))
}

// Escapes from a granted directory, through symbolic links (already there,
// made by a child process, or asked for by the guest) and "..", for every
// kind of operation: each is refused with access denied, recorded as a
// capability denial naming the path, and changes nothing outside.
func TestFileCapabilityEscapes(t *testing.T) {
	base := t.TempDir()
	granted := filepath.Join(base, "granted")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{granted, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret")
	mustWrite(t, secret, "outside the grant")
	mustWrite(t, filepath.Join(granted, "data.txt"), "inside")
	must(t, os.Symlink("/etc/passwd", filepath.Join(granted, "passwd")))    // absolute, to a file
	must(t, os.Symlink(outside, filepath.Join(granted, "outdir")))          // absolute, to a directory
	must(t, os.Symlink("../outside/secret", filepath.Join(granted, "rel"))) // relative, climbing out
	must(t, os.Symlink("data.txt", filepath.Join(granted, "current")))      // stays inside
	must(t, os.Mkdir(filepath.Join(granted, "sub"), 0o755))
	must(t, os.Symlink("..", filepath.Join(granted, "sub", "up")))      // the granted directory itself
	must(t, os.Symlink("../..", filepath.Join(granted, "sub", "upup"))) // its parent

	ln := lookPath(t, "ln")
	svc := pluginstest.New()
	d := newDriver(t, svc)
	ts := typeSpec("escapes", goGuest(t, guestCaps))
	ts.Dirs = []string{granted}
	ts.Commands = []string{ln}
	rs := resSpec(nil)
	in := open(t, d, ts, rs)
	ctx := ctxT(t)
	g := func(p string) string { return filepath.Join(granted, p) }

	refused := []struct {
		name string
		op   []byte
		path string // logged as the denied path
	}{
		{"read a symlink to /etc/passwd", fsOp("read", g("passwd")), g("passwd")},
		{"stat a symlink to /etc/passwd", fsOp("stat", g("passwd")), g("passwd")},
		{"read a relative symlink out", fsOp("read", g("rel")), g("rel")},
		{"read through a symlinked directory", fsOp("read", g("outdir/secret")), g("outdir/secret")},
		{"write through a symlinked directory", fsOp("write", g("outdir/planted"), "x"), g("outdir/planted")},
		{"append through a symlinked directory", fsOp("append", g("outdir/secret"), "x"), g("outdir/secret")},
		{"list a symlinked directory", fsOp("readdir", g("outdir")), g("outdir")},
		{"mkdir through a symlinked directory", fsOp("mkdir", g("outdir/newdir")), g("outdir/newdir")},
		{"remove through a symlinked directory", fsOp("remove", g("outdir/secret")), g("outdir/secret")},
		{"chtimes through a symlinked directory", fsOp("chtimes", g("outdir/secret")), g("outdir/secret")},
		{"read through a symlink to ..", fsOp("read", g("sub/upup/outside/secret")), g("sub/upup/outside/secret")},
		{"read with ..", fsOp("read", granted+"/../outside/secret"), secret},
		{"rename into a symlinked directory", fsOp("rename", g("data.txt"), g("outdir/stolen")), g("data.txt")},
		{"rename out directly", fsOp("rename", g("data.txt"), filepath.Join(outside, "stolen")), filepath.Join(outside, "stolen")},
		{"rename in from outside", fsOp("rename", secret, g("taken")), secret},
		{"new absolute symlink", fsOp("symlink", "/etc/passwd", g("mine")), g("mine")},
		{"new symlink climbing out", fsOp("symlink", "../outside/secret", g("mine")), g("mine")},
		{"new symlink climbing within", fsOp("symlink", "sub/../data.txt", g("mine")), g("mine")},
		{"new symlink placed outside", fsOp("symlink", "data.txt", g("outdir/mine")), g("outdir/mine")},
		{"hard link to an outward symlink", fsOp("link", g("passwd"), g("copy")), g("copy")},
		{"hard link to a file outside", fsOp("link", g("outdir/secret"), g("copy")), g("copy")},
	}
	for _, c := range refused {
		before := fileDenials(svc, rs.Name, c.path)
		out, err := in.Control(ctx, ctlFS, c.op)
		if !errors.Is(err, sdk.ErrAccessDenied) {
			t.Errorf("%s: got %q, %v; want access denied", c.name, out, err)
			continue
		}
		if fileDenials(svc, rs.Name, c.path) == before {
			t.Errorf("%s: no capability denial for %s in the log", c.name, c.path)
		}
	}

	// Nothing changed outside, nothing was made inside.
	if b, err := os.ReadFile(secret); err != nil || string(b) != "outside the grant" {
		t.Errorf("the file outside is now %q, %v", b, err)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside holds %d entries after the attempts, want 1 (secret)", len(entries))
	}
	for _, p := range []string{"mine", "copy", "taken"} {
		if _, err := os.Lstat(g(p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created inside the grant: %v", p, err)
		}
	}
	if b, err := os.ReadFile(g("data.txt")); err != nil || string(b) != "inside" {
		t.Errorf("data.txt is now %q, %v", b, err)
	}

	// A symlink out that a child process made is refused when the guest
	// follows it.
	if _, err := in.Control(ctx, ctlStart, startArgs(ln, "-s", "/etc/shadow", g("made-by-child"))); err != nil {
		t.Fatalf("starting ln: %v", err)
	}
	waitFor(t, "ln to make its link", func() bool { _, err := os.Lstat(g("made-by-child")); return err == nil })
	if out, err := in.Control(ctx, ctlFS, fsOp("read", g("made-by-child"))); !errors.Is(err, sdk.ErrAccessDenied) {
		t.Errorf("read through the child's link: %q, %v", out, err)
	}
	if fileDenials(svc, rs.Name, g("made-by-child")) == 0 {
		t.Errorf("no capability denial for the child's link")
	}

	// What stays inside works: links within, "..", renames, directories.
	allowed := []struct {
		op   []byte
		want string
	}{
		{fsOp("read", g("current")), "inside"},
		{fsOp("read", g("sub/up/data.txt")), "inside"},
		{fsOp("read", g("sub/../data.txt")), "inside"},
		{fsOp("lstat", g("passwd")), "L--------- 11"}, // the link itself may be looked at
		{fsOp("readlink", g("outdir")), outside},
		{fsOp("symlink", "data.txt", g("sub/alias")), ""},
		{fsOp("mkdir", g("sub/dir")), ""},
		{fsOp("write", g("sub/dir/f"), "one"), ""},
		{fsOp("append", g("sub/dir/f"), "two"), ""},
		{fsOp("rename", g("sub/dir/f"), g("sub/g")), ""},
		{fsOp("read", g("sub/g")), "onetwo"},
		{fsOp("link", g("sub/g"), g("sub/h")), ""},
		{fsOp("link", g("current"), g("sub/current2")), ""},
		{fsOp("chtimes", g("sub/h")), ""},
		{fsOp("readdir", g("sub")), "alias,current2,dir,g,h,up,upup"},
		{fsOp("remove", g("sub/h")), ""},
		{fsOp("remove", g("sub/dir")), ""},
		{fsOp("stat", g("sub/alias")), "ENOENT"}, // dangling within sub: data.txt is one level up
	}
	for _, c := range allowed {
		name := strings.ReplaceAll(string(c.op), "\x00", " ")
		out, err := in.Control(ctx, ctlFS, c.op)
		if c.want == "ENOENT" {
			// sub/alias names sub/data.txt, which does not exist.
			if err == nil || errors.Is(err, sdk.ErrAccessDenied) {
				t.Errorf("%s: %q, %v; want not found", name, out, err)
			}
			continue
		}
		if err != nil || string(out) != c.want {
			t.Errorf("%s: %q, %v; want %q", name, out, err, c.want)
		}
	}
	if fi, err := os.Stat(g("sub/h")); err == nil {
		t.Errorf("sub/h survived its removal: %v", fi.Mode())
	}
}

// fileDenials counts the file capability denials of resource res for path.
func fileDenials(svc *pluginstest.Services, res, path string) int {
	n := 0
	for _, l := range svc.Logs() {
		if strings.HasPrefix(l, res+" ") && strings.Contains(l, "capability denied") &&
			strings.Contains(l, "event=capability_denied capability=file") && strings.HasSuffix(l, " path="+path) {
			n++
		}
	}
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), 0o644))
}
