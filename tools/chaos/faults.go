package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// run is the round loop, then the liveness wait and the final checks.
func (r *runner) run(ctx context.Context) error {
	var deck []Kind
	for i := 1; i <= r.cfg.Rounds; i++ {
		r.round = i
		// Kinds come in shuffled decks: every kind once per len(Kinds)
		// rounds, in an order the seed decides.
		if len(deck) == 0 {
			deck = slices.Clone(r.cfg.Kinds)
			r.rng.Shuffle(len(deck), func(a, b int) { deck[a], deck[b] = deck[b], deck[a] })
		}
		kind := deck[0]
		deck = deck[1:]
		if err := r.doRound(ctx, kind); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A cluster that did not settle is a liveness violation and
			// leaves nothing sound to inject the next fault into.
			r.violate("liveness", "%s round: %v", kind, err)
			break
		}
		r.rep.Rounds = i
	}
	r.round = 0
	// Faults have stopped: bring back anything still down, then every group
	// must be online within the liveness bound.
	for _, n := range r.nodes {
		n.cut(false)
		n.signal(syscall.SIGCONT)
		if n.pid() == 0 {
			if err := n.start(r.clusterd); err != nil {
				return err
			}
		}
	}
	for _, m := range r.members {
		if err := m.start(ctx); err != nil {
			return err
		}
	}
	if _, err := r.settle(ctx, r.cfg.Liveness); err != nil {
		r.violate("liveness", "after the faults stopped: %v", err)
	}
	r.finalChecks()
	return nil
}

func (r *runner) finalChecks() {
	time.Sleep(100 * time.Millisecond) // hold: let the tracker read the last witness lines
	r.track.poll()
	end := time.Now()
	grace := 2*r.cfg.Lease + 2*time.Second
	ivs, confs := r.track.intervals(), r.track.confirmations()
	vs, tolerated := checkDualOnline(ivs, r.faults, grace, r.start, end, r.hist.ownerOf)
	r.rep.Tolerated = tolerated
	for _, v := range vs {
		r.violate("no dual online", "%s", v)
	}
	r.rep.Confirmed = len(confs)
	for _, iv := range ivs {
		if iv.Found >= 0 {
			r.rep.Restored++
		}
	}
	r.apps.Poll()
	time.Sleep(50 * time.Millisecond) // the last ends come through their pidfds
	lives := r.apps.Lives()
	r.rep.Apps = len(lives)
	av, gaps := checkApps(lives, r.start, end)
	r.rep.Gaps = gaps
	for _, v := range av {
		r.violate(CheckOneCopy, "%s", v)
	}
	for _, v := range checkConfirmed(ivs, confs, r.resets) {
		r.violate("no lost checkpoint", "%s", v)
	}
	hv, err := r.hist.result()
	for _, v := range hv {
		r.violate("no stale write", "%s", v)
	}
	if err != nil {
		r.violate("no stale write", "history incomplete: %v", err)
	}
}

// doRound injects one fault of kind, waits for the cluster to settle, and
// checks counters and fencing.
func (r *runner) doRound(ctx context.Context, kind Kind) error {
	before, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	g := r.pick(kind)
	target := r.nodeByName(before[g.name].owner)
	t0 := time.Now()
	excluded := map[string]bool{}
	var note string
	switch kind {
	case KindKill:
		note, err = r.kill(ctx, target, t0)
	case KindStop:
		note, err = r.hold(ctx, kind, target, t0)
	case KindCut:
		note, err = r.hold(ctx, kind, target, t0)
	case KindRestart:
		note, err = r.restart(ctx, target, t0)
	case KindBounce:
		note, err = r.bounce(ctx, target, t0)
	case KindPlugin:
		note, err = r.killPlugin(ctx, target, g, t0)
	case KindFail, KindTrap, KindHang:
		note, err = r.misbehave(ctx, kind, target, g, t0)
	case KindDelete:
		note, err = r.deleteCPT(ctx, g, before[g.name])
	case KindCorrupt:
		excluded[g.name] = true
		note, err = r.corruptCPT(ctx, g, target, before[g.name], t0)
	case KindLost:
		excluded[g.name] = true
		note, err = r.loseCPT(ctx, g, target, before[g.name], t0)
	case KindRestore:
		note, err = r.restoreOnline(ctx, t0)
	case KindEdit:
		note, err = r.editWhileFailed(ctx, g, target, t0)
	case KindMember, KindLeader:
		note, err = r.stopMember(ctx, kind == KindLeader)
	case KindOrphan:
		note, err = r.orphan(ctx, t0)
	}
	if err != nil {
		return err
	}
	after, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	r.rep.Faults[kind]++
	var moved []string
	for _, x := range r.groups {
		b, a := before[x.name], after[x.name]
		if a.token != b.token {
			r.rep.Failovers[kind]++
			if at, ok := r.track.firstOnline(x.name, a.token); ok && at.After(t0) {
				r.rep.Times[kind] = append(r.rep.Times[kind], at.Sub(t0))
				moved = append(moved, fmt.Sprintf("%s %s→%s %s", x.name, b.owner, a.owner, at.Sub(t0).Round(time.Millisecond)))
			} else {
				moved = append(moved, fmt.Sprintf("%s %s→%s", x.name, b.owner, a.owner))
			}
			r.probe(ctx, x, b.token)
		}
		switch {
		case excluded[x.name]:
		case !b.ok || !a.ok:
			r.violate("no lost checkpoint", "%s: counter unreadable (before ok=%v, after ok=%v)", x.name, b.ok, a.ok)
		case a.count < b.count:
			r.violate("no lost checkpoint", "%s: checkpointed Count went from %d to %d (owner %s token %d → %s token %d)", x.name, b.count, a.count, b.owner, b.token, a.owner, a.token)
		}
	}
	r.logf("round %d %-7s %s%s failovers: %v", r.round, kind, note, "", moved)
	return nil
}

// kill: kill -9 the node, wait for its groups to move, restart it.
func (r *runner) kill(ctx context.Context, n *node, t0 time.Time) (string, error) {
	if err := n.kill(); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindKill, Node: n.name, Start: t0, End: time.Now()})
	if _, err := r.settle(ctx, r.cfg.Settle); err != nil {
		return "", err
	}
	return n.name, r.startNode(ctx, n)
}

// hold stops or cuts off the node for longer than its lease, waiting for
// its groups to move meanwhile, then lets it go on.
func (r *runner) hold(ctx context.Context, kind Kind, n *node, t0 time.Time) (string, error) {
	if kind == KindStop {
		if err := n.signal(syscall.SIGSTOP); err != nil {
			return "", err
		}
	} else {
		n.cut(true)
	}
	_, err := r.settle(ctx, r.cfg.Settle)
	// Hold the fault at least a lease and a half: the node must lose it.
	if rest := time.Until(t0.Add(r.cfg.Lease*3/2 + time.Duration(r.rng.IntN(1000))*time.Millisecond)); rest > 0 {
		time.Sleep(rest)
	}
	if kind == KindStop {
		n.signal(syscall.SIGCONT)
	} else {
		n.cut(false)
	}
	r.faults = append(r.faults, window{Kind: kind, Node: n.name, Start: t0, End: time.Now()})
	if err != nil {
		return "", err
	}
	// It comes back with a new lease (self-fenced, then rejoined).
	return n.name, r.waitUp(ctx, n, r.cfg.Settle)
}

// restart drains the node with SIGTERM and starts it again.
func (r *runner) restart(ctx context.Context, n *node, t0 time.Time) (string, error) {
	if err := n.signal(syscall.SIGTERM); err != nil {
		return "", err
	}
	if err := n.wait(30 * time.Second); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindRestart, Node: n.name, Start: t0, End: time.Now()})
	if _, err := r.settle(ctx, r.cfg.Settle); err != nil {
		return "", err
	}
	return n.name, r.startNode(ctx, n)
}

// killPlugin kills the go-plugin host that runs g's resource on n.
func (r *runner) killPlugin(ctx context.Context, n *node, g *group, t0 time.Time) (string, error) {
	pids := n.pluginPIDs(r.plugin)
	if len(pids) == 0 {
		return "", fmt.Errorf("%w: %s runs no plugin host", errNoTarget, n.name)
	}
	sort.Ints(pids)
	pid := pids[r.rng.IntN(len(pids))]
	// Every group whose instance is online in that process must come online
	// again (a process may once have run groups that have moved on since).
	var hit []string
	for _, iv := range r.track.intervals() {
		if iv.PID == pid && iv.End.IsZero() && !slices.Contains(hit, iv.Group) {
			hit = append(hit, iv.Group)
		}
	}
	if err := killPID(pid); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindPlugin, Node: n.name, Start: t0, End: time.Now()})
	for _, name := range hit {
		if err := waitFor(ctx, r.cfg.Settle, func() (bool, error) { return r.track.onlineSince(name, t0), nil },
			"group %s online again after its plugin host was killed", name); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s pid %d (%v)", n.name, pid, hit), nil
}

// pick draws the group a fault of kind aims at: a WASM one for the WASM
// faults, a go-plugin one for a plugin kill (its owner runs a plugin host
// then), any otherwise.
func (r *runner) pick(kind Kind) *group {
	var from []*group
	for _, g := range r.groups {
		switch kind {
		case KindTrap, KindHang:
			if g.wasm {
				from = append(from, g)
			}
		case KindPlugin:
			if !g.wasm {
				from = append(from, g)
			}
		case KindOrphan:
			if g.wasm {
				from = append(from, g)
			}
		default:
			from = append(from, g)
		}
	}
	return from[r.rng.IntN(len(from))]
}

// bounce kills the node with -9 and starts it again at once, while its
// resources still run: its plugin hosts must take them down, and the new
// clusterd must not bring any up again before the old tenures are fenced.
func (r *runner) bounce(ctx context.Context, n *node, t0 time.Time) (string, error) {
	if err := n.kill(); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindBounce, Node: n.name, Start: t0, End: time.Now()})
	return n.name, r.startNode(ctx, n)
}

// misbehave makes g's resource fail its health checks, trap or hang, once,
// by writing the fault into the owner's node-local registry through the
// node admin API (the resource takes it at its next LooksAlive), and waits
// for the fault to fire and the group to be online again: restarted, or
// failed over past its restart threshold.
func (r *runner) misbehave(ctx context.Context, kind Kind, owner *node, g *group, t0 time.Time) (string, error) {
	cli, err := admin.Dial(ctx, "unix:"+filepath.Join(owner.dataDir, "admin.sock"), nil)
	if err != nil {
		return "", fmt.Errorf("chaos: admin API of %s: %w", owner.name, err)
	}
	defer cli.Close()
	if _, err := cli.SetValue(ctx, g.faultKey, sdk.StringValue("Fault", string(kind))); err != nil {
		return "", fmt.Errorf("chaos: writing the %s fault for %s on %s: %w", kind, g.res, owner.name, err)
	}
	if err := waitFor(ctx, r.cfg.Settle, func() (bool, error) { return r.track.faultSince(g.name, t0), nil },
		"resource %s to take the %s fault", g.res, kind); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s", g.res, owner.name), waitFor(ctx, r.cfg.Settle, func() (bool, error) { return r.track.onlineSince(g.name, t0), nil },
		"resource %s online again after the %s fault", g.res, kind)
}

// deleteCPT deletes g's checkpoint from etcd while it is online and
// recovers it from the owner's registry: the counter must survive.
func (r *runner) deleteCPT(ctx context.Context, g *group, before snap) (string, error) {
	k := r.store.Keys()
	key := k.Checkpoint(g.id, model.RegistryCheckpoint, 1)
	if _, err := r.cli.Txn(ctx).Then(
		clientv3.OpDelete(key),
		clientv3.OpDelete(k.CheckpointData(g.id, model.RegistryCheckpoint, 1), clientv3.WithPrefix()),
	).Commit(); err != nil {
		return "", fmt.Errorf("chaos: deleting %s: %w", key, err)
	}
	res, err := r.recover(ctx, g)
	if err != nil {
		return "", err
	}
	c, err := r.count(ctx, g)
	if err != nil {
		r.violate("recovery", "%s: checkpoint unreadable after recovery: %v", g.res, err)
	} else if c < before.count {
		r.violate("no lost checkpoint", "%s: recovered Count %d < %d stored before the delete", g.res, c, before.count)
	}
	return fmt.Sprintf("%s recovered from %s", g.res, res.Node), nil
}

// recover runs checkpoint.Recover for g's resource until it succeeds (the
// group may be between owners) or the settle bound passes.
func (r *runner) recover(ctx context.Context, g *group) (checkpoint.RecoverResult, error) {
	var res checkpoint.RecoverResult
	var last error
	err := waitFor(ctx, r.cfg.Settle, func() (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := checkpoint.Recover(rctx, r.store, g.res, "chaos")
		switch {
		case err != nil:
			last = err
		case len(out) != 1:
			last = fmt.Errorf("%d results", len(out))
		case out[0].Err() != nil:
			last = out[0].Err()
		default:
			res = out[0]
			return true, nil
		}
		return false, nil
	}, "recovery of %s", g.res)
	if err != nil {
		return res, fmt.Errorf("%w: %v", err, last)
	}
	return res, nil
}

// corruptCPT kills g's owner and damages g's stored checkpoint before its
// lease expires, so the next owner must restore the damaged copy. The
// restore must detect the damage (an event, the resource kept offline), and
// checkpoint.Recover must bring it back from the new owner's registry,
// which may be older by design: confirmations of the killed tenure and
// before are forgiven from then on.
func (r *runner) corruptCPT(ctx context.Context, g *group, owner *node, before snap, t0 time.Time) (string, error) {
	// Killed first: a live owner would store a fresh copy within one
	// LooksAlive and hide the damage.
	if err := owner.kill(); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindCorrupt, Node: owner.name, Start: t0, End: time.Now()})
	r.resets[g.name] = append(r.resets[g.name], before.token)
	if err := r.corrupt(ctx, g); err != nil {
		return "", err
	}
	err := waitFor(ctx, r.cfg.Settle, func() (bool, error) {
		evs, err := r.store.Events(ctx, t0, 0)
		if err != nil {
			return false, nil
		}
		for _, e := range evs {
			if e.Kind == "checkpoint.corrupt" && e.Subject == g.res {
				return true, nil
			}
		}
		return false, nil
	}, "a checkpoint.corrupt event for %s", g.res)
	if err != nil {
		r.violate("corrupt checkpoint detected", "%s: %v", g.res, err)
	} else {
		r.rep.Detected++
	}
	// Nothing may have brought g online under a new tenure from the damaged
	// data: the only way online is through recovery.
	for _, iv := range r.track.intervals() {
		if iv.Group == g.name && iv.Token > before.token && iv.Start.After(t0) {
			r.violate("corrupt checkpoint detected", "%s went online under token %d (pid %d) from a corrupt checkpoint", g.res, iv.Token, iv.PID)
		}
	}
	res, err := r.recover(ctx, g)
	if err != nil {
		return "", err
	}
	if err := r.startNode(ctx, owner); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s, recovered from %s", g.res, owner.name, res.Node), nil
}

// corrupt flips a byte of the first chunk of g's stored checkpoint (same
// size: only the checksum can tell) and checks that it reads back as
// corrupt. A save the killed owner had in flight may still land and replace
// the generation: then the new one is damaged instead.
func (r *runner) corrupt(ctx context.Context, g *group) error {
	k := r.store.Keys()
	for try := 0; try < 10; try++ {
		_, m, err := r.store.GetCheckpoint(ctx, g.id, model.RegistryCheckpoint, 1)
		if err != nil {
			return fmt.Errorf("chaos: reading %s before corrupting it: %w", g.res, err)
		}
		chunk := k.CheckpointData(g.id, model.RegistryCheckpoint, 1) + m.Generation + "/00000000"
		resp, err := r.cli.Get(ctx, chunk)
		if err != nil || len(resp.Kvs) != 1 {
			return fmt.Errorf("chaos: reading %s: %v (%d keys)", chunk, err, len(resp.Kvs))
		}
		bad := append([]byte(nil), resp.Kvs[0].Value...)
		bad[r.rng.IntN(len(bad))] ^= 0xff
		if _, err := r.cli.Put(ctx, chunk, string(bad)); err != nil {
			return fmt.Errorf("chaos: corrupting %s: %w", chunk, err)
		}
		_, _, err = r.store.GetCheckpoint(ctx, g.id, model.RegistryCheckpoint, 1)
		if errors.Is(err, quorum.ErrCorruptCheckpoint) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("chaos: the corrupted checkpoint of %s reads back as %v", g.res, err)
		}
	}
	return fmt.Errorf("chaos: the checkpoint of %s kept changing after its owner was killed", g.res)
}

// stopMember stops one etcd member, the leader or a follower, for a while
// and restarts it on its data dir.
func (r *runner) stopMember(ctx context.Context, leader bool) (string, error) {
	var from []*member
	for _, m := range r.members {
		if m.isLeader() == leader {
			from = append(from, m)
		}
	}
	if len(from) == 0 {
		return "", fmt.Errorf("chaos: no etcd member is the %s", map[bool]string{true: "leader", false: "follower"}[leader])
	}
	m := from[r.rng.IntN(len(from))]
	m.stop()
	time.Sleep(time.Duration(1000+r.rng.IntN(2000)) * time.Millisecond) // the outage
	return m.cfg.Name, m.start(ctx)
}

// probe tries one write under the stale token after a failover, both as a
// plain fenced Txn and as a checkpoint put; both must fail with ErrFenced.
func (r *runner) probe(ctx context.Context, g *group, stale int64) {
	if stale == 0 {
		return
	}
	f := model.Fence{Group: g.name, Token: stale}
	// Inside the cluster's prefix: the runner's etcd role covers nothing else.
	err := r.store.FencedTxn(ctx, f, clientv3.OpPut(r.store.Keys().Prefix()+"chaos-probe/"+g.name, fmt.Sprint(stale)))
	if !errors.Is(err, model.ErrFenced) {
		r.violate("stale write fenced", "FencedTxn for %s with stale token %d: %v, want ErrFenced", g.name, stale, err)
	}
	// The payload is the current stored data, so even a wrongly accepted
	// write would not damage the counter.
	data, _, err := r.store.GetCheckpoint(ctx, g.id, model.RegistryCheckpoint, 1)
	if err != nil {
		return
	}
	_, err = r.store.PutCheckpoint(ctx, f, g.id, model.RegistryCheckpoint, 1, "chaos-probe", data)
	if !errors.Is(err, model.ErrFenced) {
		r.violate("stale write fenced", "PutCheckpoint for %s with stale token %d: %v, want ErrFenced", g.res, stale, err)
	}
	r.rep.Probes++
}

// loseCPT kills g's owner and deletes every checkpoint key of g's resource,
// as an operator's slip would: the next owner must hold the group (a
// checkpoint.lost event, nothing online under a new tenure) until the
// runner, as the operator, recovers it from the new owner's registry.
func (r *runner) loseCPT(ctx context.Context, g *group, owner *node, before snap, t0 time.Time) (string, error) {
	if err := owner.kill(); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindLost, Node: owner.name, Start: t0, End: time.Now()})
	r.resets[g.name] = append(r.resets[g.name], before.token)
	if _, err := r.cli.Delete(ctx, r.store.Keys().ResourceCheckpoints(g.id), clientv3.WithPrefix()); err != nil {
		return "", fmt.Errorf("chaos: deleting the checkpoints of %s: %w", g.res, err)
	}
	if err := r.expectEvent(ctx, t0, "checkpoint.lost", g.res); err != nil {
		r.violate("lost checkpoint held", "%s: %v", g.res, err)
	}
	for _, iv := range r.track.intervals() {
		if iv.Group == g.name && iv.Token > before.token && iv.Start.After(t0) {
			r.violate("lost checkpoint held", "%s went online under token %d (pid %d) with its checkpoint lost", g.res, iv.Token, iv.PID)
		}
	}
	res, err := r.recover(ctx, g)
	if err != nil {
		return "", err
	}
	if err := r.startNode(ctx, owner); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s, recovered from %s", g.res, owner.name, res.Node), nil
}

// expectEvent waits for an event of kind about subject since t0.
func (r *runner) expectEvent(ctx context.Context, t0 time.Time, kind, subject string) error {
	return waitFor(ctx, r.cfg.Settle, func() (bool, error) {
		evs, err := r.store.Events(ctx, t0, 0)
		if err != nil {
			return false, nil
		}
		for _, e := range evs {
			if e.Kind == kind && e.Subject == subject {
				return true, nil
			}
		}
		return false, nil
	}, "a %s event for %s", kind, subject)
}

// restoreOnline backs the cluster up and at once restores the backup with
// force while every group runs: the owners keep their resources online and
// store their newer registries again when the restore completes, so no
// confirmed counter may be lost (the round's checks and the final ones
// prove it).
func (r *runner) restoreOnline(ctx context.Context, t0 time.Time) (string, error) {
	dir, err := os.MkdirTemp(r.dir, "backup-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bdir := filepath.Join(dir, "b")
	if _, err := r.store.Backup(ctx, bdir); err != nil {
		return "", fmt.Errorf("chaos: backup: %w", err)
	}
	info, err := r.store.Restore(ctx, bdir, true)
	if err != nil {
		return "", fmt.Errorf("chaos: forced restore: %w", err)
	}
	r.faults = append(r.faults, window{Kind: KindRestore, Start: t0, End: time.Now()})
	if _, err := r.settle(ctx, r.cfg.Settle); err != nil {
		return "", err
	}
	// Every group ran through the restore, so its owner must store its
	// newer registry over every copy the restore put back.
	var last []checkpoint.StaleCheckpoint
	if err := waitFor(ctx, r.cfg.Settle, func() (bool, error) {
		st, err := checkpoint.StaleCheckpoints(ctx, r.store)
		last = st
		return err == nil && len(st) == 0, nil
	}, "the owners storing their registries over the restored copies"); err != nil {
		r.violate("restore while online", "%v: still restored: %+v", err, last)
	}
	return fmt.Sprintf("%d keys, %d checkpoints restored while online", info.DBKeys, len(info.Checkpoints)), nil
}

// editWhileFailed gives g's resource a private property that makes its Open
// fail, fails it once so that it is opened again with it, waits until its
// status shows the Open failing, and fixes the property: the resource must
// come online again without anybody restarting clusterd.
func (r *runner) editWhileFailed(ctx context.Context, g *group, owner *node, t0 time.Time) (string, error) {
	edit := func(change func(map[string]any)) error {
		for try := 0; try < 5; try++ {
			rec, err := r.store.Resource(ctx, g.id)
			if err != nil {
				return err
			}
			change(rec.Value.Private)
			err = r.store.UpdateResource(ctx, rec.Value, rec.ModRevision)
			if !errors.Is(err, quorum.ErrConflict) {
				return err
			}
		}
		return fmt.Errorf("chaos: %s kept changing", g.res)
	}
	if err := edit(func(p map[string]any) { p["FailIn"] = "Open" }); err != nil {
		return "", fmt.Errorf("chaos: breaking %s: %w", g.res, err)
	}
	// Fail it on whichever node runs it, again now and then: a failure
	// that comes before that node has read the edit restarts the resource
	// with its old properties.
	var failed string
	lastFault := time.Time{}
	err := waitFor(ctx, r.cfg.Settle, func() (bool, error) {
		st, _, err := r.store.ReadResourceStatus(ctx, g.id)
		if err == nil && st.State == "Failed" && strings.Contains(st.Error, "injected failure in Open") {
			failed = st.Node
			return true, nil
		}
		if err == nil && st.State == "Online" && time.Since(lastFault) > 2*time.Second {
			if n := r.nodeByName(st.Node); n != nil {
				if cli, err := admin.Dial(ctx, "unix:"+filepath.Join(n.dataDir, "admin.sock"), nil); err == nil {
					if _, err := cli.SetValue(ctx, g.faultKey, sdk.StringValue("Fault", string(KindFail))); err == nil {
						lastFault = time.Now()
					}
					cli.Close()
				}
			}
		}
		return false, nil
	}, "resource %s failing to open with its broken properties", g.res)
	if err != nil {
		return "", err
	}
	if err := edit(func(p map[string]any) { delete(p, "FailIn") }); err != nil {
		return "", fmt.Errorf("chaos: fixing %s: %w", g.res, err)
	}
	r.faults = append(r.faults, window{Kind: KindEdit, Node: owner.name, Start: t0, End: time.Now()})
	if err := waitFor(ctx, r.cfg.Settle, func() (bool, error) { return r.track.onlineSince(g.name, t0), nil },
		"resource %s online again after its properties were fixed", g.res); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s failed to open on %s, fixed", g.res, failed), nil
}

// orphan kills -9 the clusterd that owns a WASM group, while the group's
// application runs as a child of that clusterd, and every other time its
// keeper first; then starts it again. Once the node is back, no
// application process of the killed incarnation may run: the keeper kills
// them when clusterd dies, and a restarted clusterd kills whatever is left
// (the keeper being dead too) before it joins.
func (r *runner) orphan(ctx context.Context, t0 time.Time) (string, error) {
	var w *group
	for _, g := range r.groups {
		if g.wasm {
			w = g
			break
		}
	}
	st, err := r.store.GroupStatus(ctx, w.name)
	if err != nil {
		return "", fmt.Errorf("chaos: %w", err)
	}
	n := r.nodeByName(st.Owner)
	if n == nil || n.pid() == 0 {
		return "", fmt.Errorf("%w: group %s has no live owner", errNoTarget, w.name)
	}
	old := n.pid()
	keeper := n.keeperPID()
	withKeeper := r.rep.Faults[KindOrphan]%2 == 1
	if withKeeper && keeper != 0 {
		if err := killPID(keeper); err != nil {
			return "", err
		}
	}
	if err := n.kill(); err != nil {
		return "", err
	}
	r.faults = append(r.faults, window{Kind: KindOrphan, Node: n.name, Start: t0, End: time.Now()})
	if _, err := r.settle(ctx, r.cfg.Settle); err != nil {
		return "", err
	}
	if err := r.startNode(ctx, n); err != nil {
		return "", err
	}
	// Every application started before the kill by a tenure of that node.
	r.apps.Poll()
	time.Sleep(20 * time.Millisecond)
	var left []string
	for _, l := range r.apps.Lives() {
		fs := strings.Fields(l.Label)
		if len(fs) != 2 || !l.Start.Before(t0) || !l.End.IsZero() {
			continue
		}
		tok, _ := strconv.ParseInt(fs[1], 10, 64)
		if r.hist.ownerOf(tok) == n.name {
			left = append(left, fmt.Sprintf("pid %d (%s)", l.PID, l.Label))
		}
	}
	r.rep.Orphans++
	if len(left) > 0 {
		r.violate("no orphan", "after clusterd %d of %s was killed (keeper killed too: %v) and restarted, processes of its applications still run: %v", old, n.name, withKeeper, left)
	}
	return fmt.Sprintf("%s (keeper killed too: %v)", n.name, withKeeper), nil
}
