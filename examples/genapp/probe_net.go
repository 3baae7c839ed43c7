//go:build !wasip1

package genapp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// checkNetProbes checks HealthTCP and HealthHTTP.
func checkNetProbes(c *Config) *buildError {
	if c.HealthTCP != "" {
		if _, port, err := net.SplitHostPort(c.HealthTCP); err != nil || port == "" {
			return &buildError{PropHealthTCP, fmt.Sprintf("%q is not host:port", c.HealthTCP)}
		}
	}
	if c.HealthHTTP != "" {
		u, err := url.Parse(c.HealthHTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &buildError{PropHealthHTTP, fmt.Sprintf("%q is not an http:// or https:// URL", c.HealthHTTP)}
		}
	}
	return nil
}

// probeClient does not follow redirects: a 3xx answer already shows the
// application is serving.
var probeClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probeNet dials HealthTCP, or gets HealthHTTP and wants 2xx or 3xx.
func probeNet(ctx context.Context, c *Config) error {
	if c.HealthTCP != "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.HealthTCP)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HealthHTTP, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("%s answered %s", c.HealthHTTP, resp.Status)
	}
	return nil
}
