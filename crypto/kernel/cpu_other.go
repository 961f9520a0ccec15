//go:build !amd64 && !386

package kernel

// CPUFeatures returns the CPU features that decide which variants can run
// here: none outside x86, where only the generic variant exists.
func CPUFeatures() []string { return nil }
