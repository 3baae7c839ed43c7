package quorum

import (
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Abandon stops m's keepalives the way a crashed process would: the lease is
// neither revoked nor kept alive, and the member does not fence itself.
func (m *Member) Abandon() { m.abandon() }

// LastKeepAlive is the send time of the last acknowledged keepalive (the
// grant request at first): the start of the current deadline.
func (m *Member) LastKeepAlive() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastSend
}

// RawClient is the store's etcd client, for tests that write around the
// store (corrupt data, foreign keys).
func (s *Store) RawClient() *clientv3.Client { return s.cli }
