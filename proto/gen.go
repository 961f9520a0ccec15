// Package proto holds mitai's protobuf definitions (proto/mitai/v1) and the
// command that regenerates their Go code.
//
// Regenerate with `go generate ./proto` after installing protoc (Debian:
// apt-get install protobuf-compiler); generate.sh installs the pinned Go
// plugins itself.
package proto

//go:generate bash generate.sh
