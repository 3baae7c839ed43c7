package pluginproto

import (
	"time"

	"golang.org/x/sys/unix"
)

// Deadlines cross the process boundary as instants on CLOCK_MONOTONIC
// (message Deadline): host and plugin run on one machine and read the same
// clock, which neither wall-clock steps nor NTP slewing of the date moves.

// MonotonicNow reads CLOCK_MONOTONIC in nanoseconds.
func MonotonicNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("pluginproto: CLOCK_MONOTONIC: " + err.Error()) // cannot fail on Linux
	}
	return ts.Nano()
}

// ToMonotonic converts t, read from Go's clock in this process, into a
// CLOCK_MONOTONIC instant another process of this machine can wait for.
func ToMonotonic(t time.Time) int64 {
	return MonotonicNow() + int64(time.Until(t))
}

// UntilMonotonic is how long until the CLOCK_MONOTONIC instant ns
// (negative once it has passed).
func UntilMonotonic(ns int64) time.Duration {
	return time.Duration(ns - MonotonicNow())
}
