//go:build amd64 && !purego

package kernel

// archImpls returns the assembly variants built for amd64, in increasing
// order of preference. Each one reports from golang.org/x/sys/cpu whether this
// CPU can run it.
func archImpls() []*Impl {
	return nil
}
