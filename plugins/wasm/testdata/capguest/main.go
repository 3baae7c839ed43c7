// Command capguest is the Go test type (internal/testtype) with extra
// control codes that exercise the WASM capabilities from Go: child
// processes through sdk/wasm and files through the os package.
//
//	0x10 start a process (input: command, then arguments, each NUL-terminated; output: handle)
//	0x11 process status ("running" / "exited N")
//	0x12 stop a process
//	0x13 read a file (input: path)
//	0x14 write a file (input: path NUL content)
//	0x20 allocate the decimal number of bytes in the input
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/resmon/resmon/internal/testtype"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm"
)

func init() { wasm.Register(capType{}) }

func main() {}

type capType struct{}

func (capType) Open(ctx context.Context, host sdk.Host, r sdk.OpenRequest) (sdk.Resource, error) {
	res, err := testtype.Type{}.Open(ctx, host, r)
	if err != nil {
		return nil, err
	}
	return &capResource{Resource: res.(*testtype.Resource), procs: map[int]*wasm.Process{}}, nil
}

type capResource struct {
	*testtype.Resource
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

func fileErr(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", sdk.ErrAccessDenied, err)
	}
	return err
}
