package sdktest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
)

func TestMemRegistryCaseInsensitiveAndTyped(t *testing.T) {
	ctx := context.Background()
	r := sdktest.NewMemRegistry()
	if err := r.SetValue(ctx, `SOFTWARE\Microsoft\Onyone`, "Port", sdk.DWordValue("", 7000)); err != nil {
		t.Fatal(err)
	}
	v, err := r.GetValue(ctx, `software\microsoft\ONYONE`, "port")
	if err != nil || v.Num != 7000 || v.Name != "port" && v.Name != "Port" {
		t.Fatalf("got %+v %v", v, err)
	}
	keys, _ := r.SubKeys(ctx, `SOFTWARE\Microsoft`)
	if len(keys) != 1 || keys[0] != "Onyone" {
		t.Fatalf("case not preserved: %q", keys)
	}
	if err := r.SetValue(ctx, `SOFTWARE`, "bad", sdk.Value{Type: sdk.DWord, Num: 1 << 40}); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Fatalf("oversized dword: %v", err)
	}
	if err := r.DeleteKey(ctx, `SOFTWARE\Microsoft`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetValue(ctx, `SOFTWARE\Microsoft\Onyone`, "Port"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("after subtree delete: %v", err)
	}
}

func TestCheckpointControlCodeSemantics(t *testing.T) {
	c := sdktest.NewCheckpoints()
	add := func(p string) error { _, err := c.Control("r", sdk.AddRegistryCheckpoint, []byte(p), nil); return err }
	if err := add(`SOFTWARE\Microsoft\onyone`); err != nil {
		t.Fatal(err)
	}
	if err := add(`software\microsoft\ONYONE`); !errors.Is(err, sdk.ErrAlreadyExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if _, err := c.Control("r", sdk.DeleteRegistryCheckpoint, []byte("nope"), nil); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	_, err := c.Control("r", sdk.GetRegistryCheckpoints, nil, make([]byte, 3))
	var more *sdk.MoreDataError
	if !errors.As(err, &more) || !errors.Is(err, sdk.ErrMoreData) || more.Needed != len(`SOFTWARE\Microsoft\onyone`)+2 {
		t.Fatalf("small buffer: %v", err)
	}
	out := make([]byte, more.Needed)
	n, err := c.Control("r", sdk.GetRegistryCheckpoints, nil, out)
	if err != nil || string(out[:n]) != "SOFTWARE\\Microsoft\\onyone\x00\x00" {
		t.Fatalf("get: %q %v", out[:n], err)
	}
	if _, err := c.Control("r", 0x12345, nil, nil); !errors.Is(err, sdk.ErrInvalidFunction) {
		t.Fatalf("unknown code: %v", err)
	}
}
