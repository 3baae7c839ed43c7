// Package watchdog arms and pets a machine watchdog (/dev/watchdog: the
// softdog module or a hardware timer) for clusterd: the machine resets
// unless it is petted within the timeout, and clusterd pets it only when
// a keepalive of its lease was confirmed, and only if the reset would
// still come before its self-fencing deadline (DESIGN §9, README
// "Self-fencing"). It is the last line of defence when clusterd, its
// plugin processes and the keeper all stand still.
//
// The timing rule: keepalive interval < timeout < lease TTL − fence
// margin (internal/config checks it). A pet at time t resets the machine
// at t + timeout at the latest; clusterd pets only while t + timeout is
// before its deadline, so the machine is reset before any other node can
// see the lease expire.
package watchdog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Errors.
var (
	// ErrNotWatchdog reports a device that is not a kernel watchdog (not a
	// character device answering the watchdog ioctls): Arm accepts it in
	// optional mode, for tests, and the daemon refuses it in required mode.
	ErrNotWatchdog = errors.New("watchdog: not a watchdog device")
	// ErrTimeout reports a device that would not take the timeout asked.
	ErrTimeout = errors.New("watchdog: the device would not take the timeout")
	// ErrNotArmed reports a Pet or Disarm before Arm.
	ErrNotArmed = errors.New("watchdog: not armed")
)

// Config configures a Watchdog.
type Config struct {
	Device  string        // path, such as /dev/watchdog
	Timeout time.Duration // whole seconds, at least 1s
	Log     hclog.Logger
}

// Watchdog is one armed device. Safe for concurrent use.
type Watchdog struct {
	cfg Config
	log hclog.Logger

	mu     sync.Mutex
	f      *os.File
	kernel bool // a real watchdog: its timeout was set by ioctl
	pets   int
	skips  int
}

// New checks cfg and returns an unarmed watchdog. It does no I/O.
func New(cfg Config) (*Watchdog, error) {
	if cfg.Device == "" {
		return nil, errors.New("watchdog: no device")
	}
	if cfg.Timeout < time.Second || cfg.Timeout%time.Second != 0 {
		return nil, fmt.Errorf("watchdog: timeout %s: whole seconds, at least 1s", cfg.Timeout)
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Watchdog{cfg: cfg, log: log}, nil
}

// Arm opens the device, sets its timeout and pets it once: from now on the
// machine resets unless Pet is called within the timeout, or Disarm.
// A file or FIFO that is not a watchdog is opened and petted the same way
// (it protects nothing: tests use one) and reported with ErrNotWatchdog
// wrapped in the returned error, the device armed all the same.
func (w *Watchdog) Arm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		return nil
	}
	// Non-blocking: a FIFO without a reader fails at once instead of
	// hanging clusterd.
	f, err := os.OpenFile(w.cfg.Device, os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("watchdog: opening %s: %w", w.cfg.Device, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("watchdog: %s: %w", w.cfg.Device, err)
	}
	var notWatchdog error
	if st.Mode()&os.ModeCharDevice != 0 {
		secs := int(w.cfg.Timeout / time.Second)
		fd := int(f.Fd())
		if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs); err != nil {
			w.magicClose(f)
			if errors.Is(err, syscall.ENOTTY) {
				return fmt.Errorf("%w: %s: %v", ErrNotWatchdog, w.cfg.Device, err)
			}
			return fmt.Errorf("%w: %s: setting %ds: %v", ErrTimeout, w.cfg.Device, secs, err)
		}
		got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
		if err != nil || got < 1 || got > secs {
			w.magicClose(f)
			return fmt.Errorf("%w: %s: asked %ds, the device runs %ds (%v)", ErrTimeout, w.cfg.Device, secs, got, err)
		}
		w.kernel = true
	} else {
		notWatchdog = fmt.Errorf("%w: %s is a %s; petting it protects nothing", ErrNotWatchdog, w.cfg.Device, st.Mode().Type())
	}
	w.f = f
	if err := w.write([]byte{'.'}); err != nil {
		w.magicClose(f)
		w.f = nil
		return fmt.Errorf("watchdog: first pet of %s: %w", w.cfg.Device, err)
	}
	w.log.Info("machine watchdog armed", "device", w.cfg.Device, "timeout", w.cfg.Timeout, "kernel_watchdog", w.kernel)
	return notWatchdog
}

// Pet keeps the machine alive for another timeout, but only if that ends
// before deadline (the node's self-fencing deadline, just confirmed by a
// keepalive): a pet that came too late would let the machine outlive its
// lease. It reports whether it petted.
func (w *Watchdog) Pet(deadline time.Time) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return false, ErrNotArmed
	}
	if time.Now().Add(w.cfg.Timeout).After(deadline) {
		w.skips++
		w.log.Warn("not petting the machine watchdog: the renewal came too late for the reset to precede the lease deadline",
			"device", w.cfg.Device, "deadline_in", time.Until(deadline).Round(time.Millisecond), "timeout", w.cfg.Timeout)
		return false, nil
	}
	if err := w.write([]byte{'.'}); err != nil {
		return false, fmt.Errorf("watchdog: petting %s: %w", w.cfg.Device, err)
	}
	w.pets++
	return true, nil
}

// write writes b; the kernel treats any write as a pet.
func (w *Watchdog) write(b []byte) error {
	_, err := w.f.Write(b)
	return err
}

// Disarm stops the watchdog with the magic close ('V', then close): for a
// clean stop only, after the node left the cluster. A clusterd that dies
// without it leaves the watchdog running, and the machine resets.
func (w *Watchdog) Disarm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrNotArmed
	}
	err := w.magicClose(w.f)
	w.f = nil
	w.log.Info("machine watchdog disarmed", "device", w.cfg.Device, "pets", w.pets, "skipped", w.skips)
	return err
}

func (w *Watchdog) magicClose(f *os.File) error {
	_, err := f.Write([]byte{'V'})
	return errors.Join(err, f.Close())
}

// Armed reports whether the watchdog is armed.
func (w *Watchdog) Armed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f != nil
}

// Kernel reports whether the armed device is a kernel watchdog.
func (w *Watchdog) Kernel() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kernel
}
