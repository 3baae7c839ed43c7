// Package pluginproto is the one place of the go-plugin wire contract: the
// gRPC services (resmon.proto and the code generated from it), the
// handshake constants, and the converter between the wire messages and the
// sdk's plain Go types. Both sides import it: sdk/plugin (inside the plugin
// executable) and plugins/goplugin (inside clusterd).
//
// The generated files are committed; regenerating needs protoc and the two
// Go generators at the versions that produced them:
//
//	apt-get install -y protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	go generate ./internal/pluginproto
package pluginproto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative resmon.proto
