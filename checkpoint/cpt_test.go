package checkpoint_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/onyone.cpt")

var testKey = bytes.Repeat([]byte{0x42}, checkpoint.CryptoKeyLen)

func onyoneDoc() checkpoint.Document {
	tree := &registry.Key{Name: "onyone",
		Values: []sdk.Value{
			sdk.StringValue("", "Onyone server"),
			sdk.DWordValue("Port", 7000),
			sdk.QWordValue("Quota", 1<<40),
			sdk.StringValue("Server", `onyone.example.com <primary> & "main"`),
		},
		SubKeys: []*registry.Key{{Name: "Clients", Values: []sdk.Value{
			sdk.MultiStringValue("Allowed", "paris", "lyon"),
			sdk.BinaryValue("Cookie", []byte{0xde, 0xad}),
			{Name: "Empty", Type: sdk.None},
			{Name: "Path", Type: sdk.ExpandString, Str: `%ProgramData%\Onyone`},
		}}},
	}
	return checkpoint.Document{Kind: model.RegistryCheckpoint, Resource: "8f2e2c8e-6a3f-4c59-9f1f-3b8d6f0e1a2b", Number: 1,
		Path: `SOFTWARE\Microsoft\onyone`, Seq: 42, Node: "node1", Time: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC), Tree: tree}
}

func TestEncodeIsCanonicalAndStable(t *testing.T) {
	d := onyoneDoc()
	b, err := checkpoint.Encode(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile("testdata/onyone.cpt", b, 0o644)
	}
	golden, err := os.ReadFile("testdata/onyone.cpt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, golden) {
		t.Errorf("encoding changed; a format change needs a new Format number:\n got %s\nwant %s", b, golden)
	}
	// Values given in another order encode to the same bytes.
	d2 := onyoneDoc()
	d2.Tree.Values[0], d2.Tree.Values[3] = d2.Tree.Values[3], d2.Tree.Values[0]
	d2.Tree.Sort()
	if b2, _ := checkpoint.Encode(d2, nil); !bytes.Equal(b2, b) {
		t.Error("equal trees encode differently")
	}
	got, err := checkpoint.Decode(golden, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Errorf("decode:\n got %+v\nwant %+v", got, d)
	}
}

func TestEncodeDecodeKinds(t *testing.T) {
	cpr := checkpoint.Document{Kind: model.CryptoCheckpoint, Resource: "r", Number: 3, Path: `1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`,
		Seq: 1, Node: "n", Time: time.Now().UTC(), Material: []byte("-----BEGIN PRIVATE KEY-----")}
	tests := []struct {
		name string
		d    checkpoint.Document
	}{
		{"CPT", onyoneDoc()},
		{"CPT of a missing key", checkpoint.Document{Kind: model.RegistryCheckpoint, Resource: "r", Number: 2, Path: `SOFTWARE\Gone`, Seq: 9, Node: "n", Time: time.Now().UTC(), Absent: true}},
		{"CPR", cpr},
		{"CPR of a missing container", func() checkpoint.Document { d := cpr; d.Absent, d.Material = true, nil; return d }()},
	}
	for _, tc := range tests {
		b, err := checkpoint.Encode(tc.d, testKey)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := checkpoint.Decode(b, testKey)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.d) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", tc.name, got, tc.d)
		}
		if tc.d.Kind == model.CryptoCheckpoint && bytes.Contains(b, []byte("PRIVATE")) {
			t.Errorf("%s: plaintext in %s", tc.name, b)
		}
	}
	bad := []checkpoint.Document{
		{Kind: model.RegistryCheckpoint, Resource: "r", Number: 1, Path: `K`, Node: "n", Time: time.Now()},                                   // neither tree nor absent
		{Kind: "XYZ", Resource: "r", Number: 1, Path: `K`, Node: "n", Time: time.Now(), Absent: true},                                        // kind
		{Kind: model.RegistryCheckpoint, Resource: "r", Number: 0, Path: `K`, Node: "n", Time: time.Now(), Absent: true},                     // number
		{Kind: model.RegistryCheckpoint, Resource: "r", Number: 1, Path: `K`, Node: "n", Absent: true},                                       // time
		{Kind: model.CryptoCheckpoint, Resource: "r", Number: 1, Path: `1\P\C`, Node: "n", Time: time.Now(), Tree: &registry.Key{Name: "C"}}, // tree in a CPR
	}
	for i, d := range bad {
		if _, err := checkpoint.Encode(d, testKey); err == nil {
			t.Errorf("bad document %d encoded", i)
		}
	}
	if _, err := checkpoint.Encode(cpr, nil); !errors.Is(err, checkpoint.ErrNoCryptoKey) {
		t.Errorf("CPR without a key: %v", err)
	}
}

func TestDecodeDetectsDamage(t *testing.T) {
	golden, err := os.ReadFile("testdata/onyone.cpt")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := checkpoint.Encode(checkpoint.Document{Kind: model.CryptoCheckpoint, Resource: "r", Number: 1, Path: `1\P\C`, Seq: 1, Node: "n",
		Time: time.Now(), Material: []byte("secret")}, testKey)
	// reseal recomputes the sha256 after an edit, so only deeper checks can catch it.
	reseal := func(b []byte) []byte {
		i := bytes.LastIndex(b, []byte(`,"sha256":"`))
		return resha(b[:i+1])
	}
	tests := []struct {
		name string
		b    []byte
		key  []byte
		want error
		msg  string
	}{
		{"one bit flipped in the tree", bytes.Replace(golden, []byte(`"data":7000`), []byte(`"data":7001`), 1), nil, checkpoint.ErrCorrupt, "sha256 mismatch"},
		{"header edited", bytes.Replace(golden, []byte(`"node":"node1"`), []byte(`"node":"node2"`), 1), nil, checkpoint.ErrCorrupt, "sha256 mismatch"},
		{"reformatted", bytes.Replace(golden, []byte(`,"seq"`), []byte(`, "seq"`), 1), nil, checkpoint.ErrCorrupt, "canonical"},
		{"truncated", golden[:len(golden)/2], nil, checkpoint.ErrCorrupt, "not a checkpoint document"},
		{"trailing data", append(append([]byte(nil), golden...), "{}"...), nil, checkpoint.ErrCorrupt, "trailing"},
		{"unknown field", bytes.Replace(golden, []byte(`{"format":1,`), []byte(`{"format":1,"extra":1,`), 1), nil, checkpoint.ErrCorrupt, "unknown field"},
		{"another format", reseal(bytes.Replace(golden, []byte(`{"format":1,`), []byte(`{"format":2,`), 1)), nil, checkpoint.ErrCorrupt, "format 2"},
		{"duplicate values, checksum redone", reseal(bytes.Replace(golden, []byte(`{"name":"Port",`), []byte(`{"name":"port","type":"REG_DWORD","data":1},{"name":"Port",`), 1)), nil, checkpoint.ErrCorrupt, "sorted and unique"},
		{"tree renamed, checksum redone", reseal(bytes.Replace(golden, []byte(`"tree":{"name":"onyone"`), []byte(`"tree":{"name":"other"`), 1)), nil, checkpoint.ErrCorrupt, "not the last key"},
		{"bad value type, checksum redone", reseal(bytes.Replace(golden, []byte(`"REG_DWORD"`), []byte(`"REG_LINK"`), 1)), nil, checkpoint.ErrCorrupt, "unknown type"},
		{"sealed without a key", sealed, nil, checkpoint.ErrNoCryptoKey, "crypto_key_file"},
		{"sealed under another key", sealed, bytes.Repeat([]byte{1}, 32), checkpoint.ErrWrongCryptoKey, checkpoint.KeyID(bytes.Repeat([]byte{1}, 32))},
		{"ciphertext edited, checksum redone", reseal(bytes.Replace(sealed, []byte(`"ciphertext":"`), []byte(`"ciphertext":"AAAA`), 1)), testKey, checkpoint.ErrCorrupt, "does not authenticate"},
		{"sealed payload moved to another checkpoint", reseal(bytes.Replace(sealed, []byte(`"number":1`), []byte(`"number":2`), 1)), testKey, checkpoint.ErrCorrupt, "does not authenticate"},
	}
	for _, tc := range tests {
		_, err := checkpoint.Decode(tc.b, tc.key)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
}

// resha turns a document without its sha256 member ("{…,") into a valid one.
func resha(body []byte) []byte {
	b := append(append([]byte(nil), body[:len(body)-1]...), '}')
	return checkpoint.ShaAppendForTest(b)
}
