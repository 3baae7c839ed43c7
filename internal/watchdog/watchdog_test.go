package watchdog_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/internal/watchdog"
)

// fifo makes a FIFO the test reads what the watchdog writes from.
func fifo(t *testing.T) (path string, r *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "watchdog")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return path, r
}

func read(r *os.File) string {
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	return string(b[:max(n, 0)])
}

// TestPetOnlyBeforeTheDeadline: a test device (a FIFO) goes through the
// same calls as /dev/watchdog: armed with a first pet, petted only while
// the reset would still precede the deadline, disarmed with the magic 'V'.
func TestPetOnlyBeforeTheDeadline(t *testing.T) {
	path, r := fifo(t)
	w, err := watchdog.New(watchdog.Config{Device: path, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Pet(time.Now().Add(time.Hour)); !errors.Is(err, watchdog.ErrNotArmed) {
		t.Fatalf("Pet before Arm: %v", err)
	}
	if err := w.Arm(); !errors.Is(err, watchdog.ErrNotWatchdog) || !w.Armed() || w.Kernel() {
		t.Fatalf("Arm on a FIFO: %v (armed %v, kernel %v); want it armed with ErrNotWatchdog", err, w.Armed(), w.Kernel())
	}
	if got := read(r); got != "." {
		t.Fatalf("Arm wrote %q, want one pet", got)
	}
	if ok, err := w.Pet(time.Now().Add(3 * time.Second)); !ok || err != nil {
		t.Fatalf("Pet with the deadline 3s away and a 2s timeout: %v %v", ok, err)
	}
	if ok, err := w.Pet(time.Now().Add(time.Second)); ok || err != nil {
		t.Fatalf("Pet with the deadline 1s away and a 2s timeout petted (%v, %v): the machine would outlive its lease", ok, err)
	}
	if got := read(r); got != "." {
		t.Fatalf("pets written %q, want exactly one", got)
	}
	if err := w.Disarm(); err != nil {
		t.Fatal(err)
	}
	if got := read(r); got != "V" {
		t.Fatalf("Disarm wrote %q, want the magic V", got)
	}
}

func TestArmErrors(t *testing.T) {
	if _, err := watchdog.New(watchdog.Config{Device: "/dev/watchdog", Timeout: 1500 * time.Millisecond}); err == nil {
		t.Fatal("a timeout of 1.5s accepted")
	}
	w, err := watchdog.New(watchdog.Config{Device: filepath.Join(t.TempDir(), "missing"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Arm(); err == nil || w.Armed() {
		t.Fatalf("Arm of a missing device: %v, armed %v", err, w.Armed())
	}
	// A FIFO nobody reads fails at once instead of blocking clusterd.
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	w, _ = watchdog.New(watchdog.Config{Device: path, Timeout: time.Second})
	if err := w.Arm(); err == nil || w.Armed() {
		t.Fatalf("Arm of a FIFO without a reader: %v", err)
	}
}

// TestKernelSoftdog pets a real /dev/watchdog, but only one that cannot
// reset this machine: the softdog module loaded with soft_noboot=1.
func TestKernelSoftdog(t *testing.T) {
	param := "/sys/module/softdog/parameters/soft_noboot"
	b, err := os.ReadFile(param)
	if err != nil {
		if out, err := exec.Command("modprobe", "softdog", "soft_noboot=1").CombinedOutput(); err != nil {
			t.Skipf("softdog cannot be loaded with soft_noboot=1 here (%v: %s); a kernel watchdog that could reset the machine is never used by tests", err, strings.TrimSpace(string(out)))
		}
		b, err = os.ReadFile(param)
		if err != nil {
			t.Skipf("softdog loaded but %s unreadable: %v", param, err)
		}
	}
	if strings.TrimSpace(string(b)) != "Y" && strings.TrimSpace(string(b)) != "1" {
		t.Skipf("softdog is loaded without soft_noboot: petting it could reset this machine")
	}
	// The softdog's own device: /dev/watchdog may be a hardware timer.
	dev := ""
	ids, _ := filepath.Glob("/sys/class/watchdog/watchdog*/identity")
	for _, id := range ids {
		if b, err := os.ReadFile(id); err == nil && strings.Contains(string(b), "Software Watchdog") {
			dev = "/dev/" + filepath.Base(filepath.Dir(id))
		}
	}
	if dev == "" {
		t.Skip("softdog is loaded but no /sys/class/watchdog entry names it")
	}
	w, err := watchdog.New(watchdog.Config{Device: dev, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Arm(); err != nil {
		t.Fatalf("Arm of %s: %v", dev, err)
	}
	if !w.Kernel() {
		t.Fatal("softdog not recognised as a kernel watchdog")
	}
	if ok, err := w.Pet(time.Now().Add(time.Minute)); !ok || err != nil {
		t.Fatalf("Pet: %v %v", ok, err)
	}
	if err := w.Disarm(); err != nil {
		t.Fatal(err)
	}
}
