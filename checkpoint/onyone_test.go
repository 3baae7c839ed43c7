package checkpoint_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestOnyoneScenario plays the walk-through of the French seed: the
// client/server application "Onyone" keeps its settings under
// SOFTWARE\Microsoft\onyone and ...\onyone2; both keys are checkpointed on
// the resource "Network Name DATA", so they follow it from node to node.
func TestOnyoneScenario(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1"), c.node("node2")
	res := c.res
	ctx := ctxT(t)

	// C:\>cluster resource "Network Name DATA" /addcheckpoints:"SOFTWARE\Microsoft\onyone"
	if _, err := c.admin.AddCheckpoint(ctx, res.ID, model.RegistryCheckpoint, `SOFTWARE\Microsoft\onyone`); err != nil {
		t.Fatal(err)
	}
	// ... and the second one, this time from the resource itself (its resource DLL).
	n1.addCheckpoint(res, `\SOFTWARE\Microsoft\onyone2`)

	// C:\>cluster . resource /checkpoints  — the list, as GET returns it.
	out := make([]byte, 256)
	n, err := n1.mgr.Control(ctx, model.Ref{ID: res.ID, Name: res.Name}, sdk.GetRegistryCheckpoints, nil, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimRight(string(out[:n]), "\x00"), "\x00"); len(got) != 2 || got[0] != `SOFTWARE\Microsoft\onyone` || got[1] != `SOFTWARE\Microsoft\onyone2` {
		t.Fatalf("checkpoints of %q: %q", res.Name, got)
	}

	// Node 1 runs the application, which writes its settings.
	n1.online(res)
	n1.set(`SOFTWARE\Microsoft\onyone`, "Server", sdk.StringValue("", "onyone.example.com"))
	n1.set(`SOFTWARE\Microsoft\onyone`, "Port", sdk.DWordValue("", 7000))
	n1.set(`SOFTWARE\Microsoft\onyone\Clients`, "Allowed", sdk.MultiStringValue("", "paris", "lyon"))
	n1.set(`SOFTWARE\Microsoft\onyone2`, "Licence", sdk.BinaryValue("", []byte{0x0e, 0x1e}))
	eventually(t, "both checkpoints stored", func() bool {
		return c.storedStr(res, 1, "", "Server") == "onyone.example.com" && c.storedStr(res, 2, "", "Licence") != "<missing>"
	})
	if err := n1.mgr.Flush(ctx, res); err != nil { // and everything else
		t.Fatal(err)
	}

	// In etcd, like Q:\MSCS\<GUID>\0000000x.CPT on the quorum disk: one
	// checkpoint per key under the resource's GUID, readable with etcdctl.
	resp, err := c.raw.Get(ctx, c.admin.Keys().ResourceCheckpoints(res.ID), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, kv := range resp.Kvs {
		if k := strings.TrimPrefix(string(kv.Key), c.admin.Keys().ResourceCheckpoints(res.ID)); !strings.Contains(k, "/") {
			names = append(names, k)
		}
	}
	if strings.Join(names, " ") != "00000001.CPT 00000002.CPT" {
		t.Errorf("checkpoint files of %s: %q", res.ID, names)
	}
	raw, _, err := c.admin.GetCheckpoint(ctx, res.ID, model.RegistryCheckpoint, 1)
	if err != nil || !json.Valid(raw) || !strings.Contains(string(raw), `"path":"SOFTWARE\\Microsoft\\onyone"`) || !strings.Contains(string(raw), `"name":"Port","type":"REG_DWORD","data":7000`) {
		t.Errorf("00000001.CPT is not readable JSON naming its key: %s, %v", raw, err)
	}

	// The group moves to node 2: the settings are there before Online.
	n1.offline(res)
	n2.online(res)
	if got := n2.str(`SOFTWARE\Microsoft\onyone`, "Server"); got != "onyone.example.com" {
		t.Errorf("node2 Server = %q", got)
	}
	if v, err := n2.reg.GetValue(ctx, `SOFTWARE\Microsoft\onyone\Clients`, "Allowed"); err != nil || strings.Join(v.Strs, ",") != "paris,lyon" {
		t.Errorf("node2 Clients\\Allowed = %+v, %v", v, err)
	}
	if v, err := n2.reg.GetValue(ctx, `SOFTWARE\Microsoft\onyone2`, "Licence"); err != nil || string(v.Bytes) != "\x0e\x1e" {
		t.Errorf("node2 onyone2\\Licence = %+v, %v", v, err)
	}
	n2.set(`SOFTWARE\Microsoft\onyone`, "Port", sdk.DWordValue("", 7001)) // the application reconfigures itself on node 2

	// Offline on node 2, someone edits the key by hand: overwritten at the next Online.
	n2.offline(res)
	n2.set(`SOFTWARE\Microsoft\onyone`, "Server", sdk.StringValue("", "edited while offline"))
	n2.online(res)
	if got := n2.str(`SOFTWARE\Microsoft\onyone`, "Server"); got != "onyone.example.com" {
		t.Errorf("the offline edit on node2 survived: Server = %q", got)
	}

	// And back to node 1, which sees what the application wrote on node 2.
	n2.offline(res)
	n1.online(res)
	if v, err := n1.reg.GetValue(ctx, `SOFTWARE\Microsoft\onyone`, "Port"); err != nil || v.Num != 7001 {
		t.Errorf("node1 Port after the round trip = %+v, %v", v, err)
	}
}
