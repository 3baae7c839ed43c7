package registry_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/sdk"
)

func ExampleParsePath() {
	for _, s := range []string{`HKEY_LOCAL_MACHINE\SOFTWARE\Onyone`, `\Software\Onyone\`, `SOFTWARE\\Onyone`} {
		p, err := registry.ParsePath(s)
		fmt.Printf("%q %v\n", p, err)
	}
	// Output:
	// "SOFTWARE\\Onyone" <nil>
	// "Software\\Onyone" <nil>
	// "" checkpoint: invalid registry path: invalid parameter: "SOFTWARE\\\\Onyone" has an empty key name at position 2 (two backslashes in a row?)
}

func ExampleWriteReg() {
	keys := []registry.RegKey{{Path: `SOFTWARE\Microsoft\onyone`, Values: []registry.RegValue{
		{Value: sdk.StringValue("Server", `C:\Onyone "main"`)},
		{Value: sdk.DWordValue("Port", 7000)},
		{Value: sdk.MultiStringValue("Peers", "a", "b")},
	}}}
	registry.WriteReg(os.Stdout, keys, registry.UTF8)
	// Output:
	// Windows Registry Editor Version 5.00
	//
	// [HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\onyone]
	// "Server"="C:\\Onyone \"main\""
	// "Port"=dword:00001b58
	// "Peers"=hex(7):61,00,00,00,62,00,00,00,00,00
}

func ExampleRegistry_Subscribe() {
	dir, _ := os.MkdirTemp("", "registry-example")
	defer os.RemoveAll(dir)
	r, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	changes, _ := r.Subscribe(ctx, `SOFTWARE\Onyone`)
	r.SetValue(ctx, `SOFTWARE\Onyone\Clients`, "Count", sdk.DWordValue("", 2))
	rev := <-changes
	tree, at, _ := r.Snapshot(ctx, `software\onyone`) // reflects every write up to rev
	keys, values := tree.Count()
	fmt.Println(tree.Name, keys, values, at >= rev)
	// Output: Onyone 2 1 true
}
