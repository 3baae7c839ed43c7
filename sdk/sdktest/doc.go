// Package sdktest helps resource type authors test their types: an in-memory
// registry and host with the node's semantics, and a conformance harness that
// runs a type through its entry points. It needs no etcd and no cluster.
package sdktest
