package wasm_test

import (
	"context"
	"testing"

	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
)

// TestGoGuestSharesItsData: a Go guest's data segments (about a megabyte
// of type data and pclntab) become the shared initial memory image, and
// its instances still work (every other test of this package runs them).
func TestGoGuestSharesItsData(t *testing.T) {
	d := newDriver(t, pluginstest.New())
	n, err := wasm.SharedImageBytes(context.Background(), d, typeSpec("testtype", goGuest(t, guestTestType)))
	if err != nil {
		t.Fatal(err)
	}
	if n < 512<<10 {
		t.Fatalf("the Go guest shares an image of %d bytes; want its data segments (most of a megabyte)", n)
	}
	t.Logf("the Go test type's instances share %d KiB of initial memory", n>>10)
}
