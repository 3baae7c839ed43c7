package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
)

// Errors of the console's checks, each shown to the operator.
var (
	ErrForbidden = errors.New("web: viewers can look but not act")
	ErrCSRF      = errors.New("web: the form is not from this console (missing or wrong token, or posted from another site)")
)

const sessionCookie = "resmon_session"

// identity is who is asking: an operator certificate's holder or a
// session's.
type identity struct {
	Operator string // as recorded with actions
	Role     string // pki.RoleAdmin or pki.RoleViewer
	Via      string // "certificate" or "login"
	CSRF     string // the token forms must carry
	sid      string // the session, for a login
}

// Admin reports whether the identity may act.
func (id identity) Admin() bool { return id.Role == pki.RoleAdmin }

type session struct {
	identity
	expires time.Time
}

// who finds the identity of r: a verified operator certificate first,
// then the session cookie. ok is false for nobody.
func (s *Server) who(r *http.Request) (identity, bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		c := r.TLS.PeerCertificates[0]
		role := pki.Role(c)
		if role == pki.RoleAdmin || role == pki.RoleViewer {
			sum := sha256.Sum256(c.Raw)
			return identity{Operator: c.Subject.CommonName, Role: role, Via: "certificate",
				CSRF: s.token("cert:" + hex.EncodeToString(sum[:]))}, true
		}
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return identity{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[ck.Value]
	if ss == nil {
		return identity{}, false
	}
	if time.Now().After(ss.expires) {
		delete(s.sessions, ck.Value)
		return identity{}, false
	}
	return ss.identity, true
}

func (s *Server) token(subject string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(subject))
	return hex.EncodeToString(m.Sum(nil))
}

// authed runs h for a known operator; anyone else is sent to the login
// page (or refused, for what is not a page).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.who(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path != "/live" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first: an operator certificate of the cluster, or a code from `cluster web login`", http.StatusUnauthorized)
			return
		}
		h(w, r, id)
	}
}

// checkPost checks a form post: a form's content type, from this origin,
// with the identity's CSRF token. It parses the form.
func checkPost(r *http.Request, id identity) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return fmt.Errorf("%w: content type %q", ErrCSRF, mt)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host || u.Scheme != "https" {
			return fmt.Errorf("%w: origin %q", ErrCSRF, o)
		}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("%w: sent from a %s page", ErrCSRF, site)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("web: reading the form: %w", err)
	}
	if got := r.PostForm.Get("csrf"); id.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(id.CSRF)) != 1 {
		return ErrCSRF
	}
	return nil
}

// loginPage asks for a login code (filled in from ?code= when given).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.who(r); ok && r.URL.Query().Get("code") == "" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, pageData{Title: "Log in", Node: s.cfg.Node, Body: "login",
		Data: loginData{Code: r.URL.Query().Get("code"), Next: safeNext(r.URL.Query().Get("next"))}})
}

type loginData struct {
	Code, Next, Error string
}

// login takes a one-time code and opens a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		s.render(w, status, pageData{Title: "Log in", Node: s.cfg.Node, Body: "login", Data: loginData{Next: safeNext(r.PostForm.Get("next")), Error: msg}})
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, "the login form must be posted as a form")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host || u.Scheme != "https" {
			fail(http.StatusForbidden, "the login form must come from this console")
			return
		}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		fail(http.StatusForbidden, "the login form must come from this console")
		return
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "the login form could not be read")
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		fail(http.StatusBadRequest, "enter the code `cluster web login` printed")
		return
	}
	l, err := s.cfg.Store.TakeWebLogin(r.Context(), code)
	if err != nil {
		status := http.StatusInternalServerError
		msg := "the cluster could not be asked about the code: " + err.Error()
		if errors.Is(err, quorum.ErrNotFound) {
			status, msg = http.StatusUnauthorized, "that code is unknown, used or expired: ask for a new one with `cluster web login`"
		}
		fail(status, msg)
		return
	}
	if l.Role != pki.RoleAdmin && l.Role != pki.RoleViewer {
		fail(http.StatusForbidden, fmt.Sprintf("the code carries the role %q, which is neither admin nor viewer", l.Role))
		return
	}
	sid := randomID()
	ss := &session{identity: identity{Operator: "web:" + l.Operator, Role: l.Role, Via: "login", CSRF: randomID(), sid: sid},
		expires: time.Now().Add(s.cfg.SessionTTL)}
	s.mu.Lock()
	now := time.Now()
	for k, v := range s.sessions {
		if now.After(v.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[sid] = ss
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL / time.Second)})
	s.cfg.Log.Info("console login", "operator", ss.Operator, "role", ss.Role, "issued_by", l.IssuedBy)
	s.opsSession(ss.identity).Record(r.Context(), "web.login", s.cfg.Node, fmt.Sprintf("logged in to the web console as %s", l.Role), nil)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// logout ends a login session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, id identity) {
	if err := checkPost(r, id); err != nil {
		s.fail(w, r, id, http.StatusForbidden, "Not logged out", err)
		return
	}
	if id.sid != "" {
		s.mu.Lock()
		delete(s.sessions, id.sid)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect on the console: a path, nothing else. A
// control character is refused too: browsers drop tabs and newlines from
// a Location, so "/\t/evil.com" would leave the console as //evil.com.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return next
}

func randomID() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
