//go:build amd64 && !purego

package kernel

import (
	"runtime"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestShoupCacheFollowsRing checks that the IFMA NTT's twiddle tables are
// cached per SubRing and dropped once the SubRing is gone.
func TestShoupCacheFollowsRing(t *testing.T) {
	entries := func() int {
		n := 0
		tableCache.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	before := entries()
	func() {
		g := ring.NewNTTFriendlyPrimesGenerator(45, 2<<10)
		q, err := g.NextDownstreamPrime()
		if err != nil {
			t.Fatal(err)
		}
		r, err := ring.NewRing(1<<10, []uint64{q})
		if err != nil {
			t.Fatal(err)
		}
		s := r.SubRings[0]
		p := make([]uint64, s.N)
		nttAVX512(p, p, s.N, s.Modulus, s.MRedConstant, s.BRedConstant[0], s.RootsForward)
		nttAVX512(p, p, s.N, s.Modulus, s.MRedConstant, s.BRedConstant[0], s.RootsForward)
		inttAVX512(p, p, s.N, s.Modulus, s.MRedConstant, s.NInv, s.RootsBackward)
		if got := entries(); got < before+2 {
			t.Fatalf("%d cache entries after NTT and INTT of a new ring, want at least %d", got, before+2)
		}
		runtime.KeepAlive(s)
	}()
	for range 100 {
		runtime.GC()
		if entries() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d cache entries remain after the ring was collected, want %d", entries(), before)
}
