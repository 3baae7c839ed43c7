package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/sdk"
)

func TestNewNeedsARegistry(t *testing.T) {
	if _, err := admin.New(admin.Config{}); !errors.Is(err, admin.ErrNoRegistry) {
		t.Fatalf("New without registry: %v", err)
	}
}

func TestSetGetEveryType(t *testing.T) {
	_, c, _ := unixServer(t)
	ctx := context.Background()
	const key = `SOFTWARE\Microsoft\onyone`
	for _, tt := range []struct {
		typ  string
		data []string
		want sdk.Value
	}{
		{"string", []string{"C:\\onyone \"quoted\""}, sdk.StringValue("v", "C:\\onyone \"quoted\"")},
		{"string", []string{""}, sdk.StringValue("v", "")},
		{"expand_string", []string{"%HOME%/bin"}, sdk.Value{Name: "v", Type: sdk.ExpandString, Str: "%HOME%/bin"}},
		{"multi_string", []string{"a", "b c"}, sdk.MultiStringValue("v", "a", "b c")},
		{"multi_string", nil, sdk.Value{Name: "v", Type: sdk.MultiString}},
		{"dword", []string{"7000"}, sdk.DWordValue("v", 7000)},
		{"REG_DWORD", []string{"0xFFFFFFFF"}, sdk.DWordValue("v", 0xFFFFFFFF)},
		{"qword", []string{"18446744073709551615"}, sdk.QWordValue("v", 1<<64-1)},
		{"binary", []string{"de,ad,BE,ef"}, sdk.BinaryValue("v", []byte{0xde, 0xad, 0xbe, 0xef})},
		{"binary", []string{""}, sdk.Value{Name: "v", Type: sdk.Binary}},
		{"none", []string{"00:01"}, sdk.Value{Name: "v", Type: sdk.None, Bytes: []byte{0, 1}}},
	} {
		v := mustValue(t, "v", tt.typ, tt.data...)
		if _, err := c.SetValue(ctx, key, v); err != nil {
			t.Fatalf("%s %q: %v", tt.typ, tt.data, err)
		}
		got, err := c.GetValue(ctx, `hklm\`+strings.ToUpper(key), "V")
		if err != nil {
			t.Fatalf("%s: get: %v", tt.typ, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %q: got %+v, want %+v", tt.typ, tt.data, got, tt.want)
		}
	}
}

func TestListExportImportDelete(t *testing.T) {
	reg, c, _ := unixServer(t)
	ctx := context.Background()
	reg.SetValue(ctx, `SOFTWARE\Onyone`, "Port", sdk.DWordValue("Port", 7000))
	reg.SetValue(ctx, `SOFTWARE\Onyone`, "", sdk.StringValue("", "default"))
	reg.SetValue(ctx, `SOFTWARE\Onyone\Sub`, "x", sdk.StringValue("x", "1"))

	l, err := c.List(ctx, `\SOFTWARE\Onyone\`)
	if err != nil {
		t.Fatal(err)
	}
	if l.Key != `SOFTWARE\Onyone` || !reflect.DeepEqual(l.SubKeys, []string{"Sub"}) || len(l.Values) != 2 ||
		l.Values[0].Name != "" || l.Values[1].Type != "dword" || string(l.Values[1].Data) != "7000" {
		t.Fatalf("list: %+v", l)
	}
	root, err := c.List(ctx, "")
	if err != nil || !reflect.DeepEqual(root.SubKeys, []string{"SOFTWARE"}) {
		t.Fatalf("list of the root: %+v %v", root, err)
	}

	text, err := c.Export(ctx, `SOFTWARE\Onyone`, registry.UTF8)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{registry.RegHeader, `[HKEY_LOCAL_MACHINE\SOFTWARE\Onyone]`, `@="default"`, `"Port"=dword:00001b58`, `[HKEY_LOCAL_MACHINE\SOFTWARE\Onyone\Sub]`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("export lacks %q:\n%s", want, text)
		}
	}
	wide, err := c.Export(ctx, `SOFTWARE\Onyone`, registry.UTF16)
	if err != nil || !bytes.HasPrefix(wide, []byte{0xFF, 0xFE}) {
		t.Fatalf("utf-16 export: %v % x", err, wide[:min(4, len(wide))])
	}

	// Delete the subtree, then import the export back.
	if _, err := c.DeleteKey(ctx, `SOFTWARE\Onyone`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, `SOFTWARE\Onyone`); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("list after delete: %v", err)
	}
	res, err := c.Import(ctx, "onyone.reg", wide)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, admin.ImportResult{Name: "onyone.reg", Keys: 2, Values: 3}) {
		t.Fatalf("import result %+v", res)
	}
	if v, err := reg.GetValue(ctx, `SOFTWARE\Onyone\Sub`, "x"); err != nil || v.Str != "1" {
		t.Fatalf("imported value: %+v %v", v, err)
	}
	if _, err := c.DeleteValue(ctx, `SOFTWARE\Onyone`, "port"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetValue(ctx, `SOFTWARE\Onyone`, "Port"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("value still there: %v", err)
	}
}

// TestBadInputChangesNothing: every malformed request is refused with an
// error naming the key or value, and the registry is byte for byte the same.
func TestBadInputChangesNothing(t *testing.T) {
	reg, c, _ := unixServer(t)
	ctx := context.Background()
	reg.SetValue(ctx, `SOFTWARE\Onyone`, "Port", sdk.DWordValue("Port", 7000))
	before, _ := c.Export(ctx, "", registry.UTF8)
	for _, tt := range []struct {
		name    string
		call    func() error
		wantErr error
		msg     string
	}{
		{"malformed key on set", func() error {
			return second(c.SetValue(ctx, `SOFTWARE\\Onyone`, sdk.StringValue("x", "y")))
		}, admin.ErrBadRequest, `SOFTWARE\\\\Onyone`},
		{"malformed key on get", func() error {
			_, err := c.GetValue(ctx, "SOFTWARE\\bad\x01name", "x")
			return err
		}, admin.ErrBadRequest, "control character"},
		{"malformed key on delete", func() error { return second(c.DeleteKey(ctx, `a\\b`)) }, admin.ErrBadRequest, `a\\\\b`},
		{"root cannot be deleted", func() error { return second(c.DeleteKey(ctx, `HKLM`)) }, admin.ErrBadRequest, "root"},
		{"string with NUL", func() error {
			return second(c.SetValue(ctx, `SOFTWARE\Onyone`, sdk.StringValue("Name", "a\x00b")))
		}, admin.ErrBadRequest, `"Name"`},
		{"empty multi-string element", func() error {
			return second(c.SetValue(ctx, `SOFTWARE\Onyone`, sdk.MultiStringValue("List", "a", "")))
		}, admin.ErrBadRequest, `"List"`},
		{"unknown type", func() error {
			return second(c.SetValue(ctx, `SOFTWARE\Onyone`, sdk.Value{Name: "T", Type: 99}))
		}, admin.ErrBadRequest, `"T"`},
		{"too large", func() error {
			return second(c.SetValue(ctx, `SOFTWARE\Onyone`, sdk.BinaryValue("Big", make([]byte, registry.MaxValueSize+1))))
		}, admin.ErrBadRequest, `"Big"`},
		{"missing value", func() error { _, err := c.GetValue(ctx, `SOFTWARE\Onyone`, "nope"); return err }, admin.ErrNotFound, `"nope"`},
		{"missing key", func() error { return second(c.DeleteKey(ctx, `SOFTWARE\Nope`)) }, admin.ErrNotFound, `SOFTWARE\\Nope`},
		{"missing value on delete", func() error { return second(c.DeleteValue(ctx, `SOFTWARE\Onyone`, "nope")) }, admin.ErrNotFound, `"nope"`},
		{"bad .reg line", func() error {
			_, err := c.Import(ctx, "bad.reg", []byte(registry.RegHeader+"\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\New]\n\"ok\"=\"1\"\n\"Port\"=dword:xyz\n"))
			return err
		}, admin.ErrBadRequest, "bad.reg:5"},
		{"export of a missing key", func() error { _, err := c.Export(ctx, `SOFTWARE\Nope`, registry.UTF8); return err }, admin.ErrNotFound, `SOFTWARE\\Nope`},
	} {
		err := tt.call()
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %s", tt.name, err, tt.wantErr, tt.msg)
		}
	}
	after, _ := c.Export(ctx, "", registry.UTF8)
	if !bytes.Equal(before, after) {
		t.Fatalf("registry changed:\n%s\n---\n%s", before, after)
	}
}

// TestRawRequests drives the HTTP layer directly: bad JSON, unknown fields,
// wrong data shapes and oversized bodies are 4xx with a JSON error.
func TestRawRequests(t *testing.T) {
	reg := openRegistry(t)
	srv, err := admin.New(admin.Config{Registry: reg, MaxRequestBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	dir := shortDir(t)
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", filepath.Join(dir, "s"))
	}}}
	for _, tt := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{"/v1/registry/get", `{"key":"a","name":"b","extra":1}`, 400, `unknown field "extra"`},
		{"/v1/registry/get", `{"key":"a"} {"key":"b"}`, 400, "data after the JSON object"},
		{"/v1/registry/get", `not json`, 400, "malformed request"},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"dword","data":"abc"}}`, 400, `value "n" (dword): abc is not a decimal`},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"dword","data":4294967296}}`, 400, "does not fit 32 bits"},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"text","data":"x"}}`, 400, `unknown value type "text"`},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"string","data":5}}`, 400, "must be a JSON string"},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"binary","data":"xyz"}}`, 400, "not hex"},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"multi_string","data":"x"}}`, 400, "list of strings"},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"qword","data":"0x10"}}`, 200, ""},
		{"/v1/registry/export", `{"key":"a","encoding":"latin1"}`, 400, `encoding "latin1"`},
		{"/v1/registry/set", `{"key":"a","value":{"name":"n","type":"string","data":"` + strings.Repeat("x", 2000) + `"}}`, 413, "larger than 1024 bytes"},
		{"/v1/nope", `{}`, 404, ""},
	} {
		resp, err := hc.Post("http://admin"+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ae struct{ Error string }
		json.Unmarshal(b, &ae)
		if resp.StatusCode != tt.status || !strings.Contains(ae.Error, tt.msg) {
			t.Errorf("%s %s: %d %s, want %d with %q", tt.path, tt.body[:min(40, len(tt.body))], resp.StatusCode, b, tt.status, tt.msg)
		}
	}
	if v, err := reg.GetValue(ctx, "a", "n"); err != nil || !reflect.DeepEqual(v, sdk.QWordValue("n", 16)) {
		t.Fatalf("the one good request: %+v %v", v, err)
	}
}

func TestValueFromTextErrors(t *testing.T) {
	for _, tt := range []struct {
		typ  string
		data []string
		msg  string
	}{
		{"text", []string{"x"}, `unknown value type "text"`},
		{"dword", []string{"-1"}, "not a decimal or 0x hex number"},
		{"dword", []string{"0x100000000"}, "does not fit 32 bits"},
		{"qword", []string{"1", "2"}, "expected one data argument, got 2"},
		{"string", nil, "expected one data argument, got 0"},
		{"binary", []string{"abc"}, "not hex"},
	} {
		_, err := admin.ValueFromText("Port", tt.typ, tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), `"Port"`) {
			t.Errorf("%s %q: %v, want %q naming the value", tt.typ, tt.data, err, tt.msg)
		}
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, v := range []sdk.Value{
		sdk.StringValue("a", "é\"\\"), {Name: "b", Type: sdk.ExpandString, Str: "%X%"},
		sdk.MultiStringValue("c", "x", "y"), sdk.DWordValue("d", 1), sdk.QWordValue("e", 1<<63),
		sdk.BinaryValue("f", []byte{0, 255}), {Name: "g", Type: sdk.None},
	} {
		got, err := admin.FromSDK(v).SDK()
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%+v → %+v, %v", v, got, err)
		}
	}
}

// second is the error of a call that also answers a value.
func second[T any](_ T, err error) error { return err }
