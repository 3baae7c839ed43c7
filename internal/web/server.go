package web

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ErrConfig reports a Config that cannot serve.
var ErrConfig = errors.New("web: invalid configuration")

// Config is what a Server needs.
type Config struct {
	// Node is the node serving the console, shown in the page and
	// recorded with the actions taken through it.
	Node string
	// Store and Etcd reach the cluster (ops.Session).
	Store *quorum.Store
	Etcd  *clientv3.Client
	// SessionTTL is how long a login lasts; 0: 8 hours.
	SessionTTL time.Duration
	// ActionWait bounds how long an action waits for the owner's answer
	// before the page shows it as filed; 0: 15 seconds.
	ActionWait time.Duration
	// Log receives what the console does; nil: nothing is logged.
	Log hclog.Logger
}

// Server is the web console of one node. Its handlers are safe for
// concurrent use; its sessions are its own (see the package notes).
type Server struct {
	cfg   Config
	tmpl  *template.Template
	files http.Handler

	mu       sync.Mutex
	sessions map[string]*session
	csrfKey  []byte

	changes *hub
}

// New returns a console serving cfg's cluster. It does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: no Store", ErrConfig)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.ActionWait == 0 {
		cfg.ActionWait = 15 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &Server{cfg: cfg, tmpl: tmpl, files: http.StripPrefix("/static/", http.FileServerFS(static)),
		sessions: map[string]*session{}, csrfKey: key, changes: newHub()}, nil
}

// session returns the ops session of an operator acting through this node.
func (s *Server) opsSession(id identity) ops.Session {
	return ops.Session{Store: s.cfg.Store, Etcd: s.cfg.Etcd, Operator: id.Operator, Node: s.cfg.Node,
		Warn: func(err error) { s.cfg.Log.Warn("action", "operator", id.Operator, "error", err) }}
}

// Serve serves the console on ln (a TLS listener: see ServerTLS) until
// ctx ends, then shuts down, ending live updates.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    s.cfg.Log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan struct{})
	go func() { defer close(watched); s.changes.run(wctx, s.cfg.Store.WatchAll(wctx)) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		cancel()
		<-watched
		return err
	case <-ctx.Done():
	}
	cancel()
	<-watched
	sctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Handler is the console's routes, behind its security headers.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", s.files)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.authed(s.logout))
	mux.HandleFunc("GET /{$}", s.authed(s.page(viewOverview)))
	mux.HandleFunc("GET /group/{name}", s.authed(s.page(viewGroup)))
	mux.HandleFunc("GET /resource/{name}", s.authed(s.page(viewResource)))
	mux.HandleFunc("GET /events", s.authed(s.page(viewEvents)))
	mux.HandleFunc("GET /live", s.authed(s.live))
	mux.HandleFunc("GET /confirm", s.authed(s.confirm))
	mux.HandleFunc("POST /act", s.authed(s.act))
	mux.HandleFunc("/", s.authed(func(w http.ResponseWriter, r *http.Request, id identity) {
		s.fail(w, r, id, http.StatusNotFound, "No such page", fmt.Errorf("%s is not a page of the console", r.URL.Path))
	}))
	return secure(mux)
}

// contentSecurityPolicy allows the console's own files only: no inline
// script or style, no framing, forms post to the console alone.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the security headers of every answer.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// hub tells live pages that the cluster changed: a channel closed at each
// change, replaced by a fresh one.
type hub struct {
	mu sync.Mutex
	ch chan struct{}
}

func newHub() *hub { return &hub{ch: make(chan struct{})} }

// next is closed at the next change.
func (h *hub) next() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ch
}

func (h *hub) run(ctx context.Context, changes <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
		case _, ok := <-changes:
			if ok {
				h.mu.Lock()
				close(h.ch)
				h.ch = make(chan struct{})
				h.mu.Unlock()
				continue
			}
		}
		// The watch ended: wake every page, which then sees ctx done.
		h.mu.Lock()
		close(h.ch)
		h.ch = make(chan struct{})
		h.mu.Unlock()
		return
	}
}
