//go:build wasip1

// Command wasm is the hello resource type as a WASM module (kind "wasm"):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/hello.wasm ./examples/hello/wasm
package main

import (
	"github.com/resmon/resmon/examples/hello"
	"github.com/resmon/resmon/sdk/wasm"
)

func init() { wasm.Register(hello.Type{}) }

func main() {}
