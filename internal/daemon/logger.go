package daemon

import (
	"time"

	"github.com/hashicorp/go-hclog"
)

// readableLogger writes durations as Go duration strings ("1.5s") in every
// format: hclog's JSON writes a time.Duration as integer nanoseconds,
// which nobody reads at a glance.
type readableLogger struct{ hclog.Logger }

func readable(kv []any) []any {
	for i := 1; i < len(kv); i += 2 {
		if d, ok := kv[i].(time.Duration); ok {
			kv[i] = d.String()
		}
	}
	return kv
}

func (l readableLogger) Log(level hclog.Level, msg string, kv ...any) {
	l.Logger.Log(level, msg, readable(kv)...)
}
func (l readableLogger) Trace(msg string, kv ...any) { l.Logger.Trace(msg, readable(kv)...) }
func (l readableLogger) Debug(msg string, kv ...any) { l.Logger.Debug(msg, readable(kv)...) }
func (l readableLogger) Info(msg string, kv ...any)  { l.Logger.Info(msg, readable(kv)...) }
func (l readableLogger) Warn(msg string, kv ...any)  { l.Logger.Warn(msg, readable(kv)...) }
func (l readableLogger) Error(msg string, kv ...any) { l.Logger.Error(msg, readable(kv)...) }
func (l readableLogger) With(kv ...any) hclog.Logger {
	return readableLogger{l.Logger.With(readable(kv)...)}
}
func (l readableLogger) Named(name string) hclog.Logger { return readableLogger{l.Logger.Named(name)} }
func (l readableLogger) ResetNamed(name string) hclog.Logger {
	return readableLogger{l.Logger.ResetNamed(name)}
}
