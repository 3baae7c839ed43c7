package sdk_test

import (
	"testing"

	"github.com/resmon/resmon/sdk"
)

func TestLineLevel(t *testing.T) {
	for _, c := range []struct {
		line string
		want sdk.LogLevel
	}{
		{`127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612`, sdk.LevelInfo},
		{"listening on :8080", sdk.LevelInfo},
		{"ERROR: cannot open /var/lib/x", sdk.LevelError},
		{"2026/12/04 10:00:00 [warn] 1#1: low disk", sdk.LevelWarn},
		{`time=2026-12-04T10:00:00Z level=debug msg="tick"`, sdk.LevelDebug},
		{`{"level":"error","msg":"boom"}`, sdk.LevelError},
		{"FATAL out of memory", sdk.LevelError},
		{"an error occurred, the application says in prose", sdk.LevelInfo},
		{"error: no such file", sdk.LevelError},
		{"<debug> cache warm", sdk.LevelDebug},
		{"a line that says nothing until its sixty-fifth character, where it says ERROR", sdk.LevelInfo},
		{"terrorist", sdk.LevelInfo},
	} {
		if got := sdk.LineLevel(c.line); got != c.want {
			t.Errorf("%q: %v, want %v", c.line, got, c.want)
		}
	}
}
