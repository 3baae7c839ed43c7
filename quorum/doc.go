// Package quorum keeps a resmon cluster's shared state in etcd: the embedded
// or external etcd itself, node membership with leases and a self-fencing
// deadline, group ownership with fencing tokens, the cluster database,
// checkpoint (CPT/CPR) data, the event log, and backups.
//
// # Key layout
//
// Every key of a cluster lives under /resmon/<cluster>/ and every value is
// JSON or plain text, so an operator can read the whole state with etcdctl
// and an operator certificate (see Security below):
//
//	go tool etcdctl --endpoints https://127.0.0.1:2379 \
//	    --cacert data/node1/pki/ca.pem \
//	    --cert data/node1/pki/operators/admin.pem --key data/node1/pki/operators/admin-key.pem \
//	    get --prefix /resmon/<cluster>/
//
// The keys (Keys builds them; nothing else spells them):
//
//	nodes/<node>                       presence of a running clusterd, bound to the node's
//	                                   lease: {"node","host","admin","pid","version",
//	                                   "started","ttl","lease"}; lease in hex as etcdctl shows it
//	db/types/<type>                    resource type record (ResourceType)
//	db/groups/<group>                  group record (Group)
//	db/resources/<id>                  resource record (Resource); id is a GUID
//	db/names/<lower-case name>         resource name → id, keeps names unique
//	db/checkpoint-paths/<CPT|CPR>/<lower-case path>
//	                                   resource id: the claim on a checkpointed path
//	                                   (overlaps are refused atomically, see cpindex.go)
//	db/checkpoint-numbers/<id>/00000001.CPT
//	                                   the path of checkpoint 1 of resource <id>
//	owners/<group>                     current owner of a group, bound to the owner's node
//	                                   lease: {"node","time","lease"}; the key's
//	                                   CreateRevision is the fencing token
//	state/groups/<group>               published group state (GroupStatus, written by the
//	                                   owner under its token): state, owner, token, desired
//	                                   state, recent failovers, the handoff left on release, bans
//	state/resources/<id>               published resource state (ResourceStatus)
//	control/<group>/<request id>       pending request to whichever node owns the group
//	                                   (model.Request: online, offline, move [node], and
//	                                   for a resource online, offline, fail; recover;
//	                                   cleanup for either),
//	                                   queued oldest first by create revision
//	replies/<group>/<request id>       the owner's typed answer (model.Reply: code done,
//	                                   unchanged, refused or failed, message, node, token),
//	                                   written with the status in the Txn that deletes the
//	                                   request (comparing its revision); the requester
//	                                   reads and deletes it, TrimReplies drops old ones
//	checkpoints/<id>/00000001.CPT      manifest of registry checkpoint 1 of resource <id>:
//	                                   format, size, chunks, sha256, generation, writer
//	                                   node and token, time, and "restored" after a restore
//	checkpoints/<id>/00000001.CPT.data/<generation>/<chunk>
//	                                   the checkpoint bytes, in chunks of at most 1 MiB;
//	                                   generation 0000000000000000 holds a one-chunk payload,
//	                                   larger ones get a fresh generation switched in by
//	                                   the manifest, so a reader never sees a mix
//	checkpoints/<id>/00000001.CPR      the same for a crypto checkpoint (payload encrypted)
//	events/<unix-nanos>-<node>-<seq>   event log entry (Event), oldest first
//	ops/maintenance/cluster            set while the cluster is in maintenance (model.Mark:
//	                                   by, time, reason); ops/maintenance/nodes/<node> and
//	                                   ops/maintenance/groups/<group> for one node or group
//	ops/paused/<node>                  set while a node is paused (model.NodePause); not
//	                                   bound to a lease: the pause outlives restarts
//	web/logins/<sha256 of the code>    a one-time login code of the web console (WebLogin:
//	                                   operator, role, expiry), bound to a lease
//	meta/bootstrap                     which node created the database, and when
//	meta/restore                       set when the database was restored from a backup
//
// # Useful commands
//
// With E standing for the flags above (--endpoints, --cacert, --cert, --key):
//
//	go tool etcdctl E get --prefix /resmon/<cluster>/nodes/          # who is up
//	go tool etcdctl E get --prefix /resmon/<cluster>/owners/ -w json  # owners; create_revision is the token
//	go tool etcdctl E get --prefix --keys-only /resmon/<cluster>/checkpoints/<id>/
//	go tool etcdctl E get /resmon/<cluster>/checkpoints/<id>/00000001.CPT
//	go tool etcdctl E lease timetolive --keys <lease>
//
// # Security
//
// An embedded member (embed.go) serves its client and peer ports over TLS
// and asks every client for a certificate signed by the cluster CA
// (package pki); the peer port takes only node certificates (those valid
// for pki.NodeMarker). etcd auth is on (auth.go): etcd names a client after
// its certificate's common name, and each node and operator certificate
// has a user of that name, without a password, holding one role that
// covers only /resmon/<cluster>/:
//
//	resmon-node    nodes: read and write
//	resmon-admin   operators with role admin: read and write
//	resmon-viewer  operators with role viewer: read only
//	root           etcd's administrator (users, roles, members): whoever has
//	               the CA key makes its certificate, in memory, for minutes
//
// So etcdctl reads the cluster with a viewer's or an admin's certificate
// and the flags above; writes need an admin's; `member add` and `member
// remove` need root's, which `cluster pki issue root -valid 15m` writes for
// the occasion. A certificate without a user reads nothing (ErrDenied at
// Connect); a client without one fails the TLS handshake. With
// insecure_plaintext an embedded member may instead listen on loopback
// http:// with neither TLS nor auth.
//
// # Backups
//
// Store.Backup writes the database and every checkpoint, read at one
// revision, into a directory of plain files (see backup.go); Store.Restore
// puts them back, refusing while nodes are up unless forced, and marks every
// restored checkpoint manifest "restored" so tooling can flag it as possibly
// stale until it is recovered from the owner's registry or saved again.
//
// # Fencing
//
// An owner-only write (checkpoint data, published state) is an etcd Txn whose
// comparison is CreateRevision(owners/<group>) == token. Once the owner's lease
// expires or it releases the group, the key is gone or re-created with a new
// CreateRevision, so a stale owner's write fails with ErrFenced. External
// systems can apply the same test to the token a resource hands them.
//
// # Notes
//
//   - Node liveness is not judged by the etcd client's session: a node computes
//     its own deadline from the send time of its last acknowledged keepalive
//     (t_send + TTL − margin) and fences itself there, before any other node
//     can see its lease expire.
//   - etcd grants leases of at least 1.5 × its election timeout; the granted TTL
//     is the one honoured.
package quorum
