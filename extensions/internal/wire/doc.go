// Package wire is the generated protobuf and gRPC code of the bizpack
// protocol (extensions/proto/bizpack.proto). Only extensions/plugin uses
// it; bizpack authors never see it.
package wire

//go:generate protoc -I ../../proto --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative bizpack.proto
