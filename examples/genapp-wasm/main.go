//go:build wasip1

// Command genapp-wasm is the Generic Application resource type built as a
// WASM module (kind "wasm"). The host starts the application from the
// type's allowed commands:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/genapp.wasm ./examples/genapp-wasm
package main

import (
	"github.com/resmon/resmon/examples/genapp"
	"github.com/resmon/resmon/sdk/wasm"
)

func init() { wasm.Register(genapp.Type{}) }

func main() {}
