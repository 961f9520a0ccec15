//go:build !amd64 || purego

package kernel

// archImpls returns no variant: on this architecture, or with the purego build
// tag, only the generic Go code is built.
func archImpls() []*Impl { return nil }
