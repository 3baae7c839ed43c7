package admin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// Change is one change made through the API, as Config.OnChange gets it.
type Change struct {
	// Operator is who made it: "uid=N(name)" of the peer of the unix
	// socket, "cn=NAME" of the client certificate on TCP.
	Operator string
	// PID is the peer's process on the unix socket (0 on TCP).
	PID int
	// Action is "registry.set", "registry.delete-value",
	// "registry.delete-key" or "registry.import".
	Action string
	// Key is the registry key changed (for an import, the file's name).
	Key string
	// Message says what changed, for people.
	Message string
}

// peerKey finds the unix peer's credentials in a connection's context.
type peerKey struct{}

type peerCred struct {
	uid, pid int
	err      error
}

// connContext records the credentials of a unix socket's peer (the kernel
// answers SO_PEERCRED with those of the process that connected).
func connContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	pc := peerCred{uid: -1}
	raw, err := uc.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			var cred *unix.Ucred
			if cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				pc.uid, pc.pid = int(cred.Uid), int(cred.Pid)
			}
		})
		if err == nil {
			err = cerr
		}
	}
	pc.err = err
	return context.WithValue(ctx, peerKey{}, pc)
}

// operator names who sent r, and the peer's pid on a unix socket.
func operator(r *http.Request) (string, int) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return "cn=" + r.TLS.PeerCertificates[0].Subject.CommonName, 0
	}
	if pc, ok := r.Context().Value(peerKey{}).(peerCred); ok {
		if pc.err != nil {
			return fmt.Sprintf("unix peer (credentials unknown: %v)", pc.err), 0
		}
		name := "?"
		if u, err := user.LookupId(strconv.Itoa(pc.uid)); err == nil {
			name = u.Username
		}
		return fmt.Sprintf("uid=%d(%s)", pc.uid, name), pc.pid
	}
	if r.RemoteAddr == "" || r.RemoteAddr == "@" {
		return "unix peer (credentials unknown)", 0
	}
	return r.RemoteAddr, 0
}
