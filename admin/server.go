package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/sdk"
)

// Registry is what the server needs of the node-local registry;
// *registry.Registry has it.
type Registry interface {
	GetValue(ctx context.Context, key, name string) (sdk.Value, error)
	SetValue(ctx context.Context, key, name string, v sdk.Value) error
	DeleteValue(ctx context.Context, key, name string) error
	DeleteKey(ctx context.Context, key string) error
	SubKeys(ctx context.Context, key string) ([]string, error)
	Values(ctx context.Context, key string) ([]sdk.Value, error)
	Snapshot(ctx context.Context, key string) (*registry.Key, uint64, error)
	Import(ctx context.Context, name string, rd io.Reader) error
}

var _ Registry = (*registry.Registry)(nil)

// DefaultMaxRequestBytes bounds a request body (an imported .reg file).
const DefaultMaxRequestBytes = 64 << 20

// Config configures a Server.
type Config struct {
	Node     string   // the node's name, reported by /v1/info
	Version  string   // the clusterd version, reported by /v1/info
	Registry Registry // required
	Log      hclog.Logger
	// MaxRequestBytes bounds request bodies; 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// OnChange, if set, is called after every change made through the API,
	// with the operator who made it (clusterd records it in the event log).
	// It must not block for long: the answer waits for it.
	OnChange func(Change)
	// Checkpointed, if set, returns what an operator must know about a
	// change to key: that a resource not online on this node checkpoints
	// it, so its checkpoint will overwrite the change when it next comes
	// online. The warnings go back in the answer.
	Checkpointed func(ctx context.Context, keys []string) []string
}

// Changed is the answer to a change of the registry.
type Changed struct {
	// Warnings are what the operator must know about the change (a
	// checkpoint that will overwrite it).
	Warnings []string `json:"warnings,omitempty"`
}

// Server serves the admin API. Build it with New, run it with Serve.
type Server struct {
	cfg Config
	mux *http.ServeMux
}

// Info is the answer of /v1/info.
type Info struct {
	Node    string `json:"node"`
	Version string `json:"version,omitempty"`
}

// Listing is the answer of /v1/registry/list.
type Listing struct {
	Key     string   `json:"key"`
	SubKeys []string `json:"subkeys"`
	Values  []Value  `json:"values"`
}

// ImportResult is the answer of /v1/registry/import: what the file held.
type ImportResult struct {
	Name          string `json:"name"`
	Keys          int    `json:"keys"`
	Values        int    `json:"values"`
	DeletedKeys   int    `json:"deleted_keys"`
	DeletedValues int    `json:"deleted_values"`
	// Warnings are what the operator must know (see Changed).
	Warnings []string `json:"warnings,omitempty"`
}

// Request bodies.
type (
	keyRequest struct {
		Key string `json:"key"`
	}
	valueRequest struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	setRequest struct {
		Key   string `json:"key"`
		Value Value  `json:"value"`
	}
	exportRequest struct {
		Key      string `json:"key"`
		Encoding string `json:"encoding"` // "utf-8" (default) or "utf-16"
	}
	importRequest struct {
		Name string `json:"name"` // the file's name, for messages
		Data []byte `json:"data"` // the .reg file (base64 in JSON)
	}
)

// New checks cfg and returns a server; it does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, ErrNoRegistry
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/info", s.info)
	s.mux.HandleFunc("POST /v1/registry/get", s.get)
	s.mux.HandleFunc("POST /v1/registry/set", s.set)
	s.mux.HandleFunc("POST /v1/registry/delete-value", s.deleteValue)
	s.mux.HandleFunc("POST /v1/registry/delete-key", s.deleteKey)
	s.mux.HandleFunc("POST /v1/registry/list", s.list)
	s.mux.HandleFunc("POST /v1/registry/export", s.export)
	s.mux.HandleFunc("POST /v1/registry/import", s.importReg)
	return s, nil
}

// Handler is the API as an http.Handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP refuses a request with a body that is not JSON before any
// handler sees it. Browsers send form and text bodies to any address
// without asking it first (a "simple" cross-origin request), but ask before
// sending JSON, which this API never allows: so no web page can make an
// operator's browser change anything.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			if ct == "" {
				ct = "none"
			}
			writeJSON(w, http.StatusUnsupportedMediaType, apiError{
				Error: fmt.Sprintf("%s %s: Content-Type %s: %v (send JSON with Content-Type: application/json)", r.Method, r.URL.Path, ct, ErrMediaType),
				Code:  codeMediaType})
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// changed logs a change with its operator and hands it to OnChange.
func (s *Server) changed(r *http.Request, action, key, msg string, kv ...any) {
	op, pid := operator(r)
	kv = append([]any{"operator", op}, kv...)
	if pid != 0 {
		kv = append(kv, "pid", pid)
	}
	s.cfg.Log.Info(msg, kv...)
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(Change{Operator: op, PID: pid, Action: action, Key: key, Message: msg})
	}
}

// Serve answers requests on ln until ctx ends, then lets running requests
// finish (for up to 5 s) and closes ln. It returns nil when ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          s.cfg.Log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("admin: serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-done
	return nil
}

// apiError is an error answer.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Error codes of the answers.
const (
	codeBadRequest = "bad_request"
	codeNotFound   = "not_found"
	codeTooLarge   = "too_large"
	codeMediaType  = "unsupported_media_type"
	codeInternal   = "internal"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fail answers err: what the registry refused as invalid is a bad request,
// a missing key or value is not found, the rest is internal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	var tooLarge *http.MaxBytesError
	status, code := http.StatusInternalServerError, codeInternal
	switch {
	case errors.As(err, &tooLarge):
		status, code = http.StatusRequestEntityTooLarge, codeTooLarge
		err = fmt.Errorf("the request is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, errDecode), errors.Is(err, sdk.ErrInvalidParameter):
		status, code = http.StatusBadRequest, codeBadRequest
	case errors.Is(err, sdk.ErrNotFound):
		status, code = http.StatusNotFound, codeNotFound
	}
	if status == http.StatusInternalServerError {
		s.cfg.Log.Error("admin request failed", "path", r.URL.Path, "error", err)
	}
	writeJSON(w, status, apiError{Error: what + ": " + err.Error(), Code: code})
}

var errDecode = errors.New("malformed request")

// decode reads a JSON request body into v strictly: one object, no unknown
// fields, nothing after it.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errDecode, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON object", errDecode)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", errDecode)
	}
	return nil
}

// read decodes the request body into v, answering the error if it fails.
func (s *Server) read(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err == nil {
		err = decode(body, v)
	}
	if err != nil {
		s.fail(w, r, "reading the request", err)
		return false
	}
	return true
}

// checkKey checks a key path before anything touches the registry.
func checkKey(key string) error {
	if _, err := registry.ParsePath(key); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	return nil
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Info{Node: s.cfg.Node, Version: s.cfg.Version})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	var req valueRequest
	if !s.read(w, r, &req) {
		return
	}
	if err := checkKey(req.Key); err != nil {
		s.fail(w, r, "get", err)
		return
	}
	v, err := s.cfg.Registry.GetValue(r.Context(), req.Key, req.Name)
	if err != nil {
		s.fail(w, r, fmt.Sprintf("get %q value %q", req.Key, req.Name), err)
		return
	}
	writeJSON(w, http.StatusOK, FromSDK(v))
}

// warnings asks the Checkpointed hook about a changed key.
func (s *Server) warnings(r *http.Request, key string) Changed {
	if s.cfg.Checkpointed == nil {
		return Changed{}
	}
	return Changed{Warnings: s.cfg.Checkpointed(r.Context(), []string{key})}
}

func (s *Server) set(w http.ResponseWriter, r *http.Request) {
	var req setRequest
	if !s.read(w, r, &req) {
		return
	}
	what := fmt.Sprintf("set %q value %q", req.Key, req.Value.Name)
	if err := checkKey(req.Key); err != nil {
		s.fail(w, r, what, err)
		return
	}
	v, err := req.Value.SDK()
	if err != nil {
		s.fail(w, r, what, fmt.Errorf("%w: %v", errDecode, err))
		return
	}
	if err := s.cfg.Registry.SetValue(r.Context(), req.Key, v.Name, v); err != nil {
		s.fail(w, r, what, err)
		return
	}
	s.changed(r, "registry.set", req.Key, fmt.Sprintf("registry value %q of %q set (%s)", v.Name, req.Key, v.Type),
		"key", req.Key, "name", v.Name, "type", v.Type.String())
	writeJSON(w, http.StatusOK, s.warnings(r, req.Key))
}

func (s *Server) deleteValue(w http.ResponseWriter, r *http.Request) {
	var req valueRequest
	if !s.read(w, r, &req) {
		return
	}
	what := fmt.Sprintf("delete %q value %q", req.Key, req.Name)
	if err := checkKey(req.Key); err != nil {
		s.fail(w, r, what, err)
		return
	}
	if err := s.cfg.Registry.DeleteValue(r.Context(), req.Key, req.Name); err != nil {
		s.fail(w, r, what, err)
		return
	}
	s.changed(r, "registry.delete-value", req.Key, fmt.Sprintf("registry value %q of %q deleted", req.Name, req.Key),
		"key", req.Key, "name", req.Name)
	writeJSON(w, http.StatusOK, s.warnings(r, req.Key))
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !s.read(w, r, &req) {
		return
	}
	what := fmt.Sprintf("delete key %q", req.Key)
	if err := checkKey(req.Key); err != nil {
		s.fail(w, r, what, err)
		return
	}
	if err := s.cfg.Registry.DeleteKey(r.Context(), req.Key); err != nil {
		s.fail(w, r, what, err)
		return
	}
	s.changed(r, "registry.delete-key", req.Key, fmt.Sprintf("registry key %q deleted", req.Key), "key", req.Key)
	writeJSON(w, http.StatusOK, s.warnings(r, req.Key))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !s.read(w, r, &req) {
		return
	}
	what := fmt.Sprintf("list %q", req.Key)
	if err := checkKey(req.Key); err != nil {
		s.fail(w, r, what, err)
		return
	}
	// One snapshot, so subkeys and values agree; only the top level is sent.
	tree, _, err := s.cfg.Registry.Snapshot(r.Context(), req.Key)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	key, _ := registry.ParsePath(req.Key)
	out := Listing{Key: key, SubKeys: []string{}, Values: []Value{}}
	for _, sk := range tree.SubKeys {
		out.SubKeys = append(out.SubKeys, sk.Name)
	}
	for _, v := range tree.Values {
		out.Values = append(out.Values, FromSDK(v))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	var req exportRequest
	if !s.read(w, r, &req) {
		return
	}
	what := fmt.Sprintf("export %q", req.Key)
	enc, charset := registry.UTF8, "utf-8"
	switch req.Encoding {
	case "", "utf-8", "utf8":
	case "utf-16", "utf16":
		enc, charset = registry.UTF16, "utf-16"
	default:
		s.fail(w, r, what, fmt.Errorf("%w: encoding %q: want utf-8 or utf-16", errDecode, req.Encoding))
		return
	}
	key, err := registry.ParsePath(req.Key)
	if err != nil {
		s.fail(w, r, what, fmt.Errorf("key %q: %w", req.Key, err))
		return
	}
	tree, _, err := s.cfg.Registry.Snapshot(r.Context(), key)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	var buf bytes.Buffer
	if err := registry.WriteReg(&buf, registry.TreeToReg(key, tree), enc); err != nil {
		s.fail(w, r, what, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset="+charset)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func (s *Server) importReg(w http.ResponseWriter, r *http.Request) {
	var req importRequest
	if !s.read(w, r, &req) {
		return
	}
	name, data := req.Name, req.Data
	if name == "" {
		name = "request"
	}
	what := fmt.Sprintf("import %s", name)
	// Parse first for the summary; Import parses again and applies the
	// file in one transaction, so a bad line changes nothing.
	keys, err := registry.ParseReg(name, data)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	res := ImportResult{Name: name}
	for _, k := range keys {
		if k.Delete {
			res.DeletedKeys++
			continue
		}
		res.Keys++
		for _, v := range k.Values {
			if v.Delete {
				res.DeletedValues++
			} else {
				res.Values++
			}
		}
	}
	if err := s.cfg.Registry.Import(r.Context(), name, bytes.NewReader(data)); err != nil {
		s.fail(w, r, what, err)
		return
	}
	s.changed(r, "registry.import", name, fmt.Sprintf("registry file %s imported: %d keys, %d values set, %d keys and %d values deleted",
		name, res.Keys, res.Values, res.DeletedKeys, res.DeletedValues),
		"name", name, "keys", res.Keys, "values", res.Values, "deleted_keys", res.DeletedKeys, "deleted_values", res.DeletedValues)
	if s.cfg.Checkpointed != nil {
		names := make([]string, 0, len(keys))
		for _, k := range keys {
			names = append(names, k.Path)
		}
		res.Warnings = s.cfg.Checkpointed(r.Context(), names)
	}
	writeJSON(w, http.StatusOK, res)
}
