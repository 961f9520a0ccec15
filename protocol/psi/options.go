package psi

import (
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/mitai-dev/mitai/crypto/group"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Mode selects what the receiver learns.
type Mode int

// The modes of the protocol.
const (
	// Intersection: the keys in both sets.
	Intersection Mode = iota + 1
	// Cardinality: only the size of the intersection.
	Cardinality
	// Join: the keys in both sets and the sender's payload for each.
	Join
)

var modeNames = map[Mode]string{Intersection: "intersection", Cardinality: "cardinality", Join: "join"}

// String returns the mode's name as used in configuration and on the command line.
func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode parses "intersection", "cardinality" or "join".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if strings.EqualFold(s, name) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("psi: unknown mode %q (want intersection, cardinality or join)", s)
}

// ModeFromProto converts the wire enum.
func ModeFromProto(m mitaiv1.PsiMode) (Mode, error) {
	switch m {
	case mitaiv1.PsiMode_PSI_MODE_INTERSECTION:
		return Intersection, nil
	case mitaiv1.PsiMode_PSI_MODE_CARDINALITY:
		return Cardinality, nil
	case mitaiv1.PsiMode_PSI_MODE_JOIN:
		return Join, nil
	}
	return 0, fmt.Errorf("psi: unknown mode %v", m)
}

// Proto converts the mode to the wire enum.
func (m Mode) Proto() mitaiv1.PsiMode {
	switch m {
	case Intersection:
		return mitaiv1.PsiMode_PSI_MODE_INTERSECTION
	case Cardinality:
		return mitaiv1.PsiMode_PSI_MODE_CARDINALITY
	case Join:
		return mitaiv1.PsiMode_PSI_MODE_JOIN
	}
	return mitaiv1.PsiMode_PSI_MODE_UNSPECIFIED
}

// Limits on what a peer may announce; anything beyond them ends the task.
const (
	// DefaultBatchSize is the number of elements per batch message.
	DefaultBatchSize = 4096
	// MaxBatchSize bounds the batch size a peer may propose.
	MaxBatchSize = 1 << 16
	// MaxSetSize bounds the set size a peer may announce.
	MaxSetSize = 1<<31 - 1
	// MaxPayloadBytes bounds one row's payload in join mode.
	MaxPayloadBytes = 16 << 10
	// maxJobIDBytes keeps the hash-to-group tag within RFC 9380's 255 bytes.
	maxJobIDBytes = 200
	version       = 1
)

// Options configure one role. Both roles must pass the same JobID, Group,
// Mode, BothReceive and BatchSize; the hello exchange checks that they do.
type Options struct {
	// JobID identifies the job; it is bound into the hash-to-group domain
	// tag, so blinded values of two jobs cannot be correlated. Required.
	JobID string
	// Group is the group of the job; nil means group.DefaultName.
	Group group.Group
	// Mode selects what the receiver learns.
	Mode Mode
	// BothReceive makes the sender learn the result too: the intersection
	// (Intersection) or its size (Cardinality). Not allowed with Join.
	BothReceive bool
	// MinIntersection is this role's owner's minimum intersection size: the
	// receiver releases nothing below the larger of the two roles' minima.
	MinIntersection uint64
	// BatchSize is the most elements per message this role sends or
	// accepts; the two roles use the smaller of their two values, which
	// each learns from the other's hello. 0 means DefaultBatchSize. It is
	// a host setting (a tuning profile's psi_batch_size), not a term the
	// roles must agree on.
	BatchSize int
	// IdleTimeout bounds the wait for any one message from the peer (and for
	// the peer to accept one); 0 means 2 minutes.
	IdleTimeout time.Duration
	// Workers is the number of goroutines for group operations; 0 means GOMAXPROCS.
	Workers int
	// Rand is the source of secret scalars and shuffles; nil means crypto/rand.
	Rand io.Reader
}

func (o Options) withDefaults() (Options, error) {
	if o.JobID == "" || len(o.JobID) > maxJobIDBytes {
		return o, fmt.Errorf("psi: job id must be 1 to %d bytes, got %d", maxJobIDBytes, len(o.JobID))
	}
	if _, ok := modeNames[o.Mode]; !ok {
		return o, fmt.Errorf("psi: mode not set")
	}
	if o.Mode == Join && o.BothReceive {
		return o, fmt.Errorf("psi: join delivers payloads to one receiver only; BothReceive is not allowed")
	}
	if o.Group == nil {
		g, err := group.ByName(group.DefaultName)
		if err != nil {
			return o, err
		}
		o.Group = g
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatchSize {
		return o, fmt.Errorf("psi: batch size %d outside 1..%d", o.BatchSize, MaxBatchSize)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return o, nil
}

// dst is the hash-to-group domain-separation tag of the job.
func (o Options) dst() []byte { return []byte("mitai/v1/psi/" + o.JobID) }

// Table is one party's input: n distinct keys, addressed by row index.
type Table interface {
	Len() int
	// Key returns row i's key; the protocol only reads it.
	Key(i int) []byte
}

// PayloadTable is a Table whose rows carry a payload: in join mode, the
// sender's columns that its policy lets the receiver see, already encoded.
type PayloadTable interface {
	Table
	// AppendPayload appends row i's payload to dst.
	AppendPayload(dst []byte, i int) []byte
}

// Result is what a role learned.
type Result struct {
	// LocalSize and PeerSize are the two set sizes (each role learns both).
	LocalSize, PeerSize int
	// SizeKnown reports whether this role learned the intersection size.
	SizeKnown bool
	// IntersectionSize is the size of the intersection, when SizeKnown.
	IntersectionSize int
	// Rows are this role's row indices in the intersection, ascending, when
	// this role learns the intersection (Intersection and Join).
	Rows []int
	// Payloads[k] is the sender's payload for Rows[k] (Join, receiver only).
	Payloads [][]byte
}

// digestSize is the number of bytes of SHA-256 compared: 12 bytes keep the
// false-match probability about n²/2^96, negligible below 2^30 rows a side.
func digestSize(n1, n2 int) int {
	if max(n1, n2) < 1<<30 {
		return 12
	}
	return 16
}

func batches(n, size int) int { return (n + size - 1) / size }
