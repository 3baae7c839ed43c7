package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// checkpointChange is the JSON answer of an add or a remove.
type checkpointChange struct {
	Resource   string                 `json:"resource"`
	ID         string                 `json:"id"`
	Action     string                 `json:"action"` // add or remove
	Checkpoint quorum.CheckpointEntry `json:"checkpoint"`
}

func kindName(k model.CheckpointKind) string {
	if k == model.CryptoCheckpoint {
		return "crypto"
	}
	return "registry"
}

// canonicalCheckpoint checks a registry key path or a crypto container name
// and returns it in canonical form.
func canonicalCheckpoint(kind model.CheckpointKind, p string) (string, error) {
	if kind == model.CryptoCheckpoint {
		return checkpoint.ParseContainerName(p)
	}
	c, err := registry.ParsePath(p)
	if err == nil && c == "" {
		err = fmt.Errorf("%w: the root key cannot be checkpointed", registry.ErrInvalidPath)
	}
	return c, err
}

// changeCheckpoint adds or removes one checkpoint of r. The owner's
// checkpoint manager follows the change (it saves an added checkpoint at
// once if r is online there).
func changeCheckpoint(ctx context.Context, e *env, r model.Resource, op string, kind model.CheckpointKind, path string) (quorum.CheckpointEntry, error) {
	if op == "add" {
		entry, err := e.store.AddCheckpoint(ctx, r.ID, kind, path)
		if err != nil {
			return entry, fmt.Errorf("adding %s checkpoint '%s' for resource '%s': %w", kindName(kind), path, r.Name, err)
		}
		e.record(ctx, "checkpoint.add", r.Name, fmt.Sprintf("%s checkpoint %s added", kindName(kind), path), map[string]string{"resource": r.ID})
		return entry, nil
	}
	entry, err := e.store.RemoveCheckpoint(ctx, r.ID, kind, path)
	if err != nil {
		return entry, fmt.Errorf("removing %s checkpoint '%s' for resource '%s': %w", kindName(kind), path, r.Name, err)
	}
	e.record(ctx, "checkpoint.remove", r.Name, fmt.Sprintf("%s checkpoint %s removed", kindName(kind), path), map[string]string{"resource": r.ID})
	return entry, nil
}

// cmdResourceCheckpoint is `cluster resource NAME checkpoint add|remove|list`.
func cmdResourceCheckpoint(ctx context.Context, e *env, name, op string, cryptoFlag bool, paths []string) error {
	crypto := &cryptoFlag
	var err error
	kind := model.RegistryCheckpoint
	if *crypto {
		kind = model.CryptoCheckpoint
	}
	switch op {
	case "list":
		if len(paths) > 0 {
			return usagef("resource checkpoint list takes no paths")
		}
		rows, err := e.session().Checkpoints(ctx, name)
		if err != nil {
			return err
		}
		return printCheckpointTable(e, rows)
	case "add", "remove":
	default:
		return usagef("resource %q checkpoint: unknown operation %q (want add, remove or list)", name, op)
	}
	if len(paths) == 0 {
		return usagef("resource checkpoint %s: give at least one %s", op, map[bool]string{false: `registry key path (SOFTWARE\…)`, true: `container name (Type\Provider\Container)`}[*crypto])
	}
	r, err := e.store.ResourceByName(ctx, name)
	if err != nil {
		return err
	}
	// Check every path before changing anything.
	for i, p := range paths {
		if paths[i], err = canonicalCheckpoint(kind, p); err != nil {
			return usagef("%v", err)
		}
	}
	var changes []checkpointChange
	for _, p := range paths {
		entry, err := changeCheckpoint(ctx, e, r.Value, op, kind, p)
		if err != nil {
			return err
		}
		changes = append(changes, checkpointChange{Resource: r.Value.Name, ID: r.Value.ID, Action: op, Checkpoint: entry})
		if !e.json {
			if op == "add" {
				printf(e.out, "Added %s checkpoint '%s' (%s) to resource '%s'.\n", kindName(kind), entry.Path, entry.FileName(), r.Value.Name)
			} else {
				printf(e.out, "Removed %s checkpoint '%s' (%s) from resource '%s'; its data in etcd is deleted, the local registry keeps its keys.\n", kindName(kind), entry.Path, entry.FileName(), r.Value.Name)
			}
		}
	}
	if e.json {
		return e.emit(changes, nil)
	}
	return nil
}

// printCheckpointTable prints one line per checkpoint, and a "-" line for a
// resource without any.
func printCheckpointTable(e *env, rows []ops.CheckpointRow) error {
	return e.emit(rows, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Resource\tKind\tCheckpoint\tPath\tStatus")
		for _, r := range rows {
			if len(r.Checkpoints) == 0 {
				printf(w, "%s\t-\t-\t-\t-\n", r.Resource)
			}
			for _, c := range r.Checkpoints {
				status := c.Status
				switch {
				case c.Status == ops.CheckpointStale:
					status = fmt.Sprintf("stale (restored from the backup of %s; run cluster checkpoint recover)", c.BackupTime.Local().Format(time.RFC3339))
				case c.Status == ops.CheckpointSaved:
					status = fmt.Sprintf("saved by %s at %s", c.Node, c.Saved.Local().Format(time.RFC3339))
				}
				printf(w, "%s\t%s\t%s\t%s\t%s\n", r.Resource, kindName(c.Kind), orDash(c.File), c.Path, status)
			}
		}
	})
}

// cmdCheckpointList is `cluster checkpoint list`.
func cmdCheckpointList(ctx context.Context, e *env, _ []string) error {
	rows, err := e.session().Checkpoints(ctx, "")
	if err != nil {
		return err
	}
	return printCheckpointTable(e, rows)
}

// cmdAccept takes the held checkpoints of a resource (or of every resource)
// as they are: a copy a backup restore put back becomes current, lost or
// corrupt data is replaced by the owner's registry as it is. The owner of
// each group answers; the resources then come online.
func cmdAccept(ctx context.Context, e *env, resourceName string, allFlag bool) error {
	resource, all := &resourceName, &allFlag
	switch {
	case *all == (*resource != ""):
		return usagef("checkpoint accept: give either -resource NAME or -all")
	}
	var reqs []model.Request
	if *all {
		// Only an owner holds a resource: unowned groups have nothing held.
		owners, err := e.store.Owners(ctx)
		if err != nil {
			return err
		}
		for g := range owners {
			reqs = append(reqs, model.Request{Group: g, Action: model.RequestAccept})
		}
		slices.SortFunc(reqs, func(a, b model.Request) int { return strings.Compare(a.Group, b.Group) })
	} else {
		r, err := e.store.ResourceByName(ctx, *resource)
		if err != nil {
			return err
		}
		reqs = append(reqs, model.Request{Group: r.Value.Group, Resource: r.Value.ID, Action: model.RequestAccept})
	}
	var replies []model.Reply
	failed := 0
	for _, req := range reqs {
		req.Operator = e.operator()
		req, err := e.store.File(ctx, req)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, defaultWait)
		rep, err := e.store.AwaitReply(wctx, req)
		if err != nil {
			err = e.waitError(wctx, err, req, false, fmt.Sprintf("the owner of group '%s' to accept", req.Group), defaultWait, "no answer")
		}
		cancel()
		if err != nil {
			return err
		}
		if rep.Err() != nil {
			failed++
		}
		replies = append(replies, rep)
	}
	if e.json {
		if err := e.emit(replies, nil); err != nil {
			return err
		}
	} else {
		for _, rep := range replies {
			printf(e.out, "Group '%s' (%s, answered by %s): %s\n", rep.Group, rep.Code, rep.Node, rep.Message)
		}
	}
	if failed > 0 {
		return fmt.Errorf("accepting failed in %d of %d groups", failed, len(replies))
	}
	return nil
}

// cmdRecover re-creates checkpoints from the registry of each owner (rule 10).
func cmdRecover(ctx context.Context, e *env, resourceName string, allFlag bool) error {
	resource, all := &resourceName, &allFlag
	switch {
	case *all == (*resource != ""):
		return usagef("checkpoint recover: give either -resource NAME or -all")
	}
	results, err := e.session().Recover(ctx, *resource)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	if e.json {
		if err := e.emit(results, nil); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			switch {
			case r.Error != "":
				printf(e.out, "Resource '%s': FAILED: %s\n", r.Resource, r.Error)
			case len(r.Checkpoints) == 0:
				printf(e.out, "Resource '%s': no checkpoints\n", r.Resource)
			default:
				printf(e.out, "Resource '%s': re-created %d checkpoint(s) from the registry of node %s: %s\n", r.Resource, len(r.Checkpoints), r.Node, strings.Join(r.Checkpoints, ", "))
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("checkpoint recovery failed for %d of %d resources", failed, len(results))
	}
	return nil
}
