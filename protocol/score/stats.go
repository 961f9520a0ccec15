package score

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Phase is a kind of work whose CPU time Stats reports.
type Phase int

// The phases.
const (
	// PhasePlain: reading the block, the partial log-odds, policy (clamping,
	// noise), building lookup tables.
	PhasePlain Phase = iota
	// PhaseEncode: packing values into plaintexts (FFT, NTT).
	PhaseEncode
	// PhaseEncrypt: public-key encryption.
	PhaseEncrypt
	// PhaseTransport: serializing, strictly decoding and hashing ciphertexts
	// and shares, and summing the contributions (the network copy itself is
	// the transport's; over Pipe it is free).
	PhaseTransport
	// PhaseEvaluate: homomorphic evaluation (the encrypted sigmoid, the
	// band lookup).
	PhaseEvaluate
	// PhaseKeySwitch: key-switch shares (with smudging), their aggregation
	// and application.
	PhaseKeySwitch
	// PhaseDecrypt: rescaling, decryption and decoding (receiver).
	PhaseDecrypt
	numPhases
)

var phaseNames = [numPhases]string{"plain", "encode", "encrypt", "transport", "evaluate", "keyswitch", "decrypt"}

func (p Phase) String() string { return phaseNames[p] }

// Stats are one party's measurements of one run.
type Stats struct {
	Party  string
	Rows   int
	Blocks int
	// Ciphertexts this party encrypted.
	Ciphertexts int
	// CPU is the CPU time per phase, measured with the thread CPU clock
	// around each piece of work (on Linux; elsewhere wall time of the work).
	CPU [numPhases]time.Duration
	// Wall is the run's wall time.
	Wall time.Duration
	// BytesSent and BytesReceived are this party's payload bytes.
	BytesSent, BytesReceived uint64

	mu sync.Mutex
}

// TotalCPU is the sum over phases.
func (s *Stats) TotalCPU() time.Duration {
	var t time.Duration
	for _, d := range s.CPU {
		t += d
	}
	return t
}

func (s *Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d rows, %d blocks, wall %v, CPU %v (", s.Party, s.Rows, s.Blocks, s.Wall.Round(time.Millisecond), s.TotalCPU().Round(time.Millisecond))
	for p, d := range s.CPU {
		if d > 0 {
			fmt.Fprintf(&b, " %s %v", Phase(p), d.Round(time.Millisecond))
		}
	}
	fmt.Fprintf(&b, " ), sent %d B, received %d B", s.BytesSent, s.BytesReceived)
	return b.String()
}

// timer measures the CPU time of work done on one goroutine, which it locks
// to its OS thread so that the thread's CPU clock is the goroutine's.
type timer struct {
	stats *Stats
	local [numPhases]time.Duration
}

func newTimer(s *Stats) *timer {
	runtime.LockOSThread()
	return &timer{stats: s}
}

// do runs fn and charges its CPU time to phase.
func (t *timer) do(p Phase, fn func()) {
	start := threadCPU()
	fn()
	t.local[p] += threadCPU() - start
}

// doErr is do for work that fails.
func (t *timer) doErr(p Phase, fn func() error) error {
	var err error
	t.do(p, func() { err = fn() })
	return err
}

// done adds the timer's totals to the stats and unlocks the thread.
func (t *timer) done() {
	t.stats.mu.Lock()
	for p, d := range t.local {
		t.stats.CPU[p] += d
	}
	t.stats.mu.Unlock()
	runtime.UnlockOSThread()
}
