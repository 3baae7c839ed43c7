//go:build wasip1

// Command testtype-wasm is testutil/testtype built as a WASM resource type:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o testtype.wasm ./testutil/testtype/cmd/testtype-wasm
package main

import (
	"github.com/resmon/resmon/sdk/wasm"
	"github.com/resmon/resmon/testutil/testtype"
)

func init() { wasm.Register(testtype.Type{}) }

func main() {}
