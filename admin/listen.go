package admin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxSocketPath is the longest unix socket path Linux accepts.
const maxSocketPath = 107

// ParseAddr splits an admin address into the network ("unix" or "tcp") and
// the address.
func ParseAddr(addr string) (network, address string, err error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		switch {
		case p == "":
			return "", "", fmt.Errorf("%w %q: the socket path is missing", ErrBadAddress, addr)
		case len(p) > maxSocketPath:
			return "", "", fmt.Errorf("%w %q: the socket path is %d bytes, Linux allows %d", ErrBadAddress, addr, len(p), maxSocketPath)
		}
		return "unix", p, nil
	}
	if hp, ok := strings.CutPrefix(addr, "tcp:"); ok {
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return "", "", fmt.Errorf("%w %q: expected tcp:HOST:PORT", ErrBadAddress, addr)
		}
		return "tcp", hp, nil
	}
	return "", "", fmt.Errorf("%w %q: expected unix:PATH or tcp:HOST:PORT", ErrBadAddress, addr)
}

// Listen opens the admin address. A unix socket is created with mode 0600
// (it is bound inside a private directory and moved into place, so it is
// never reachable with looser permissions); a socket file left by a server
// that is gone is replaced, a live one or a file that is not a socket is
// ErrInUse. On TCP, tlsCfg must require and verify client certificates
// (ServerTLS), loopback addresses included: every local user can reach a
// loopback port, while the socket's mode keeps them out.
func Listen(addr string, tlsCfg *tls.Config) (net.Listener, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if tlsCfg != nil {
			return nil, fmt.Errorf("%w %q: TLS applies to tcp: addresses only (a unix socket is guarded by its file mode)", ErrBadAddress, addr)
		}
		return listenUnix(address)
	}
	switch {
	case tlsCfg == nil:
		return nil, fmt.Errorf("%w: %q: set node.admin_cert, admin_key and admin_ca, or use a unix: socket", ErrInsecure, addr)
	case tlsCfg.ClientAuth != tls.RequireAndVerifyClientCert || tlsCfg.ClientCAs == nil:
		return nil, fmt.Errorf("%w: %q: the TLS configuration does not require client certificates signed by a CA", ErrInsecure, addr)
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("admin: listening on %s: %w", addr, err)
	}
	return tls.NewListener(ln, tlsCfg), nil
}

func listenUnix(path string) (net.Listener, error) {
	if err := clearStale(path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.MkdirTemp(dir, ".admin")
	if err != nil {
		return nil, fmt.Errorf("admin: socket %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	bindAt := filepath.Join(tmp, "s")
	if len(bindAt) > maxSocketPath {
		// No room for the private directory: bind in place, with a umask
		// that already keeps others out.
		return listenUnixInPlace(path)
	}
	ln, err := net.Listen("unix", bindAt)
	return finishSocket(ln, err, bindAt, path)
}

// finishSocket sets the mode of the socket bound at bindAt and moves it to
// path (if elsewhere).
func finishSocket(ln net.Listener, err error, bindAt, path string) (net.Listener, error) {
	if err != nil {
		return nil, fmt.Errorf("admin: socket %s: %w", path, err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	err = os.Chmod(bindAt, 0o600)
	if err == nil && bindAt != path {
		err = os.Rename(bindAt, path)
	}
	if err != nil {
		ul.Close()
		os.Remove(bindAt)
		return nil, fmt.Errorf("admin: socket %s: %w", path, err)
	}
	return newSocketListener(ul, path), nil
}

// umaskMu serialises the fallback's umask change within this process.
var umaskMu sync.Mutex

func listenUnixInPlace(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	return finishSocket(ln, err, path, path)
}

// clearStale removes a socket file that nobody listens on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin: socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%w: %s exists and is not a socket; not touching it", ErrInUse, path)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: a server is listening on %s (another clusterd of this node?)", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %s: cannot tell whether a server listens on it: %v", ErrInUse, path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin: removing the stale socket %s: %w", path, err)
	}
	return nil
}

// socketListener removes its socket file on Close, if the file is still the
// one it created.
type socketListener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
	once sync.Once
}

func newSocketListener(ul *net.UnixListener, path string) *socketListener {
	fi, _ := os.Lstat(path)
	return &socketListener{UnixListener: ul, path: path, fi: fi}
}

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, e := os.Lstat(l.path); e == nil && l.fi != nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}

// ServerTLS loads the node's certificate and key and the CA that signs
// operators' client certificates, and returns a configuration that requires
// and verifies them (TLS 1.3).
func ServerTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, pool, err := loadTLS(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// ClientTLS loads a client certificate and key and the CA that signs the
// nodes' certificates.
func ClientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, pool, err := loadTLS(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

func loadTLS(certFile, keyFile, caFile string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("admin: loading certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("admin: reading CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("admin: CA %s holds no PEM certificate", caFile)
	}
	return cert, pool, nil
}
