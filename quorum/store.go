package quorum

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors shared by the quorum operations.
var (
	// ErrNotFound reports a missing record.
	ErrNotFound = errors.New("quorum: not found")
	// ErrConflict reports an optimistic-concurrency failure: the record changed
	// since it was read (compare ModRevision), or a create found it existing.
	ErrConflict = errors.New("quorum: record changed concurrently")
)

// Store is a cluster's view of etcd: the database, ownership, checkpoint data,
// events and backups, all under Keys. It is safe for concurrent use; it owns
// nothing but the client it was given, which the caller closes.
type Store struct {
	cli  *clientv3.Client
	keys Keys
	log  hclog.Logger
	// loads merges the reads of LoadCheckpoints calls made together.
	loads *readBatch
}

// NewStore returns a Store of the named cluster. It does no I/O.
func NewStore(cli *clientv3.Client, cluster string, log hclog.Logger) (*Store, error) {
	if err := model.ValidName(cluster); err != nil {
		return nil, fmt.Errorf("quorum: cluster name: %v", err)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Store{cli: cli, keys: NewKeys(cluster), log: log,
		loads: &readBatch{cli: cli, maxOps: loadBatchResources * loadOps, readers: loadBatchReaders}}, nil
}

// Keys returns the store's key layout.
func (s *Store) Keys() Keys { return s.keys }

// fenceCmp is the etcd comparison that holds only while f is the current ownership.
func (s *Store) fenceCmp(f model.Fence) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(s.keys.Owner(f.Group)), "=", f.Token)
}
