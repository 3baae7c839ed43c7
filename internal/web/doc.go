// Package web is the cluster's web console: Failover Cluster Manager for
// the browser. Every clusterd serves it over HTTPS (see Server); it shows
// the same cluster from any node, pushes changes to open pages as etcd
// reports them (Server-Sent Events), and takes the operator's actions
// through internal/ops, the code the cluster CLI uses.
//
// Pages are rendered on the server from embedded templates and read fine
// without JavaScript; a small script (static/app.js) only swaps in the
// live updates.
//
// # Notes
//
//   - Who may look: an operator certificate of the cluster PKI (role admin
//     or viewer), or a session opened with a one-time login code an admin
//     issues with `cluster web login`. Viewers see everything and can act
//     on nothing; the server refuses their actions, not only the page.
//   - Sessions live in the memory of the node that opened them: a login
//     holds on that node until it expires or clusterd restarts.
//   - Every form carries a CSRF token tied to the session, posts only from
//     the console's own origin, and pages are served under a strict
//     Content-Security-Policy with no inline script or style.
package web
