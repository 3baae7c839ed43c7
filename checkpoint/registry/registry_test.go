package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/sdk"
)

func openTest(t testing.TB) *Registry {
	t.Helper()
	r, err := Open(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestValuesOfEveryType(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	values := []sdk.Value{
		sdk.StringValue("", "default"),
		sdk.StringValue("Name", `a "quoted" C:\path`),
		{Name: "Expand", Type: sdk.ExpandString, Str: `%ProgramData%\Onyone`},
		sdk.MultiStringValue("Peers", "node1", "node2"),
		sdk.DWordValue("Port", 7000),
		sdk.QWordValue("Big", 1<<40),
		sdk.BinaryValue("Blob", []byte{0xde, 0xad}),
		{Name: "Nothing", Type: sdk.None},
		sdk.MultiStringValue("Empty"),
	}
	for _, v := range values {
		if err := r.SetValue(ctx, `SOFTWARE\Onyone`, v.Name, v); err != nil {
			t.Fatalf("SetValue(%q): %v", v.Name, err)
		}
	}
	for _, v := range values {
		got, err := r.GetValue(ctx, `software\ONYONE`, strings.ToUpper(v.Name))
		if err != nil {
			t.Fatalf("GetValue(%q): %v", v.Name, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("GetValue(%q) = %+v, want %+v", v.Name, got, v)
		}
	}
	list, err := r.Values(ctx, `SOFTWARE\Onyone`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range list {
		names = append(names, v.Name)
	}
	if want := []string{"", "Big", "Blob", "Empty", "Expand", "Name", "Nothing", "Peers", "Port"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Values names = %q, want %q", names, want)
	}
}

func TestCaseInsensitiveCasePreserving(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	must(t, r.SetValue(ctx, `SOFTWARE\Microsoft\Onyone`, "Port", sdk.DWordValue("", 1)))
	must(t, r.SetValue(ctx, `software\MICROSOFT\onyone`, "PORT", sdk.DWordValue("", 2)))
	must(t, r.CreateKey(ctx, `SOFTWARE\microsoft\beta`))
	must(t, r.CreateKey(ctx, `SOFTWARE\microsoft\Alpha`))

	subs, err := r.SubKeys(ctx, `SOFTWARE\MICROSOFT`)
	must(t, err)
	if want := []string{"Alpha", "beta", "Onyone"}; !reflect.DeepEqual(subs, want) {
		t.Errorf("SubKeys = %q, want %q (case preserved, sorted case-insensitively)", subs, want)
	}
	subs, _ = r.SubKeys(ctx, ``)
	if want := []string{"SOFTWARE"}; !reflect.DeepEqual(subs, want) {
		t.Errorf("root SubKeys = %q, want %q", subs, want)
	}
	v, err := r.GetValue(ctx, `SOFTWARE\Microsoft\Onyone`, "port")
	must(t, err)
	if v.Num != 2 || v.Name != "PORT" {
		t.Errorf("value = %+v, want Num 2 under the newest spelling PORT", v)
	}
}

func TestNotFoundAndDelete(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	must(t, r.SetValue(ctx, `A\B\C`, "v", sdk.DWordValue("", 1)))
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"GetValue missing key", second(r.GetValue(ctx, `A\X`, "v"))},
		{"GetValue missing value", second(r.GetValue(ctx, `A\B\C`, "w"))},
		{"DeleteValue missing", r.DeleteValue(ctx, `A\B\C`, "w")},
		{"DeleteKey missing", r.DeleteKey(ctx, `A\X`)},
		{"SubKeys missing", second(r.SubKeys(ctx, `Z`))},
		{"Values missing", second(r.Values(ctx, `Z`))},
	} {
		if !errors.Is(tc.err, sdk.ErrNotFound) {
			t.Errorf("%s: error %v, want sdk.ErrNotFound", tc.name, tc.err)
		}
	}
	must(t, r.DeleteKey(ctx, `a\b`))
	if _, err := r.GetValue(ctx, `A\B\C`, "v"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("after DeleteKey of the parent: %v", err)
	}
	if err := r.DeleteKey(ctx, ``); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Errorf("DeleteKey(root) = %v, want invalid parameter", err)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	tests := []struct {
		name string
		key  string
		v    sdk.Value
		err  string
	}{
		{"value too large", `K`, sdk.BinaryValue("b", make([]byte, MaxValueSize+1)), "1048577 bytes, the limit is 1048576"},
		{"value at the limit", `K`, sdk.BinaryValue("b", make([]byte, MaxValueSize)), ""},
		{"value name too long", `K`, sdk.DWordValue(strings.Repeat("n", MaxValueNameLen+1), 1), "16384 bytes, the limit is 16383"},
		{"value name control char", `K`, sdk.DWordValue("a\nb", 1), "control character"},
		{"NUL in string", `K`, sdk.StringValue("s", "a\x00b"), "contains NUL"},
		{"bad UTF-8", `K`, sdk.StringValue("s", "\xff"), "not valid UTF-8"},
		{"empty multi-string element", `K`, sdk.MultiStringValue("m", "a", "", "b"), "element 1 is empty"},
		{"dword overflow", `K`, sdk.Value{Name: "d", Type: sdk.DWord, Num: 1 << 32}, "does not fit 32 bits"},
		{"unknown type", `K`, sdk.Value{Name: "x", Type: 5}, "unknown type"},
		{"key name too long", strings.Repeat("k", 256), sdk.DWordValue("d", 1), "256 characters"},
	}
	for _, tc := range tests {
		err := r.SetValue(ctx, tc.key, tc.v.Name, tc.v)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, sdk.ErrInvalidParameter) {
			t.Errorf("%s: error %v, want invalid parameter containing %q", tc.name, err, tc.err)
		}
	}
}

func TestPersistsAndLocks(t *testing.T) {
	ctx := context.Background()
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 50 * time.Millisecond
	file := filepath.Join(t.TempDir(), "reg", "registry.db")
	r, err := Open(file)
	must(t, err)
	must(t, r.SetValue(ctx, `SOFTWARE\Onyone`, "Port", sdk.DWordValue("", 7000)))
	if _, err := Open(file); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second Open = %v, want in use", err)
	}
	must(t, r.Close())
	if err := r.SetValue(ctx, `X`, "v", sdk.DWordValue("", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("SetValue after Close = %v", err)
	}
	r, err = Open(file)
	must(t, err)
	defer r.Close()
	v, err := r.GetValue(ctx, `SOFTWARE\Onyone`, "Port")
	if err != nil || v.Num != 7000 {
		t.Errorf("after reopen: %+v, %v", v, err)
	}
}

func TestSnapshotAndReplace(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	must(t, r.SetValue(ctx, `SOFTWARE\Onyone`, "Port", sdk.DWordValue("", 7000)))
	must(t, r.SetValue(ctx, `SOFTWARE\Onyone\Clients`, "Count", sdk.DWordValue("", 2)))
	must(t, r.SetValue(ctx, `SOFTWARE\Onyone2`, "Mode", sdk.StringValue("", "x")))

	tree, rev, err := r.Snapshot(ctx, `software\onyone`)
	must(t, err)
	if rev != r.Revision() || rev != 3 {
		t.Errorf("snapshot revision %d, registry revision %d, want 3", rev, r.Revision())
	}
	if keys, values := tree.Count(); keys != 2 || values != 2 || tree.Name != "Onyone" {
		t.Errorf("snapshot %q has %d keys, %d values", tree.Name, keys, values)
	}

	other := openTest(t)
	must(t, other.SetValue(ctx, `SOFTWARE\ONYONE\Stale`, "Old", sdk.DWordValue("", 1)))
	must(t, other.SetValue(ctx, `SOFTWARE\ONYONE`, "Port", sdk.DWordValue("", 1)))
	must(t, other.Replace(ctx, `SOFTWARE\ONYONE`, tree))
	got, _, err := other.Snapshot(ctx, `SOFTWARE\Onyone`)
	must(t, err)
	if !reflect.DeepEqual(got, tree) {
		t.Errorf("after Replace: %+v, want %+v", got, tree)
	}
	if _, err := other.SubKeys(ctx, `SOFTWARE\Onyone\Stale`); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Replace kept a stale subkey: %v", err)
	}
	must(t, other.Replace(ctx, `SOFTWARE\Onyone`, nil))
	if _, _, err := other.Snapshot(ctx, `SOFTWARE\Onyone`); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Replace(nil) left the key: %v", err)
	}
	must(t, other.Replace(ctx, `SOFTWARE\Onyone`, nil)) // missing: no error

	bad := &Key{Name: "Onyone", Values: []sdk.Value{sdk.DWordValue("b", 1), sdk.DWordValue("A", 1)}}
	if err := other.Replace(ctx, `SOFTWARE\Onyone`, bad); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Errorf("Replace with unsorted values = %v", err)
	}
	if err := other.Replace(ctx, `SOFTWARE\Other`, tree); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Errorf("Replace with another root name = %v", err)
	}
}

// TestReplaceIsAtomic checks that a concurrent snapshot never sees a mix of
// two trees being swapped in.
func TestReplaceIsAtomic(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	gen := func(n uint32) *Key {
		k := &Key{Name: "Gen", SubKeys: []*Key{{Name: "Sub"}}}
		for i := 0; i < 20; i++ {
			k.Values = append(k.Values, sdk.DWordValue(fmt.Sprintf("v%02d", i), n))
			k.SubKeys[0].Values = append(k.SubKeys[0].Values, sdk.DWordValue(fmt.Sprintf("v%02d", i), n))
		}
		return k
	}
	must(t, r.Replace(ctx, `Gen`, gen(0)))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := uint32(1); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := r.Replace(ctx, `Gen`, gen(n)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 200; i++ {
		tree, _, err := r.Snapshot(ctx, `Gen`)
		must(t, err)
		want := tree.Values[0].Num
		for _, k := range []*Key{tree, tree.SubKeys[0]} {
			for _, v := range k.Values {
				if v.Num != want {
					t.Fatalf("snapshot mixes generations %d and %d", want, v.Num)
				}
			}
		}
	}
	close(stop)
	wg.Wait()
}

func TestSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := openTest(t)
	ch, err := r.Subscribe(ctx, `SOFTWARE\Onyone`)
	must(t, err)
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case <-ch:
			if !want {
				t.Errorf("%s: unexpected notification", what)
			}
		default:
			if want {
				t.Errorf("%s: no notification", what)
			}
		}
	}
	must(t, r.SetValue(ctx, `SOFTWARE\Onyone2`, "v", sdk.DWordValue("", 1)))
	expect("sibling with a common prefix", false)
	must(t, r.SetValue(ctx, `software\onyone\sub`, "v", sdk.DWordValue("", 1)))
	expect("write below", true)
	must(t, r.CreateKey(ctx, `SOFTWARE`))
	expect("creating an existing parent", false)
	must(t, r.DeleteKey(ctx, `SOFTWARE`))
	expect("deleting a parent", true)

	// A lagging receiver gets the newest revision only.
	for i := 0; i < 5; i++ {
		must(t, r.SetValue(ctx, `SOFTWARE\Onyone`, "v", sdk.DWordValue("", uint32(i))))
	}
	if got := <-ch; got != r.Revision() {
		t.Errorf("lagging receiver got revision %d, want the newest %d", got, r.Revision())
	}
	expect("after draining", false)

	cancel()
	for range ch { // closes when ctx ends
	}
	ch2, _ := r.Subscribe(context.Background(), `X`)
	r.Close()
	select {
	case _, ok := <-ch2:
		if ok {
			t.Error("channel still open after Close")
		}
	case <-time.After(10 * time.Second):
		t.Error("channel not closed by Close")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestConcurrentWritesShareCommits: concurrent writers share commits, and a
// failing write in a shared commit fails alone.
func TestConcurrentWritesShareCommits(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	ch, err := r.Subscribe(ctx, `Load`)
	must(t, err)
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := r.SetValue(ctx, fmt.Sprintf(`Load\W%d`, w), fmt.Sprintf("v%d", i), sdk.DWordValue("", uint32(i))); err != nil {
					t.Error(err)
				}
				if err := r.DeleteValue(ctx, `Load`, "missing"); !errors.Is(err, sdk.ErrNotFound) {
					t.Errorf("delete of a missing value in a shared commit: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	tree, rev, err := r.Snapshot(ctx, `Load`)
	must(t, err)
	if _, values := tree.Count(); values != writers*each {
		t.Errorf("%d values, want %d", values, writers*each)
	}
	if got := <-ch; got != rev {
		t.Errorf("last notification %d, snapshot revision %d", got, rev)
	}
	t.Logf("%d writes in %d commits", writers*each, rev)
}

// TestSnapshotJSONMatchesTree: the one-pass encoding equals the encoding of
// the snapshot tree, for every value type and awkward strings.
func TestSnapshotJSONMatchesTree(t *testing.T) {
	ctx := context.Background()
	r := openTest(t)
	odd := "tab\t quote\" back\\ <&> \u2028 é \x7f nl\n"
	values := []sdk.Value{
		sdk.StringValue(odd, odd), {Name: "x", Type: sdk.ExpandString, Str: "%P%"}, sdk.MultiStringValue("m", odd, "b"),
		sdk.DWordValue("d", 1<<31), sdk.QWordValue("q", 1<<63), sdk.BinaryValue("b", []byte{0, 255}), {Name: "n", Type: sdk.None}, sdk.MultiStringValue("e"),
	}
	for i, v := range values {
		if v.Name == odd {
			v.Name = "odd"
		}
		must(t, r.SetValue(ctx, fmt.Sprintf(`Root\Sub%d\%s`, i%3, "Leaf"), v.Name, v))
		must(t, r.SetValue(ctx, `Root`, v.Name, v))
	}
	must(t, r.CreateKey(ctx, `Root\Empty`))
	tree, _, err := r.Snapshot(ctx, `Root`)
	must(t, err)
	want, err := tree.MarshalJSON()
	must(t, err)
	got, _, err := r.SnapshotJSON(ctx, `root`, nil)
	must(t, err)
	if string(got) != string(want) {
		t.Errorf("SnapshotJSON:\n%s\nwant\n%s", got, want)
	}
	var back Key
	must(t, back.UnmarshalJSON(got))
	if !reflect.DeepEqual(&back, tree) {
		t.Errorf("decoded tree differs:\n%+v\n%+v", &back, tree)
	}
	if _, _, err := r.SnapshotJSON(ctx, `Nope`, nil); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
}
