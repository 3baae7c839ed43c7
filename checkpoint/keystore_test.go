package checkpoint_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/sdk"
)

func TestParseContainerName(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{`1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`, `1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`, ""},
		{`\1\P\C\`, `1\P\C`, ""},
		{`1\P`, "", "2 parts"},
		{`1\P\C\D`, "", "4 parts"},
		{`1\\C`, "", "empty part"},
		{"1\\P\\C\x01", "", "control character"},
	}
	for _, tc := range tests {
		got, err := checkpoint.ParseContainerName(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, sdk.ErrInvalidParameter)) {
			t.Errorf("ParseContainerName(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestKeystore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keystore")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ks, err := checkpoint.OpenKeystore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("keystore directory mode %v, want 0700", fi.Mode().Perm())
	}
	odd := `1\Provider/with/slashes %\..`
	names := []string{`1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`, odd, `24\Other\Key`}
	sub, err := ks.Subscribe(ctx, names[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if err := ks.Put(ctx, n, []byte{byte(i)}); err != nil {
			t.Fatalf("Put(%q): %v", n, err)
		}
	}
	if rev := <-sub; rev != 1 {
		t.Errorf("subscription got revision %d, want 1", rev)
	}
	// Case-insensitive, case-preserving.
	if err := ks.Put(ctx, strings.ToUpper(names[0]), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, err := ks.Get(ctx, strings.ToLower(names[0])); err != nil || string(b) != "new" {
		t.Errorf("Get = %q, %v", b, err)
	}
	list, err := ks.List(ctx)
	if want := []string{names[0], odd, names[2]}; err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("List = %q, %v", list, err)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if fi, _ := d.Info(); !d.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		if rel, _ := filepath.Rel(dir, p); strings.Contains(rel, "..") {
			t.Errorf("a container escapes its directory: %s", p)
		}
		return nil
	})
	if err := ks.Delete(ctx, odd); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Get(ctx, odd); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := ks.Delete(ctx, odd); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Delete of a missing container: %v", err)
	}
	if err := ks.Put(ctx, names[2], make([]byte, checkpoint.MaxKeyMaterial+1)); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Errorf("Put over the limit: %v", err)
	}
}
