package quorum

import (
	"context"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readBatch merges read-only Txns asked for while earlier ones are in
// flight into one Txn: a node that has just taken a dead node's groups
// restores every one of their resources at once, and reads them in a few
// requests instead of one each. Nothing waits to fill a batch: with no read
// in flight a read goes out at once, alone.
//
// Concurrency: safe for concurrent use.
type readBatch struct {
	cli *clientv3.Client
	// maxOps bounds the operations of one merged Txn (etcd refuses more
	// than 128 by default); readers bounds the merged Txns in flight.
	maxOps, readers int

	mu      sync.Mutex
	waiting []*batchedRead
	running int
}

type batchedRead struct {
	ctx  context.Context
	ops  []clientv3.Op
	done chan struct{} // closed when resps, rev and err are set
	// resps are the responses of ops, in their order, read at revision rev.
	resps []*pb.ResponseOp
	rev   int64
	err   error
}

// read runs ops, all of them reads, in one Txn, alone or merged with
// others; a read with more than maxOps operations goes alone.
func (b *readBatch) read(ctx context.Context, ops []clientv3.Op) ([]*pb.ResponseOp, int64, error) {
	r := &batchedRead{ctx: ctx, ops: ops, done: make(chan struct{})}
	b.mu.Lock()
	b.waiting = append(b.waiting, r)
	if b.running < b.readers {
		b.running++
		go b.run()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.resps, r.rev, r.err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// run reads batches of the waiting reads until none wait.
func (b *readBatch) run() {
	for {
		b.mu.Lock()
		var batch []*batchedRead
		n := 0
		for len(b.waiting) > 0 {
			r := b.waiting[0]
			if r.ctx.Err() != nil {
				b.waiting = b.waiting[1:] // its caller has gone
				continue
			}
			if len(batch) > 0 && n+len(r.ops) > b.maxOps {
				break
			}
			b.waiting = b.waiting[1:]
			batch, n = append(batch, r), n+len(r.ops)
		}
		if len(batch) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if err := b.commit(batch); err != nil && len(batch) > 1 {
			// Whatever failed the merged read (one read's answer too
			// large, say) must not fail the others: each goes alone.
			for _, r := range batch {
				b.commit([]*batchedRead{r})
			}
		}
	}
}

// commit reads batch in one Txn and hands each read its responses, unless
// it fails and batch has more than one read: then nothing is handed out.
// The Txn ends when every caller of batch has gone.
func (b *readBatch) commit(batch []*batchedRead) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	var left atomic.Int32
	left.Store(int32(len(batch)))
	for _, r := range batch {
		stop := context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	var ops []clientv3.Op
	for _, r := range batch {
		ops = append(ops, r.ops...)
	}
	resp, err := b.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil && len(batch) > 1 {
		return err
	}
	i := 0
	for _, r := range batch {
		if r.err = err; err == nil {
			r.resps, r.rev = resp.Responses[i:i+len(r.ops)], resp.Header.Revision
			i += len(r.ops)
		}
		close(r.done)
	}
	return nil
}
