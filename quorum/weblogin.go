package quorum

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// WebLogin is what a one-time login code of the web console grants: who
// logs in, with which role, until when. An operator with write access to
// the cluster (an admin) issues it with the CLI; the console takes it
// once. The key is the code's SHA-256, so a viewer reading etcd learns no
// code.
type WebLogin struct {
	Operator string    `json:"operator"` // shown and recorded as "web:" + Operator
	Role     string    `json:"role"`     // pki.RoleAdmin or pki.RoleViewer
	IssuedBy string    `json:"issued_by,omitempty"`
	Expires  time.Time `json:"expires"`
}

func loginHash(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

// PutWebLogin stores a login code valid for ttl (a lease removes it then).
func (s *Store) PutWebLogin(ctx context.Context, code string, l WebLogin, ttl time.Duration) error {
	secs := int64((ttl + time.Second - 1) / time.Second)
	lease, err := s.cli.Grant(ctx, max(secs, 1))
	if err != nil {
		return fmt.Errorf("quorum: web login: %w", err)
	}
	l.Expires = time.Now().Add(ttl).UTC()
	if _, err := s.cli.Put(ctx, s.keys.WebLogin(loginHash(code)), mustJSON(l), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("quorum: web login: %w", err)
	}
	return nil
}

// TakeWebLogin uses a login code up: it returns what the code grants and
// deletes it in one transaction, so a code logs in once. ErrNotFound when
// the code is unknown, used or expired.
func (s *Store) TakeWebLogin(ctx context.Context, code string) (WebLogin, error) {
	key := s.keys.WebLogin(loginHash(code))
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpGet(key), clientv3.OpDelete(key)).Commit()
	if err != nil {
		return WebLogin{}, fmt.Errorf("quorum: web login: %w", err)
	}
	if !resp.Succeeded || len(resp.Responses) == 0 || len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
		return WebLogin{}, fmt.Errorf("%w: login code (unknown, used or expired)", ErrNotFound)
	}
	var l WebLogin
	if err := json.Unmarshal(resp.Responses[0].GetResponseRange().Kvs[0].Value, &l); err != nil {
		return WebLogin{}, fmt.Errorf("quorum: web login: %w", err)
	}
	if time.Now().After(l.Expires) {
		return WebLogin{}, fmt.Errorf("%w: login code (expired)", ErrNotFound)
	}
	return l, nil
}
