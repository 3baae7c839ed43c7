package wasm_test

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
)

// procStatusKiB reads a "Name:   N kB" line of /proc/self/status.
func procStatusKiB(t *testing.T, name string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", name)
	return 0
}

// A guest that allocates without bound, under the default limit (its type
// sets none), fails alone: its call fails, the instance is replaced by a
// fresh one, another resource of the same type keeps answering, and the
// host's resident memory grows by a bounded amount, not by what the guest
// asked for.
func TestMemoryHogFailsAlone(t *testing.T) {
	svc := pluginstest.New()
	d := newDriver(t, svc)
	ts := typeSpec("hog", goGuest(t, guestCaps)) // MemoryLimitPages 0: the driver's default
	hog := open(t, d, ts, resSpec(nil))
	neighbour := open(t, d, ts, resSpec(nil))
	ctx := ctxT(t)

	// Reset the high-water mark so VmHWM is the peak of what follows.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the resident high-water mark: %v", err)
	}
	base := procStatusKiB(t, "VmRSS")
	_, err := hog.Control(ctx, 0x21, nil)
	peak := procStatusKiB(t, "VmHWM")
	if !errors.Is(err, plugins.ErrPluginExited) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("allocating without bound: %v; want the instance to fail out of memory", err)
	}
	limit := int64(wasm.DefaultMemoryLimitPages) * 64 // KiB
	t.Logf("default limit %d MiB: resident %d MiB before, peak %d MiB during the hog (+%d MiB)",
		limit>>10, base>>10, peak>>10, (peak-base)>>10)
	// The guest's memory is mapped outside the Go heap and grows in place
	// (memalloc.go): the peak is about the limit, where a guest without one
	// could take the 4 GiB a wasm32 memory can address.
	if grew := peak - base; grew > 2*limit {
		t.Errorf("resident memory grew by %d MiB for a %d MiB limit", grew>>10, limit>>10)
	}

	if ok, err := neighbour.LooksAlive(ctx); !ok || err != nil {
		t.Fatalf("the neighbour after the hog: LooksAlive %v %v", ok, err)
	}
	if out, err := neighbour.Control(ctx, 0x20, []byte("4194304")); err != nil || string(out) != "ok" {
		t.Fatalf("the neighbour allocating 4 MiB: %q %v", out, err)
	}
	if ok, err := hog.LooksAlive(ctx); !ok || err != nil {
		t.Fatalf("the hog in a fresh instance: LooksAlive %v %v", ok, err)
	}
	if mem := wasm.GuestMemoryBytes(hog); mem > wasm.DefaultMemoryLimitPages*64<<10 {
		t.Fatalf("the hog's memory is %d bytes, over the limit", mem)
	}
}
