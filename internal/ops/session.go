package ops

import (
	"context"
	"fmt"
	"strings"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Session is one operator at work on one cluster. It is a value: copy it
// per operator (the web console makes one per request). Its methods are
// safe for concurrent use as far as the Store and client are.
type Session struct {
	// Store is the cluster's database.
	Store *quorum.Store
	// Etcd is the client Store uses; QuorumHealth asks it for every
	// member's status. Nil: the health is reported unknown.
	Etcd *clientv3.Client
	// Operator is who acts, recorded with every request and event (a
	// certificate's common name, "web:NAME" for a console login).
	Operator string
	// Node is the node the operator acts through, recorded with events
	// (the web console's node); "" for the CLI.
	Node string
	// Warn, when set, hears of a change made but not recorded in the event
	// log (the change stands; the record is what failed).
	Warn func(error)
}

// Cluster is the name of the session's cluster.
func (s Session) Cluster() string {
	return strings.TrimSuffix(strings.TrimPrefix(s.Store.Keys().Prefix(), quorum.Root), "/")
}

// Record appends an event with the session's operator. A failure goes to
// Warn: the change it records has been made.
func (s Session) Record(ctx context.Context, kind, subject, msg string, fields map[string]string) {
	err := s.Store.AppendEvent(ctx, quorum.Event{Node: s.Node, Kind: kind, Subject: subject, Message: msg, Fields: fields, Operator: s.Operator})
	if err != nil && s.Warn != nil {
		s.Warn(fmt.Errorf("the change was made but not recorded in the event log: %w", err))
	}
}

// GroupByName finds a group by its case-insensitive name.
func (s Session) GroupByName(ctx context.Context, name string) (model.Group, error) {
	groups, err := s.Store.Groups(ctx)
	if err != nil {
		return model.Group{}, err
	}
	for _, g := range groups {
		if strings.EqualFold(g.Value.Name, name) {
			return g.Value, nil
		}
	}
	return model.Group{}, fmt.Errorf("%w: group %q", quorum.ErrNotFound, name)
}
