package ledger

import (
	"slices"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Ledger is the in-memory ledger a coordinator replica holds: entries 1 to
// Len(), each chained to the one before. It is not safe for concurrent use:
// the FSM applies commands one at a time, and readers copy under the FSM's
// lock.
type Ledger struct {
	entries []*mitaiv1.AuditEntry
	head    [32]byte
}

// New returns an empty ledger.
func New() *Ledger { return &Ledger{} }

// Append makes e the next entry: it sets e.Index to Len()+1, e.PrevHash to
// the head hash (32 zero bytes for the first entry) and e.Hash to
// [EntryHash], stores e and returns it. It does not copy: the caller gives up
// e and must not change it (or the slices it holds) afterwards. Append does
// not check e.Signature; the FSM checks a node's signature before it
// proposes the entry, and [Verify] checks every signature later. e must not
// be nil.
func (l *Ledger) Append(e *mitaiv1.AuditEntry) *mitaiv1.AuditEntry {
	// One allocation for both hashes; the full slice expressions keep an
	// append to one from writing into the other.
	buf := make([]byte, 64)
	copy(buf, l.head[:])
	e.Index = uint64(len(l.entries)) + 1
	e.PrevHash = buf[:32:32]
	e.Hash = nil
	l.head = EntryHash(e)
	copy(buf[32:], l.head[:])
	e.Hash = buf[32:64:64]
	l.entries = append(l.entries, e)
	return e
}

// Len returns the number of entries, which is also the index of the last.
func (l *Ledger) Len() int { return len(l.entries) }

// Head returns the hash of the last entry, or 32 zero bytes if the ledger is
// empty. A verifier who knows the head can detect a truncated copy.
func (l *Ledger) Head() [32]byte { return l.head }

// Entry returns a copy of the entry at index (from 1), or false if there is
// none.
func (l *Ledger) Entry(index uint64) (*mitaiv1.AuditEntry, bool) {
	if index == 0 || index > uint64(len(l.entries)) {
		return nil, false
	}
	return proto.Clone(l.entries[index-1]).(*mitaiv1.AuditEntry), true
}

// Range returns copies of the entries with from <= index <= to, the range
// clamped to the entries there are; nil if there are none.
func (l *Ledger) Range(from, to uint64) []*mitaiv1.AuditEntry {
	from = max(from, 1)
	to = min(to, uint64(len(l.entries)))
	if from > to {
		return nil
	}
	out := make([]*mitaiv1.AuditEntry, 0, to-from+1)
	for _, e := range l.entries[from-1 : to] {
		out = append(out, proto.Clone(e).(*mitaiv1.AuditEntry))
	}
	return out
}

// Entries returns the entries in index order, sharing them with the ledger,
// for snapshots. Callers must not modify the slice or the entries. Entries
// are never changed once appended, so the returned slice stays valid and
// unchanged while the ledger grows.
func (l *Ledger) Entries() []*mitaiv1.AuditEntry {
	return l.entries[:len(l.entries):len(l.entries)]
}

// Restore rebuilds a ledger from a snapshot's entries, which must be a whole
// ledger and verify: VerifyRange(entries, 1, nil), without CA roots. A
// replica does not start from a tampered snapshot. It takes the entries
// without copying them. A failure is a [*BrokenError] naming the first bad
// entry.
func Restore(entries []*mitaiv1.AuditEntry) (*Ledger, error) {
	if len(entries) == 0 {
		return New(), nil
	}
	if err := VerifyRange(entries, 1, nil); err != nil {
		return nil, err
	}
	return &Ledger{
		entries: slices.Clone(entries),
		head:    [32]byte(entries[len(entries)-1].Hash),
	}, nil
}
