package he

import (
	"sync"
	"sync/atomic"
)

// limbParallelism is how many goroutines one ciphertext's per-limb work (the
// NTTs, products and sums of an encryption or a key-switch share) may use;
// 1 runs the limbs one after the other. It is a process-wide host setting,
// like crypto/kernel's variant: a host profile sets it (SetLimbParallelism),
// and it changes no result, only which core computes which limb.
var limbParallelism atomic.Int32

func init() { limbParallelism.Store(1) }

// MaxLimbParallelism bounds the setting.
const MaxLimbParallelism = 64

// SetLimbParallelism sets how many goroutines one ciphertext's limbs may use,
// n clamped to 1..MaxLimbParallelism. More than one pays only when there are
// more cores than ciphertexts in flight; `mitai bench tune` measures it.
func SetLimbParallelism(n int) {
	limbParallelism.Store(int32(max(1, min(n, MaxLimbParallelism))))
}

// LimbParallelism returns the current setting.
func LimbParallelism() int { return int(limbParallelism.Load()) }

// forEachLimb runs fn(i) for i in [0, n), on up to LimbParallelism
// goroutines (this one included). fn must touch only limb i.
func forEachLimb(n int, fn func(i int)) {
	par := min(LimbParallelism(), n)
	if par <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	work := func() {
		for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
			fn(i)
		}
	}
	for range par - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
