package goplugin

// RestartCallbackServer closes the host-owned callback socket, with every
// connection on it, and serves it again at the same path: what a host that
// re-creates its socket does. Plugins must redial it by themselves.
func (d *Driver) RestartCallbackServer() error {
	d.mu.Lock()
	cb := d.cb
	d.mu.Unlock()
	cb.stop()
	return cb.serve()
}
