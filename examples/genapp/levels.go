package genapp

import (
	"regexp"
	"strings"

	"github.com/resmon/resmon/sdk"
)

// An application's output goes to the node log at INFO, stderr too (many
// programs write everything there, an access log among them), unless the
// line says its level itself: "ERROR ...", "[warn] ...", "level=debug",
// `"level":"error"`, near its start.

// levelPatterns are the ways a line marks its level: level=X or
// "level":"X", a bracketed [X] or <X>, an upper-case WORD, or "x:" first.
// A level word in prose ("an error occurred") is not a marker.
var levelPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\blevel"?\s*[=:]\s*"?([a-z]+)`),
	regexp.MustCompile(`(?i)[\[<]([a-z]+)[\]>]`),
	regexp.MustCompile(`\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|PANIC|ALERT|EMERG)\b`),
	regexp.MustCompile(`(?i)^\s*([a-z]+):`),
}

// lineLevel is the level a line of application output is logged at.
func lineLevel(line string) sdk.LogLevel {
	head := line
	if len(head) > 64 {
		head = head[:64]
	}
	for _, p := range levelPatterns {
		if m := p.FindStringSubmatch(head); m != nil {
			if l, ok := levelWord(m[1]); ok {
				return l
			}
		}
	}
	return sdk.LevelInfo
}

func levelWord(w string) (sdk.LogLevel, bool) {
	switch strings.ToLower(w) {
	case "trace":
		return sdk.LevelTrace, true
	case "debug":
		return sdk.LevelDebug, true
	case "info", "notice":
		return sdk.LevelInfo, true
	case "warn", "warning":
		return sdk.LevelWarn, true
	case "error", "err", "crit", "critical", "fatal", "panic", "alert", "emerg":
		return sdk.LevelError, true
	}
	return sdk.LevelInfo, false
}
