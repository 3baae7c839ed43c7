//go:build wasip1

// Command capguest is the Go test type (testutil/testtype) with extra
// control codes that exercise the WASM capabilities from Go: child
// processes through sdk/wasm and files through the os package.
//
//	0x10 start a process (input: command, then arguments, each NUL-terminated; output: handle)
//	0x11 process status ("running" / "exited N")
//	0x12 stop a process
//	0x13 read a file (input: path)
//	0x14 write a file (input: path NUL content)
//	0x15 a file system operation (input: op NUL arg NUL arg; output: what it saw), op one of
//	     read P, write P DATA, append P DATA, stat P, lstat P, readdir P, readlink P, mkdir P,
//	     remove P, rename FROM TO, symlink TARGET LINK, link OLD NEW, chmod P, chtimes P
//	0x20 allocate the decimal number of bytes in the input
//	0x21 allocate without bound, 1 MiB at a time, until the guest runs out of memory
//	0x40 report the wall clock (Unix ns), the args, the environment size and 16 random bytes
//	0x30 exercise every registry call under the key in the input; output a report
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm"
	"github.com/resmon/resmon/testutil/testtype"
)

func init() { wasm.Register(capType{}) }

func main() {}

type capType struct{}

func (capType) Open(ctx context.Context, host sdk.Host, r sdk.OpenRequest) (sdk.Resource, error) {
	res, err := testtype.Type{}.Open(ctx, host, r)
	if err != nil {
		return nil, err
	}
	return &capResource{Resource: res.(*testtype.Resource), host: host, procs: map[int]*wasm.Process{}}, nil
}

type capResource struct {
	*testtype.Resource
	host  sdk.Host
	procs map[int]*wasm.Process
	next  int
}

var sink []byte

func (r *capResource) Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error) {
	switch code {
	case 0x10:
		parts := strings.Split(strings.TrimSuffix(string(in), "\x00"), "\x00")
		p, err := wasm.StartProcess(parts[0], parts[1:]...)
		if err != nil {
			return nil, err
		}
		r.next++
		r.procs[r.next] = p
		return []byte(strconv.Itoa(r.next)), nil
	case 0x11, 0x12:
		h, _ := strconv.Atoi(string(in))
		p, ok := r.procs[h]
		if !ok {
			return nil, fmt.Errorf("%w: process %d", sdk.ErrNotFound, h)
		}
		if code == 0x12 {
			delete(r.procs, h)
			return nil, p.Stop()
		}
		running, exit, err := p.Status()
		if err != nil {
			return nil, err
		}
		if running {
			return []byte("running"), nil
		}
		return []byte(fmt.Sprintf("exited %d", exit)), nil
	case 0x13:
		b, err := os.ReadFile(string(in))
		return b, fileErr(err)
	case 0x14:
		path, content, _ := strings.Cut(string(in), "\x00")
		return nil, fileErr(os.WriteFile(path, []byte(content), 0o644))
	case 0x15:
		out, err := fsOp(strings.Split(string(in), "\x00"))
		return out, fileErr(err)
	case 0x21:
		for {
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = 1
			}
			hoard = append(hoard, chunk)
		}
	case 0x30:
		return registryTour(ctx, r.host, string(in))
	case 0x40:
		rnd := make([]byte, 16)
		if _, err := rand.Read(rnd); err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf("%d %q %d %x", time.Now().UnixNano(), os.Args, len(os.Environ()), rnd)), nil
	case 0x20:
		n, _ := strconv.Atoi(string(in))
		sink = make([]byte, n)
		for i := range sink {
			sink[i] = 1
		}
		return []byte("ok"), nil
	}
	return r.Resource.Control(ctx, code, in)
}

// hoard keeps what 0x21 allocates reachable.
var hoard [][]byte

// fsOp runs one file system operation through the os package, as a
// resource type would.
func fsOp(args []string) ([]byte, error) {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	p := arg(1)
	switch arg(0) {
	case "read":
		return os.ReadFile(p)
	case "write":
		return nil, os.WriteFile(p, []byte(arg(2)), 0o644)
	case "append":
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(arg(2)); err != nil {
			f.Close()
			return nil, err
		}
		return nil, f.Close()
	case "stat", "lstat":
		stat := os.Stat
		if arg(0) == "lstat" {
			stat = os.Lstat
		}
		fi, err := stat(p)
		if err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf("%s %d", fi.Mode().Type(), fi.Size())), nil
	case "readdir":
		es, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(es))
		for i, e := range es {
			names[i] = e.Name()
		}
		return []byte(strings.Join(names, ",")), nil
	case "readlink":
		t, err := os.Readlink(p)
		return []byte(t), err
	case "mkdir":
		return nil, os.Mkdir(p, 0o755)
	case "remove":
		return nil, os.Remove(p)
	case "rename":
		return nil, os.Rename(p, arg(2))
	case "symlink":
		return nil, os.Symlink(p, arg(2))
	case "link":
		return nil, os.Link(p, arg(2))
	case "chmod":
		return nil, os.Chmod(p, 0o600)
	case "chtimes":
		t := time.Unix(1_000_000_000, 0)
		return nil, os.Chtimes(p, t, t)
	}
	return nil, fmt.Errorf("%w: unknown file operation %q", sdk.ErrInvalidParameter, arg(0))
}

func fileErr(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", sdk.ErrAccessDenied, err)
	}
	return err
}

// registryTour uses every sdk.Registry method through the host and reports
// what it saw, one line per step.
func registryTour(ctx context.Context, h sdk.Host, key string) ([]byte, error) {
	reg := h.Registry()
	var out strings.Builder
	big := make([]byte, 3000) // larger than the guest's first buffer: ERROR_MORE_DATA, then a retry
	for i := range big {
		big[i] = byte(i)
	}
	if err := reg.CreateKey(ctx, key+`\Sub\Deeper`); err != nil {
		return nil, err
	}
	for _, v := range []sdk.Value{
		sdk.StringValue("s", "text"), sdk.DWordValue("d", 7), sdk.QWordValue("q", 1<<40),
		sdk.MultiStringValue("m", "a", "b"), sdk.BinaryValue("big", big), {Name: "e", Type: sdk.ExpandString, Str: "%X%"},
	} {
		if err := reg.SetValue(ctx, key, v.Name, v); err != nil {
			return nil, err
		}
		got, err := reg.GetValue(ctx, key, v.Name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "get %s %s %q %v %d %d\n", got.Name, got.Type, got.Str, got.Strs, got.Num, len(got.Bytes))
	}
	subs, err := reg.SubKeys(ctx, key)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&out, "subkeys %q\n", subs)
	vs, err := reg.Values(ctx, key)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, v := range vs {
		names = append(names, v.Name)
	}
	fmt.Fprintf(&out, "values %q\n", names)
	if err := reg.DeleteValue(ctx, key, "s"); err != nil {
		return nil, err
	}
	_, err = reg.GetValue(ctx, key, "s")
	fmt.Fprintf(&out, "deleted value: notfound=%v\n", errors.Is(err, sdk.ErrNotFound))
	err = reg.DeleteValue(ctx, key, "s")
	fmt.Fprintf(&out, "delete again: notfound=%v msg=%q\n", errors.Is(err, sdk.ErrNotFound), err)
	if err := reg.DeleteKey(ctx, key+`\Sub`); err != nil {
		return nil, err
	}
	subs, _ = reg.SubKeys(ctx, key)
	fmt.Fprintf(&out, "subkeys after delete %q\n", subs)
	_, err = h.Control(ctx, sdk.DeleteRegistryCheckpoint, []byte("never added"), nil)
	fmt.Fprintf(&out, "delete missing checkpoint: notfound=%v\n", errors.Is(err, sdk.ErrNotFound))
	return []byte(out.String()), nil
}
