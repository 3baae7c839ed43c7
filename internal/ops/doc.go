// Package ops is what an operator reads and does, shared by the cluster CLI
// (internal/cli) and the web console (internal/web): the views of the
// cluster (status, nodes, groups, resources, checkpoints) read from etcd,
// and the actions (requests to a group's owner, maintenance, pause and
// resume, checkpoint recovery), each recorded in the event log with the
// operator who took it.
//
// Both front ends call the same functions, so an action taken in the browser
// is the action taken on the command line; they differ only in how they show
// the result and follow its progress.
package ops
