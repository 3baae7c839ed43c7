// Package sdktest helps resource type authors test their types: an in-memory
// registry and host with the node's semantics, and a conformance harness that
// runs a type through its entry points the way the monitor will. It needs no
// etcd and no cluster.
//
// Run the harness on the type itself, and on each build of it through the
// transport adapters of the plugin hosts:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, sdktest.Direct(mytype.Type{}), sdktest.Options{
//			Properties: map[string]any{"Port": 7000},
//		})
//	}
package sdktest
