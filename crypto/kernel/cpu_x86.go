//go:build amd64 || 386

package kernel

import "golang.org/x/sys/cpu"

// CPUFeatures returns the CPU features, as golang.org/x/sys/cpu reports them,
// that decide which variants can run here (for reports and the tuner).
func CPUFeatures() []string {
	var fs []string
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"avx2", cpu.X86.HasAVX2},
		{"bmi2", cpu.X86.HasBMI2},
		{"avx512f", cpu.X86.HasAVX512F},
		{"avx512dq", cpu.X86.HasAVX512DQ},
		{"avx512vl", cpu.X86.HasAVX512VL},
		{"avx512ifma", cpu.X86.HasAVX512IFMA},
	} {
		if f.has {
			fs = append(fs, f.name)
		}
	}
	return fs
}
