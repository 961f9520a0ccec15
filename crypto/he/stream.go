package he

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"runtime"

	"golang.org/x/sys/cpu"
)

// stream is the secret randomness of the package's samplers, keyed from
// crypto/rand: AES-256 in counter mode where the CPU has AES instructions
// (6.3-6.5 GB/s on this project's EPYC, 3.8 times ChaCha8; `go test -bench
// Stream ./crypto/he` compares them), ChaCha8 (math/rand/v2) elsewhere,
// where software AES would be slow and not constant-time. Both are
// cryptographically strong generators; a stream is not safe for concurrent
// use. It is a math/rand/v2 Source.
type stream struct {
	ctr  cipher.Stream  // AES-CTR, or nil
	cc   *mrand.ChaCha8 // when ctr is nil
	buf  [512]uint64    // unread words are buf[pos:]
	pos  int
	name string
}

// hardwareAES reports whether this CPU encrypts AES in hardware.
var hardwareAES = (runtime.GOARCH == "amd64" && cpu.X86.HasAES) ||
	(runtime.GOARCH == "arm64" && cpu.ARM64.HasAES) || (runtime.GOARCH == "s390x" && cpu.S390X.HasAES)

// newStream returns a stream keyed from crypto/rand, AES-CTR if aes (and
// the CPU has it), ChaCha8 otherwise.
func newStream(aesCTR bool) (*stream, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("he: seed a sampler: %w", err)
	}
	s := &stream{pos: len(stream{}.buf)}
	if aesCTR && hardwareAES {
		block, err := aes.NewCipher(key[:])
		if err != nil {
			return nil, err
		}
		s.ctr, s.name = cipher.NewCTR(block, make([]byte, aes.BlockSize)), "aes-256-ctr"
	} else {
		s.cc, s.name = mrand.NewChaCha8(key), "chacha8"
	}
	clear(key[:])
	return s, nil
}

// fill sets every word of dst to fresh random bits.
func (s *stream) fill(dst []uint64) {
	if s.ctr == nil {
		for i := range dst {
			dst[i] = s.cc.Uint64()
		}
		return
	}
	b := rowBytes(dst) // any byte order: the bits are uniform
	clear(b)
	s.ctr.XORKeyStream(b, b)
}

// Uint64 returns 64 fresh random bits.
func (s *stream) Uint64() uint64 {
	if s.ctr == nil {
		return s.cc.Uint64()
	}
	if s.pos == len(s.buf) {
		s.fill(s.buf[:])
		s.pos = 0
	}
	x := s.buf[s.pos]
	s.pos++
	return x
}
