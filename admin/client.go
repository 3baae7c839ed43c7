package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/sdk"
)

// Client calls one node's admin API. Its methods are safe for concurrent use.
type Client struct {
	addr string
	base string
	hc   *http.Client
}

// Dial connects to the admin API at addr (unix:PATH or tcp:HOST:PORT) and
// checks that it answers. tlsCfg (ClientTLS) is needed for a node that serves
// TCP with mutual TLS; its ServerName defaults to the address's host.
func Dial(ctx context.Context, addr string, tlsCfg *tls.Config) (*Client, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, address)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	c := &Client{addr: addr, base: "http://admin", hc: &http.Client{Transport: tr}}
	if network == "tcp" && tlsCfg != nil {
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(address)
		}
		tr.TLSClientConfig = cfg
		tr.ForceAttemptHTTP2 = false
		c.base = "https://" + address
	}
	if _, err := c.Info(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return c, nil
}

// Addr is the address the client talks to.
func (c *Client) Addr() string { return c.addr }

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// do sends one request and decodes a JSON answer into out (unless nil),
// or copies the raw body into raw (unless nil).
func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any, raw *[]byte) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin: %s: %w", path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, c.addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: %s: reading the answer: %v", ErrUnreachable, c.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		if json.Unmarshal(data, &ae) != nil || ae.Error == "" {
			if bytes.Contains(data, []byte("HTTPS server")) {
				return fmt.Errorf("%w: %s serves mutual TLS: give a client certificate, its key and the CA", ErrUnreachable, c.addr)
			}
			return fmt.Errorf("%w: %s %s: %s: %.200s", ErrRemote, c.addr, path, resp.Status, data)
		}
		switch ae.Code {
		case codeMediaType:
			return fmt.Errorf("%w: %s", ErrMediaType, ae.Error)
		case codeBadRequest, codeTooLarge:
			return fmt.Errorf("%w: %s", ErrBadRequest, ae.Error)
		case codeNotFound:
			return fmt.Errorf("%w: %s", ErrNotFound, ae.Error)
		}
		return fmt.Errorf("%w: %s", ErrRemote, ae.Error)
	}
	if raw != nil {
		*raw = data
		return nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%w: %s %s: unreadable answer: %v", ErrRemote, c.addr, path, err)
		}
	}
	return nil
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("admin: %s: %w", path, err)
	}
	return c.do(ctx, http.MethodPost, path, "application/json", body, out, nil)
}

// Info asks the node who it is.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	err := c.do(ctx, http.MethodGet, "/v1/info", "", nil, &info, nil)
	return info, err
}

// GetValue reads one value.
func (c *Client) GetValue(ctx context.Context, key, name string) (sdk.Value, error) {
	var w Value
	if err := c.post(ctx, "/v1/registry/get", valueRequest{Key: key, Name: name}, &w); err != nil {
		return sdk.Value{}, err
	}
	v, err := w.SDK()
	if err != nil {
		return sdk.Value{}, fmt.Errorf("%w: %s: %v", ErrRemote, c.addr, err)
	}
	return v, nil
}

// SetValue creates or replaces the value v.Name under key, creating missing keys.
func (c *Client) SetValue(ctx context.Context, key string, v sdk.Value) (Changed, error) {
	if TypeName(v.Type) == "" {
		return Changed{}, fmt.Errorf("%w: value %q has unknown type %d", ErrBadRequest, v.Name, uint32(v.Type))
	}
	var ch Changed
	err := c.post(ctx, "/v1/registry/set", setRequest{Key: key, Value: FromSDK(v)}, &ch)
	return ch, err
}

// DeleteValue removes one value.
func (c *Client) DeleteValue(ctx context.Context, key, name string) (Changed, error) {
	var ch Changed
	err := c.post(ctx, "/v1/registry/delete-value", valueRequest{Key: key, Name: name}, &ch)
	return ch, err
}

// DeleteKey removes a key with everything below it.
func (c *Client) DeleteKey(ctx context.Context, key string) (Changed, error) {
	var ch Changed
	err := c.post(ctx, "/v1/registry/delete-key", keyRequest{Key: key}, &ch)
	return ch, err
}

// List returns a key's direct subkeys and its values.
func (c *Client) List(ctx context.Context, key string) (Listing, error) {
	var l Listing
	err := c.post(ctx, "/v1/registry/list", keyRequest{Key: key}, &l)
	return l, err
}

// Export returns key and everything below it as a .reg file.
func (c *Client) Export(ctx context.Context, key string, enc registry.RegEncoding) ([]byte, error) {
	name := "utf-8"
	if enc == registry.UTF16 {
		name = "utf-16"
	}
	body, _ := json.Marshal(exportRequest{Key: key, Encoding: name})
	var out []byte
	err := c.do(ctx, http.MethodPost, "/v1/registry/export", "application/json", body, nil, &out)
	return out, err
}

// Import applies a .reg file (UTF-8 or UTF-16 with a byte order mark) in
// one transaction; name is used in error messages.
func (c *Client) Import(ctx context.Context, name string, data []byte) (ImportResult, error) {
	var res ImportResult
	err := c.post(ctx, "/v1/registry/import", importRequest{Name: name, Data: data}, &res)
	return res, err
}
