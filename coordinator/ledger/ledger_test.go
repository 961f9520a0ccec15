package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

func TestEmptyLedger(t *testing.T) {
	t.Parallel()
	l := New()
	if l.Len() != 0 || l.Head() != [32]byte{} || len(l.Entries()) != 0 {
		t.Fatalf("empty ledger: len %d head %x", l.Len(), l.Head())
	}
	if _, ok := l.Entry(1); ok {
		t.Error("Entry(1) of an empty ledger")
	}
	if r := l.Range(0, math.MaxUint64); r != nil {
		t.Errorf("Range of an empty ledger = %v", r)
	}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	l := New()
	for i := 1; i <= 5; i++ {
		// Whatever the caller put in index, prev_hash and hash is replaced.
		e := &mitaiv1.AuditEntry{Index: 99, PrevHash: []byte("x"), Hash: []byte("y"), Kind: "job.submitted", Detail: detail(i)}
		prev := l.Head()
		got := l.Append(e)
		if got != e {
			t.Fatal("Append did not return its argument")
		}
		if e.Index != uint64(i) || !bytes.Equal(e.PrevHash, prev[:]) {
			t.Fatalf("entry %d: index %d, prev_hash %x, want %x", i, e.Index, e.PrevHash, prev)
		}
		if h := EntryHash(e); !bytes.Equal(e.Hash, h[:]) || l.Head() != h {
			t.Fatalf("entry %d: hash %x, head %x, want %x", i, e.Hash, l.Head(), h)
		}
		if l.Len() != i {
			t.Fatalf("Len = %d after %d appends", l.Len(), i)
		}
	}
	if first := l.Entries()[0]; !bytes.Equal(first.PrevHash, make([]byte, 32)) {
		t.Errorf("first prev_hash %x, want zero", first.PrevHash)
	}
	if err := VerifyRange(l.Entries(), 1, nil); err != nil {
		t.Fatal(err)
	}
	// The two hashes share one allocation; neither may grow into the other.
	e := l.Entries()[2]
	if cap(e.PrevHash) != 32 || cap(e.Hash) != 32 {
		t.Errorf("cap(prev_hash) %d, cap(hash) %d, want 32", cap(e.PrevHash), cap(e.Hash))
	}
}

func TestEntry(t *testing.T) {
	t.Parallel()
	l := buildChain(t, 5, newTestCA(t, "ca").issue(t, "bank"))
	tests := []struct {
		index uint64
		ok    bool
	}{{0, false}, {1, true}, {3, true}, {5, true}, {6, false}, {math.MaxUint64, false}}
	for _, tt := range tests {
		e, ok := l.Entry(tt.index)
		if ok != tt.ok {
			t.Errorf("Entry(%d) ok = %v", tt.index, ok)
			continue
		}
		if !ok {
			continue
		}
		if e.Index != tt.index || !proto.Equal(e, l.Entries()[tt.index-1]) {
			t.Errorf("Entry(%d) = entry %d", tt.index, e.Index)
		}
		// A copy: changing it leaves the ledger alone.
		e.Kind = "changed"
		if err := Verify(l.Entries(), nil); err != nil {
			t.Errorf("changing Entry(%d)'s result changed the ledger: %v", tt.index, err)
		}
	}
}

func TestRange(t *testing.T) {
	t.Parallel()
	l := buildChain(t, 10, newTestCA(t, "ca").issue(t, "bank"))
	tests := []struct {
		from, to    uint64
		first, last uint64 // 0, 0: empty
	}{
		{1, 10, 1, 10},
		{0, math.MaxUint64, 1, 10},
		{3, 3, 3, 3},
		{4, 7, 4, 7},
		{8, 100, 8, 10},
		{0, 0, 0, 0},
		{11, 20, 0, 0},
		{7, 6, 0, 0},
		{math.MaxUint64, math.MaxUint64, 0, 0},
	}
	for _, tt := range tests {
		got := l.Range(tt.from, tt.to)
		if tt.first == 0 {
			if len(got) != 0 {
				t.Errorf("Range(%d, %d) has %d entries, want none", tt.from, tt.to, len(got))
			}
			continue
		}
		if uint64(len(got)) != tt.last-tt.first+1 || got[0].Index != tt.first || got[len(got)-1].Index != tt.last {
			t.Errorf("Range(%d, %d): %d entries from %d, want %d..%d", tt.from, tt.to, len(got), got[0].Index, tt.first, tt.last)
			continue
		}
		if err := Verify(got, nil); err != nil {
			t.Errorf("Range(%d, %d) does not verify: %v", tt.from, tt.to, err)
		}
		got[0].Detail = []byte("changed")
	}
	if err := VerifyRange(l.Entries(), 1, nil); err != nil {
		t.Errorf("changing Range's result changed the ledger: %v", err)
	}
}

func TestEntriesIsReadOnlyView(t *testing.T) {
	t.Parallel()
	l := buildChain(t, 4, newTestCA(t, "ca").issue(t, "bank"))
	snap := l.Entries()
	if len(snap) != 4 || cap(snap) != 4 {
		t.Fatalf("Entries: len %d cap %d", len(snap), cap(snap))
	}
	// A caller's append must not write into the ledger's backing array,
	// and the ledger's later appends must not show in an earlier view.
	_ = append(snap, &mitaiv1.AuditEntry{Kind: "intruder"})
	l.Append(&mitaiv1.AuditEntry{Kind: "job.submitted"})
	if l.Len() != 5 || l.Entries()[4].Kind != "job.submitted" || len(snap) != 4 {
		t.Fatal("Entries shares its spare capacity")
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	node := newTestCA(t, "ca").issue(t, "bank")
	orig := buildChain(t, 50, node)

	// Round trip through a snapshot, as the FSM does.
	b, err := proto.Marshal(&mitaiv1.CoordinatorSnapshot{Ledger: orig.Entries()})
	if err != nil {
		t.Fatal(err)
	}
	var snap mitaiv1.CoordinatorSnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	got, err := Restore(snap.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 50 || got.Head() != orig.Head() {
		t.Fatalf("restored: len %d head %x, want 50 %x", got.Len(), got.Head(), orig.Head())
	}
	// Both go on identically.
	a := orig.Append(&mitaiv1.AuditEntry{Kind: "job.cancelled", Detail: []byte{1}})
	c := got.Append(&mitaiv1.AuditEntry{Kind: "job.cancelled", Detail: []byte{1}})
	if !proto.Equal(a, c) || orig.Head() != got.Head() {
		t.Fatal("restored ledger diverged on the next append")
	}
	if empty, err := Restore(nil); err != nil || empty.Len() != 0 || empty.Head() != [32]byte{} {
		t.Fatalf("Restore(nil) = %v, %v", empty, err)
	}
}

func TestRestoreTampered(t *testing.T) {
	t.Parallel()
	orig := buildChain(t, 20, newTestCA(t, "ca").issue(t, "bank")).Entries()
	tests := []struct {
		name   string
		tamper func([]*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry
		index  uint64
	}{
		{"actor of entry 4", func(es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry { es[3].Actor = "mallory"; return es }, 4},
		{"first entry dropped", func(es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry { return es[1:] }, 1},
		{"first entry dropped, chain rewritten", func(es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
			es = es[1:]
			for i, e := range es {
				e.Index = uint64(i + 1)
			}
			es[0].PrevHash = make([]byte, 32)
			rechain(es, 0)
			// Now a valid chain of 19 entries: Restore must accept it.
			return es
		}, 0},
		{"entry 13 missing", func(es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry { return append(es[:12], es[13:]...) }, 13},
		{"signature of entry 8 forged, chain rewritten", func(es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
			es[7].Signature[len(es[7].Signature)-1] ^= 1
			rechain(es, 7)
			return es
		}, 8},
		{"nil entry", func(es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry { es[5] = nil; return es }, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Restore(tt.tamper(cloneAll(orig)))
			if tt.index == 0 {
				if err != nil {
					t.Fatalf("a consistent rewritten chain is a valid ledger: %v", err)
				}
				return
			}
			var be *BrokenError
			if !errors.As(err, &be) || be.Index != tt.index {
				t.Fatalf("Restore: %v, want entry %d broken", err, tt.index)
			}
		})
	}
}

// TestEncodingVector pins the canonical encoding: the expected bytes are
// spelled out here, field by field, independently of hash.go.
func TestEncodingVector(t *testing.T) {
	t.Parallel()
	e := &mitaiv1.AuditEntry{
		Index:      7,
		TimeUnixMs: -2, // two's complement
		Kind:       "task.outcome",
		Actor:      "bank",
		Subject:    "job-1/t3",
		Detail:     []byte{0x01, 0x02, 0x03},
		PrevHash:   bytes.Repeat([]byte{0xaa}, 32),
		Hash:       []byte("ignored"),
		SignerCert: []byte{0xc0},
		Signature:  []byte{0x5a, 0x5b},
	}
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	entry := bytes.Join([][]byte{
		h("0000000000000014"), []byte("mitai/v1/audit-entry"),
		h("0000000000000007"),
		h("fffffffffffffffe"),
		h("000000000000000c"), []byte("task.outcome"),
		h("0000000000000004"), []byte("bank"),
		h("0000000000000008"), []byte("job-1/t3"),
		h("0000000000000003"), h("010203"),
		h("0000000000000020"), bytes.Repeat([]byte{0xaa}, 32),
		h("0000000000000001"), h("c0"),
		h("0000000000000002"), h("5a5b"),
	}, nil)
	content := bytes.Join([][]byte{
		h("0000000000000016"), []byte("mitai/v1/audit-content"),
		h("000000000000000c"), []byte("task.outcome"),
		h("0000000000000004"), []byte("bank"),
		h("0000000000000008"), []byte("job-1/t3"),
		h("0000000000000003"), h("010203"),
		h("0000000000000001"), h("c0"),
	}, nil)
	if got, want := EntryHash(e), sha256Sum(entry); got != want {
		t.Errorf("EntryHash = %x, want %x", got, want)
	}
	if got, want := ContentDigest(e), sha256Sum(content); got != want {
		t.Errorf("ContentDigest = %x, want %x", got, want)
	}
	// And the value itself, checked with Python's hashlib, so that a change
	// to both this test and hash.go shows up in review.
	const pinned = "dba27274b156b07463247c3e344de2a2e554428086e763efc3396ee071dce19d"
	if got := EntryHash(e); hex.EncodeToString(got[:]) != pinned {
		t.Errorf("EntryHash = %x, pinned %s", got, pinned)
	}
}

// TestHashCoverage checks which fields each hash covers, and that moving
// bytes from one field to the next changes the hash.
func TestHashCoverage(t *testing.T) {
	t.Parallel()
	base := func() *mitaiv1.AuditEntry {
		return &mitaiv1.AuditEntry{
			Index: 3, TimeUnixMs: 1700000000000, Kind: "task.outcome", Actor: "bank", Subject: "job-1",
			Detail: []byte("detail"), PrevHash: bytes.Repeat([]byte{1}, 32), Hash: bytes.Repeat([]byte{2}, 32),
			SignerCert: []byte("cert"), Signature: []byte("sig"),
		}
	}
	tests := []struct {
		name           string
		change         func(*mitaiv1.AuditEntry)
		entry, content bool // whether EntryHash, ContentDigest change
	}{
		{"index", func(e *mitaiv1.AuditEntry) { e.Index++ }, true, false},
		{"time", func(e *mitaiv1.AuditEntry) { e.TimeUnixMs++ }, true, false},
		{"kind", func(e *mitaiv1.AuditEntry) { e.Kind = "task.outcomE" }, true, true},
		{"actor", func(e *mitaiv1.AuditEntry) { e.Actor = "" }, true, true},
		{"subject", func(e *mitaiv1.AuditEntry) { e.Subject = "job-2" }, true, true},
		{"detail", func(e *mitaiv1.AuditEntry) { e.Detail = nil }, true, true},
		{"prev_hash", func(e *mitaiv1.AuditEntry) { e.PrevHash[31] ^= 1 }, true, false},
		{"hash", func(e *mitaiv1.AuditEntry) { e.Hash = nil }, false, false},
		{"signer_cert", func(e *mitaiv1.AuditEntry) { e.SignerCert = []byte("cerT") }, true, true},
		{"signature", func(e *mitaiv1.AuditEntry) { e.Signature = nil }, true, false},
		{"kind/actor boundary", func(e *mitaiv1.AuditEntry) { e.Kind, e.Actor = "task.outcomeb", "ank" }, true, true},
		{"subject/detail boundary", func(e *mitaiv1.AuditEntry) { e.Subject, e.Detail = "job-1d", []byte("etail") }, true, true},
	}
	b := base()
	entry0, content0 := EntryHash(b), ContentDigest(b)
	for _, tt := range tests {
		e := base()
		tt.change(e)
		if got := EntryHash(e) != entry0; got != tt.entry {
			t.Errorf("%s: EntryHash changed = %v, want %v", tt.name, got, tt.entry)
		}
		if got := ContentDigest(e) != content0; got != tt.content {
			t.Errorf("%s: ContentDigest changed = %v, want %v", tt.name, got, tt.content)
		}
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	node := ca.issue(t, "bank")
	other := ca.issue(t, "telco")

	e := &mitaiv1.AuditEntry{Kind: "task.outcome", Actor: "bank", Subject: "t-1", Detail: []byte("42 rows")}
	if err := Sign(e, node.der, node.key); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.SignerCert, node.der) || len(e.Signature) == 0 {
		t.Fatal("Sign did not set signer_cert and signature")
	}
	// The leader places it afterwards; the signature still verifies.
	l := New()
	l.Append(&mitaiv1.AuditEntry{Kind: "job.submitted"})
	e.TimeUnixMs = l.Entries()[0].TimeUnixMs + 5
	l.Append(e)
	if err := VerifyRange(l.Entries(), 1, ca.pool); err == nil {
		// time 5 ms after 1970 is outside the certificate's validity
		t.Fatal("a certificate was accepted at a time it was not valid")
	}
	if err := VerifyRange(l.Entries(), 1, nil); err != nil {
		t.Fatal(err)
	}

	failures := []struct {
		name string
		der  []byte
		key  testNode
	}{
		{"key of another certificate", node.der, other},
		{"garbage certificate", []byte("not DER"), node},
		{"no certificate", nil, node},
	}
	for _, tt := range failures {
		e := &mitaiv1.AuditEntry{Kind: "task.outcome", Actor: "bank"}
		if err := Sign(e, tt.der, tt.key.key); err == nil {
			t.Errorf("%s: Sign succeeded", tt.name)
		} else if e.SignerCert != nil || e.Signature != nil {
			t.Errorf("%s: Sign failed (%v) but changed the entry", tt.name, err)
		}
	}
	if err := Sign(&mitaiv1.AuditEntry{}, node.der, nil); err == nil {
		t.Error("Sign with a nil key succeeded")
	}
	if err := Sign(nil, node.der, node.key); err == nil {
		t.Error("Sign of a nil entry succeeded")
	}
}

// BenchmarkAppend measures appending an entry with a 300-byte detail. The
// ledger starts afresh every 1<<16 entries, so that the figure is the cost
// of an append and not of collecting garbage in an ever larger heap.
func BenchmarkAppend(b *testing.B) {
	d := make([]byte, 300)
	if _, err := rand.Read(d); err != nil {
		b.Fatal(err)
	}
	l := New()
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	n := 0
	for b.Loop() {
		if l.Len() == 1<<16 {
			l = New()
		}
		l.Append(&mitaiv1.AuditEntry{
			TimeUnixMs: 1700000000000, Kind: "task.outcome", Actor: "bank", Subject: "job-0123/task-0042", Detail: d,
		})
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkEntryHash measures EntryHash alone for an entry with a 300-byte
// detail.
func BenchmarkEntryHash(b *testing.B) {
	e := &mitaiv1.AuditEntry{
		Index: 1 << 20, TimeUnixMs: 1700000000000, Kind: "task.outcome", Actor: "bank", Subject: "job-0123/task-0042",
		Detail: make([]byte, 300), PrevHash: make([]byte, 32),
	}
	b.ReportAllocs()
	b.SetBytes(300)
	for b.Loop() {
		_ = EntryHash(e)
	}
}

// BenchmarkVerify measures verifying a chain of unsigned entries with a
// 300-byte detail, per entry.
func BenchmarkVerify(b *testing.B) {
	d := make([]byte, 300)
	l := New()
	for range 1000 {
		l.Append(&mitaiv1.AuditEntry{TimeUnixMs: 1700000000000, Kind: "task.assigned", Subject: "job-0123/task-0042", Detail: d})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyRange(l.Entries(), 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/entry")
}
