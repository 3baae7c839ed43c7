package checkpoint_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
)

func ExampleEncode() {
	d := checkpoint.Document{
		Kind: model.RegistryCheckpoint, Resource: "8f2e2c8e-6a3f-4c59-9f1f-3b8d6f0e1a2b", Number: 1,
		Path: `SOFTWARE\Microsoft\onyone`, Seq: 7, Node: "node1", Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Tree: &registry.Key{Name: "onyone", Values: []sdk.Value{sdk.DWordValue("Port", 7000)}},
	}
	b, _ := checkpoint.Encode(d, nil)
	os.Stdout.Write(b[:len(b)-77]) // all but the sha256 member
	fmt.Println("…")
	back, err := checkpoint.Decode(b, nil)
	fmt.Println(back.FileName(), back.Seq, err)
	// Output:
	// {"format":1,"kind":"CPT","resource":"8f2e2c8e-6a3f-4c59-9f1f-3b8d6f0e1a2b","number":1,"path":"SOFTWARE\\Microsoft\\onyone","seq":7,"node":"node1","time":"2025-03-01T12:00:00Z","tree":{"name":"onyone","values":[{"name":"Port","type":"REG_DWORD","data":7000}],"keys":[]}…
	// 00000001.CPT 7 <nil>
}

// The monitor's calls around a resource that comes online on this node and
// goes offline again.
func ExampleManager() {
	var (
		ctx    = context.Background()
		store  *quorum.Store      // the cluster's etcd
		member *quorum.Member     // this node's membership
		reg    *registry.Registry // registry.Open(data_dir + "/registry.db")
		res    model.Resource     // from the cluster database
	)
	mgr, err := checkpoint.NewManager(checkpoint.Config{Node: "node1", Store: store, Registry: reg})
	if err != nil {
		return
	}
	go mgr.Serve(ctx) // recovery requests, checkpoint lists changed by operators

	own, err := store.Acquire(ctx, member, res.Group)
	if err != nil {
		return
	}
	if err := mgr.Restore(ctx, res, own.Fence()); err != nil {
		return // corrupt data: the error names `cluster checkpoint recover --resource "…"`
	}
	if err := mgr.StartOnline(ctx, res, own.Fence()); err != nil {
		return
	}
	// … the resource's Online, health checks, its Offline …
	if err := mgr.Offline(ctx, res); err != nil {
		fmt.Println(err)
	}
	store.Release(ctx, own)
}

func ExampleRecover() {
	var store *quorum.Store // the CLI's connection to the cluster
	results, err := checkpoint.Recover(context.Background(), store, "Network Name DATA", "operator@host")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Println(r.Resource, r.Node, r.Checkpoints, r.Err())
	}
}

func ExampleRecoverCommand() {
	fmt.Println(checkpoint.RecoverCommand("Network Name DATA"))
	// Output: cluster checkpoint recover --resource "Network Name DATA"
}
