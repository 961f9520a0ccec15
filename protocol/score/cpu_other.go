//go:build !linux

package score

import "time"

var epoch = time.Now()

// threadCPU falls back to wall time where the thread CPU clock is not wired.
func threadCPU() time.Duration { return time.Since(epoch) }
