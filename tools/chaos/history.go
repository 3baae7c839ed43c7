package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// history watches every owner-written key of the cluster (published group
// and resource states, checkpoint manifests) in revision order and checks
// that, per group, the fencing token carried by those writes never goes
// down: a write under an older token after one under a newer token means
// a stale owner got past the fence.
type history struct {
	keys quorum.Keys

	mu         sync.Mutex
	max        map[string]int64 // group → highest token written so far
	owner      map[int64]string // token → owner node, from group states
	violations []string
	err        error // the watch broke (compaction, …)
}

func newHistory(keys quorum.Keys) *history {
	return &history{keys: keys, max: map[string]int64{}, owner: map[int64]string{}}
}

// run watches from revision rev until ctx ends.
func (h *history) run(ctx context.Context, cli *clientv3.Client, rev int64) {
	for wr := range cli.Watch(ctx, h.keys.Prefix(), clientv3.WithPrefix(), clientv3.WithRev(rev)) {
		if err := wr.Err(); err != nil {
			h.mu.Lock()
			h.err = fmt.Errorf("chaos: history watch: %w", err)
			h.mu.Unlock()
			return
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				h.apply(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
			}
		}
	}
}

func (h *history) apply(key string, val []byte, rev int64) {
	var group, owner string
	var token int64
	switch {
	case strings.HasPrefix(key, h.keys.GroupStates()):
		var st model.GroupStatus
		if json.Unmarshal(val, &st) != nil {
			return
		}
		group, token, owner = st.Group, st.Token, st.Owner
	case strings.HasPrefix(key, h.keys.ResourceStates()):
		var st model.ResourceStatus
		if json.Unmarshal(val, &st) != nil {
			return
		}
		group, token = st.Group, st.Token
	case strings.HasPrefix(key, h.keys.Checkpoints()) && !strings.Contains(key, ".data/"):
		m, err := quorum.DecodeManifest(val)
		if err != nil {
			return // a manifest the runner corrupted on purpose
		}
		group, token = m.Group, m.Token
	default:
		return
	}
	if token == 0 || group == "" {
		return // unfenced (a backup restore) or never owned
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if owner != "" {
		h.owner[token] = owner
	}
	if token < h.max[group] {
		h.violations = append(h.violations, fmt.Sprintf("%s written at revision %d under token %d after token %d had written", key, rev, token, h.max[group]))
		return
	}
	h.max[group] = token
}

func (h *history) ownerOf(token int64) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.owner[token]
}

func (h *history) result() ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.violations...), h.err
}
