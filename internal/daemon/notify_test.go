package daemon_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum/quorumtest"
)

// TestSystemdNotify: under systemd (Type=notify, WatchdogSec=), clusterd
// says READY=1 once it has joined, pets the watchdog while its lease is
// confirmed, and says STOPPING=1 when SIGTERM starts the drain. The test
// plays systemd's part: a datagram socket in $NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	bin := clusterdBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var got []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:n]))
			mu.Unlock()
		}
	}()
	seen := func(prefix string) int {
		mu.Lock()
		defer mu.Unlock()
		for i, m := range got {
			if strings.HasPrefix(m, prefix) {
				return i
			}
		}
		return -1
	}

	clientURL, peerURL := quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
	cfgPath := filepath.Join(dir, "cluster.toml")
	cfg := fmt.Sprintf(nodeConfig, "node1", filepath.Join(dir, "data"), "json", clientURL, peerURL, "node1")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, "READY=1", 30*time.Second, func() bool { return seen("READY=1") >= 0 })
	waitFor(t, "the watchdog petted", 10*time.Second, func() bool { return seen("WATCHDOG=1") > seen("READY=1") })
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("clusterd did not stop:\n%s", logs.String())
	}
	if i := seen("STOPPING=1"); i < 0 || i < seen("READY=1") {
		t.Fatalf("no STOPPING=1 after READY=1: %q", got)
	}
	// Durations in the JSON log read as durations.
	if !strings.Contains(logs.String(), `"took":"`) {
		t.Errorf("a duration logged as a number:\n%s", logs.String())
	}
	if strings.Count(strings.SplitN(logs.String(), "\n", 2)[0], `"node":`) != 1 {
		t.Errorf("not one node field per line:\n%s", logs.String())
	}
}
