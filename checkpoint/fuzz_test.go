package checkpoint_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
)

// FuzzDecode checks that the CPT/CPR decoder never panics, and that a CPT it
// accepts is canonical: encoding what it decoded gives back the same bytes.
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile("testdata/onyone.cpt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	absent, _ := checkpoint.Encode(checkpoint.Document{Kind: model.RegistryCheckpoint, Resource: "r", Number: 1, Path: `A\B`, Seq: 1, Node: "n", Time: time.Unix(0, 0), Absent: true}, nil)
	f.Add(absent)
	sealed, _ := checkpoint.Encode(checkpoint.Document{Kind: model.CryptoCheckpoint, Resource: "r", Number: 1, Path: `1\P\C`, Seq: 1, Node: "n", Time: time.Unix(0, 0), Material: []byte("k")}, testKey)
	f.Add(sealed)
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := checkpoint.Decode(b, testKey)
		if err != nil || d.Kind != model.RegistryCheckpoint {
			return
		}
		again, err := checkpoint.Encode(d, nil)
		if err != nil {
			t.Fatalf("a decoded document does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical document:\n%s\nre-encodes as\n%s", b, again)
		}
	})
}
