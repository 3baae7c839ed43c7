package sdk

import (
	"regexp"
	"strings"
)

// levelPatterns are the ways a line marks its level: level=X or
// "level":"X", a bracketed [X] or <X>, an upper-case WORD, or "x:" first.
// A level word in prose ("an error occurred") is not a marker.
var levelPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\blevel"?\s*[=:]\s*"?([a-z]+)`),
	regexp.MustCompile(`(?i)[\[<]([a-z]+)[\]>]`),
	regexp.MustCompile(`\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|PANIC|ALERT|EMERG)\b`),
	regexp.MustCompile(`(?i)^\s*([a-z]+):`),
}

// LineLevel is the level to log a line of an application's output at:
// INFO, whether the line came on stdout or stderr (many programs write
// everything to stderr, an access log among them), unless the line marks
// its level near its start: "ERROR ...", "[warn] ...", "level=debug",
// `"level":"error"`. The Generic Application and the WASM host's child
// processes log their output this way.
func LineLevel(line string) LogLevel {
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
	return LevelInfo
}

func levelWord(w string) (LogLevel, bool) {
	switch strings.ToLower(w) {
	case "trace":
		return LevelTrace, true
	case "debug":
		return LevelDebug, true
	case "info", "notice":
		return LevelInfo, true
	case "warn", "warning":
		return LevelWarn, true
	case "error", "err", "crit", "critical", "fatal", "panic", "alert", "emerg":
		return LevelError, true
	}
	return LevelInfo, false
}
