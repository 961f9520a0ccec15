package psi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/crypto/group"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// partyNames returns k party names; the first is the hub.
func partyNames(k int) []string {
	names := make([]string, k)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
	}
	return names
}

// alignSets gives every party each key of a universe of n keys with
// probability p, in a shuffled order. Keys vary in length, some are
// prefixes of others, some hold zero and 0xff bytes.
func alignSets(seed uint64, names []string, n int, p float64) map[string]*memTable {
	r := rand.New(rand.NewPCG(seed, 2))
	universe := make([][]byte, n)
	for i := range universe {
		universe[i] = fmt.Appendf(nil, "cust-%d", i)
		if i%7 == 3 {
			universe[i] = []byte{0, byte(i), byte(i >> 8), 0xff}
		}
	}
	tables := map[string]*memTable{}
	for _, name := range names {
		t := &memTable{}
		for _, k := range universe {
			if r.Float64() < p {
				t.keys = append(t.keys, k)
			}
		}
		r.Shuffle(len(t.keys), func(i, j int) { t.keys[i], t.keys[j] = t.keys[j], t.keys[i] })
		tables[name] = t
	}
	return tables
}

// plainIntersection is the sorted intersection of the tables.
func plainIntersection(tables ...*memTable) [][]byte {
	count := map[string]int{}
	for _, t := range tables {
		for _, k := range t.keys {
			count[string(k)]++
		}
	}
	var out [][]byte
	for k, c := range count {
		if c == len(tables) {
			out = append(out, []byte(k))
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// tapConn is a spoke's end of its connection with faults injected.
type tapConn struct {
	end *protocol.PipeEnd
	// in rewrites what the spoke receives.
	in func(msg []byte) []byte
	// out rewrites what the spoke sends; a nil result drops the message.
	out func(msg []byte) []byte
	// cut closes the connection when the spoke is about to receive msg.
	cut func(msg []byte) bool
}

func (c *tapConn) Send(ctx context.Context, msg []byte) error {
	if c.out != nil {
		if msg = c.out(msg); msg == nil {
			return nil
		}
	}
	return c.end.Send(ctx, msg)
}

func (c *tapConn) Recv(ctx context.Context) ([]byte, error) {
	msg, err := c.end.Recv(ctx)
	if err != nil {
		return nil, err
	}
	if c.cut != nil && c.cut(msg) {
		c.end.Close()
		return nil, protocol.ErrClosed
	}
	if c.in != nil {
		msg = c.in(slices.Clone(msg))
	}
	return msg, nil
}

type alignOut struct {
	res *AlignResult
	err error
}

// alignJob is one alignment run over pipes; names[0] is the hub.
type alignJob struct {
	names  []string
	tables map[string]*memTable
	opts   map[string]AlignOptions // by party; missing: base
	base   AlignOptions
	// tap, if set, wraps the named spoke's end.
	tap func(spoke string, end *protocol.PipeEnd) protocol.Conn
}

// run runs every party and returns what each ended with. Every role must
// end by itself, well within the test's deadline.
func (j alignJob) run(t testing.TB) map[string]alignOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if j.base.JobID == "" {
		j.base.JobID = "align-job"
	}
	if j.base.Parties == nil {
		j.base.Parties = j.names
		j.base.Hub = j.names[0]
	}
	optsOf := func(p string) AlignOptions {
		if o, ok := j.opts[p]; ok {
			return o
		}
		return j.base
	}
	var mu sync.Mutex
	outs := map[string]alignOut{}
	record := func(p string, res *AlignResult, err error) {
		mu.Lock()
		outs[p] = alignOut{res, err}
		mu.Unlock()
	}
	hub := j.names[0]
	conns := map[string]protocol.Conn{}
	var hubEnds []*protocol.PipeEnd
	var wg sync.WaitGroup
	for _, s := range j.names[1:] {
		he, se := protocol.Pipe()
		conns[s] = he
		hubEnds = append(hubEnds, he)
		var c protocol.Conn = se
		if j.tap != nil {
			c = j.tap(s, se)
		}
		wg.Go(func() {
			res, err := RunAlignSpoke(ctx, s, c, j.tables[s], optsOf(s))
			se.Close()
			record(s, res, err)
		})
	}
	wg.Go(func() {
		res, err := RunAlignHub(ctx, hub, conns, j.tables[hub], optsOf(hub))
		for _, e := range hubEnds {
			e.Close()
		}
		record(hub, res, err)
	})
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the alignment ended only by the test deadline")
	}
	return outs
}

// allFail checks that every party failed and none holds a result.
func allFail(t *testing.T, outs map[string]alignOut) {
	t.Helper()
	for p, o := range outs {
		if o.err == nil || o.res != nil {
			t.Errorf("%s: result %v, error %v; want no result and an error", p, o.res != nil, o.err)
		}
	}
}

func TestAlign(t *testing.T) {
	t.Parallel()
	ristretto, err := group.ByName("ristretto255")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		k        int
		universe int
		p        float64
		batch    int
		g        group.Group
		empty    int  // index of a party with no keys, or -1
		mixed    bool // party i's batch size is batch·(3 - i%3)
	}{
		{"2 parties", 2, 400, 0.6, 64, nil, -1, false},
		{"3 parties", 3, 300, 0.7, 16, nil, -1, false},
		{"4 parties", 4, 300, 0.75, 7, nil, -1, false},
		{"4 parties ristretto255", 4, 120, 0.8, 32, ristretto, -1, false},
		{"16 parties", 16, 40, 0.95, 4, nil, -1, false},
		{"a spoke with no keys", 3, 100, 0.7, 16, nil, 2, false},
		{"a hub with no keys", 3, 100, 0.7, 16, nil, 0, false},
		{"one key per batch", 3, 60, 0.8, 1, nil, -1, false},
		{"batch sizes differ", 4, 300, 0.75, 5, nil, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			names := partyNames(tc.k)
			tables := alignSets(uint64(tc.k*1000+tc.universe), names, tc.universe, tc.p)
			if tc.empty >= 0 {
				tables[names[tc.empty]].keys = nil
			}
			var all []*memTable
			for _, n := range names {
				all = append(all, tables[n])
			}
			want := plainIntersection(all...)
			// Shuffled party lists: the order must not matter.
			base := AlignOptions{JobID: "job-7", Group: tc.g, Hub: names[0], BatchSize: tc.batch}
			opts := map[string]AlignOptions{}
			for i, n := range names {
				o := base
				o.Parties = slices.Clone(names)
				if tc.mixed {
					o.BatchSize = tc.batch * (3 - i%3)
				}
				rand.New(rand.NewPCG(uint64(i), 3)).Shuffle(len(names), func(a, b int) { o.Parties[a], o.Parties[b] = o.Parties[b], o.Parties[a] })
				opts[n] = o
			}
			outs := alignJob{names: names, tables: tables, opts: opts}.run(t)
			for _, n := range names {
				o := outs[n]
				if o.err != nil {
					t.Fatalf("%s: %v", n, o.err)
				}
				if !slices.EqualFunc(o.res.Keys, want, bytes.Equal) {
					t.Fatalf("%s: %d keys, want the %d of the plaintext intersection", n, len(o.res.Keys), len(want))
				}
				if o.res.LocalSize != len(tables[n].keys) {
					t.Fatalf("%s: local size %d, want %d", n, o.res.LocalSize, len(tables[n].keys))
				}
				if n != names[0] && o.res.Pairwise != nil {
					t.Fatalf("spoke %s learned pairwise sizes", n)
				}
			}
			pw := outs[names[0]].res.Pairwise
			if len(pw) != tc.k-1 {
				t.Fatalf("hub has %d pairwise sizes, want %d", len(pw), tc.k-1)
			}
			for _, s := range names[1:] {
				if want := len(plainIntersection(tables[names[0]], tables[s])); pw[s] != want {
					t.Fatalf("pairwise size with %s: %d, want %d", s, pw[s], want)
				}
			}
		})
	}
}

func TestAlignMinimum(t *testing.T) {
	t.Parallel()
	names := partyNames(4)
	tables := alignSets(11, names, 200, 0.7)
	var all []*memTable
	for _, n := range names {
		all = append(all, tables[n])
	}
	size := uint64(len(plainIntersection(all...)))
	pairC := uint64(len(plainIntersection(tables[names[0]], tables[names[2]])))
	if pairC <= size+1 {
		t.Fatalf("test sets: pairwise %d not above the k-way %d", pairC, size)
	}
	for _, tc := range []struct {
		name    string
		minimum map[string]uint64
		ok      bool
	}{
		{"at every minimum", map[string]uint64{names[0]: size, names[1]: size, names[3]: size}, true},
		{"below the hub's minimum", map[string]uint64{names[0]: size + 1}, false},
		{"below a spoke's minimum (k-way)", map[string]uint64{names[2]: size + 1}, false},
		{"below a spoke's minimum (its own pair)", map[string]uint64{names[2]: pairC + 1}, false},
		{"below another spoke's minimum (a pair)", map[string]uint64{names[3]: pairC + 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := map[string]AlignOptions{}
			for _, n := range names {
				opts[n] = AlignOptions{JobID: "j", Hub: names[0], Parties: names, BatchSize: 16, MinIntersection: tc.minimum[n]}
			}
			outs := alignJob{names: names, tables: tables, opts: opts}.run(t)
			for _, n := range names {
				o := outs[n]
				if tc.ok {
					if o.err != nil || uint64(len(o.res.Keys)) != size {
						t.Fatalf("%s: %v", n, o.err)
					}
					continue
				}
				if !errors.Is(o.err, ErrBelowMinimum) || o.res != nil {
					t.Fatalf("%s: want ErrBelowMinimum and no result, got %v", n, o.err)
				}
			}
		})
	}
}

// mapKeyBatch rewrites a list batch frame's keys; other frames pass.
func mapKeyBatch(msg []byte, fn func(index int, keys [][]byte) [][]byte) []byte {
	if len(msg) == 0 || msg[0] != kindAlignKeys {
		return msg
	}
	index, keys, err := decodeKeyBatch(msg[1:], MaxBatchSize)
	if err != nil {
		panic(err)
	}
	return keyBatchFrame(index, fn(index, keys))
}

// TestAlignHostileHub tampers with what one spoke receives from the hub:
// that spoke must reject the list without naming a key, the hub's run must
// end with an error naming the spoke, and nobody may return a list.
func TestAlignHostileHub(t *testing.T) {
	t.Parallel()
	names := partyNames(4)
	tables := alignSets(12, names, 200, 0.85)
	const victim = "p02"
	first := func(fn func(keys [][]byte) [][]byte) func([]byte) []byte {
		return func(msg []byte) []byte {
			return mapKeyBatch(msg, func(index int, keys [][]byte) [][]byte {
				if index == 0 {
					return fn(keys)
				}
				return keys
			})
		}
	}
	for _, tc := range []struct {
		name string
		in   func([]byte) []byte
		want string
	}{
		{"a key the spoke does not hold", first(func(keys [][]byte) [][]byte {
			// Just above keys[0]: still in order, held by nobody.
			keys[0] = append(slices.Clone(keys[0]), 0)
			return keys
		}), "not one of ours"},
		{"unsorted", first(func(keys [][]byte) [][]byte {
			keys[0], keys[1] = keys[1], keys[0]
			return keys
		}), "unsorted or duplicate"},
		{"duplicate", first(func(keys [][]byte) [][]byte {
			keys[1] = keys[0]
			return keys
		}), "unsorted or duplicate"},
		{"a key dropped", first(func(keys [][]byte) [][]byte { return keys[1:] }), "keys"},
		{"a batch out of order", func(msg []byte) []byte {
			if len(msg) > 1 && msg[0] == kindAlignKeys {
				binary.LittleEndian.PutUint32(msg[1:], 5)
			}
			return msg
		}, "where batch 0 was due"},
		{"more keys announced than the spoke holds", func(msg []byte) []byte {
			if len(msg) > 2 && msg[0] == kindAlignOutcome && msg[1] == outcomeReleased {
				binary.LittleEndian.PutUint64(msg[2:], 1<<40)
			}
			return msg
		}, "more than the smaller set"},
		{"garbage instead of a batch", func(msg []byte) []byte {
			if len(msg) > 0 && msg[0] == kindAlignKeys {
				return []byte{kindAlignKeys, 1, 2, 3}
			}
			return msg
		}, "shorter than its header"},
		{"a commit of another list", func(msg []byte) []byte {
			if len(msg) > 1 && msg[0] == kindAlignCommit {
				msg[1] ^= 1
			}
			return msg
		}, "committed a different list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tap := func(spoke string, end *protocol.PipeEnd) protocol.Conn {
				if spoke != victim {
					return end
				}
				return &tapConn{end: end, in: tc.in}
			}
			base := AlignOptions{BatchSize: 8, IdleTimeout: 5 * time.Second}
			outs := alignJob{names: names, tables: tables, base: base, tap: tap}.run(t)
			if err := outs[victim].err; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("spoke: got error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(outs[victim].err.Error(), "cust-") {
				t.Fatalf("the spoke's error names the key: %v", outs[victim].err)
			}
			if tc.name != "a commit of another list" {
				allFail(t, outs)
				if err := outs[names[0]].err; !strings.Contains(err.Error(), victim) {
					t.Fatalf("the hub's error does not name %s: %v", victim, err)
				}
			} else if outs[victim].res != nil {
				t.Fatal("the spoke returned a list after a bad commit")
			}
		})
	}
}

// TestAlignHostileSpoke: a spoke that confirms another list, or sends
// garbage, ends the run for everybody, with an error naming it at the hub.
func TestAlignHostileSpoke(t *testing.T) {
	t.Parallel()
	names := partyNames(3)
	tables := alignSets(13, names, 100, 0.8)
	for _, tc := range []struct {
		name string
		out  func([]byte) []byte
		want string
	}{
		{"another digest", func(msg []byte) []byte {
			if msg[0] == kindAlignConfirm {
				msg = slices.Clone(msg)
				msg[1] ^= 1
			}
			return msg
		}, "confirmed a different list"},
		{"garbage hello", func(msg []byte) []byte {
			if msg[0] == kindAlignHello {
				return []byte{kindAlignHello, '{'}
			}
			return msg
		}, "malformed hello"},
		{"a huge hello", func(msg []byte) []byte {
			if msg[0] == kindAlignHello {
				return append([]byte{kindAlignHello}, make([]byte, maxHelloBytes+1)...)
			}
			return msg
		}, "more than the limit"},
		{"a keep-alive instead of the confirmation", func(msg []byte) []byte {
			if msg[0] == kindAlignConfirm {
				return []byte{kindAlignWait}
			}
			return msg
		}, "expected its confirmation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tap := func(spoke string, end *protocol.PipeEnd) protocol.Conn {
				if spoke != "p01" {
					return end
				}
				return &tapConn{end: end, out: tc.out}
			}
			base := AlignOptions{BatchSize: 8, IdleTimeout: 5 * time.Second}
			outs := alignJob{names: names, tables: tables, base: base, tap: tap}.run(t)
			allFail(t, outs)
			if err := outs[names[0]].err; !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p01") {
				t.Fatalf("hub: got error %v, want one containing %q and naming p01", err, tc.want)
			}
		})
	}
}

// TestAlignSpokeDrops: a spoke that closes its connection or goes silent,
// at any point, ends the hub's run with an error naming it; the other
// spokes fail cleanly and nobody returns a list.
func TestAlignSpokeDrops(t *testing.T) {
	t.Parallel()
	names := partyNames(4)
	tables := alignSets(14, names, 200, 0.8)
	const victim = "p03"
	var (
		isPsi     = func(msg []byte) bool { return len(msg) > 0 && msg[0] == 0x12 } // PsiMessage.batch
		isOutcome = func(msg []byte) bool { return len(msg) > 0 && msg[0] == kindAlignOutcome }
		isKeys    = func(msg []byte) bool { return len(msg) > 0 && msg[0] == kindAlignKeys }
	)
	// A silent spoke waits longer than the hub: the hub must not depend on
	// it giving up first.
	for _, tc := range []struct {
		name   string
		tap    func(end *protocol.PipeEnd) protocol.Conn
		want   string
		silent bool
	}{
		{"closes during its PSI", func(end *protocol.PipeEnd) protocol.Conn { return &tapConn{end: end, cut: isPsi} }, "closed", false},
		{"closes before the list", func(end *protocol.PipeEnd) protocol.Conn { return &tapConn{end: end, cut: isOutcome} }, "closed", false},
		{"closes during the list", func(end *protocol.PipeEnd) protocol.Conn { return &tapConn{end: end, cut: isKeys} }, "closed", false},
		{"goes silent during its PSI", func(end *protocol.PipeEnd) protocol.Conn {
			return &tapConn{end: end, out: func(msg []byte) []byte {
				if msg[0] == kindAlignHello {
					return msg
				}
				return nil
			}}
		}, "sent nothing", true},
		{"goes silent before confirming", func(end *protocol.PipeEnd) protocol.Conn {
			return &tapConn{end: end, out: func(msg []byte) []byte {
				if msg[0] == kindAlignConfirm {
					return nil
				}
				return msg
			}}
		}, "sent nothing", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tap := func(spoke string, end *protocol.PipeEnd) protocol.Conn {
				if spoke != victim {
					return end
				}
				return tc.tap(end)
			}
			base := AlignOptions{JobID: "j", Hub: names[0], Parties: names, BatchSize: 8, IdleTimeout: 600 * time.Millisecond}
			opts := map[string]AlignOptions{}
			if tc.silent {
				o := base
				o.IdleTimeout = 20 * time.Second
				opts[victim] = o
			}
			start := time.Now()
			outs := alignJob{names: names, tables: tables, base: base, opts: opts, tap: tap}.run(t)
			allFail(t, outs)
			err := outs[names[0]].err
			if !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("hub: got error %v, want one naming %s and containing %q", err, victim, tc.want)
			}
			for _, s := range names[1:] {
				if s != victim && !errors.Is(outs[s].err, errAlignStopped) {
					t.Errorf("%s: got %v, want the hub's stop", s, outs[s].err)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestAlignMismatch: parties that disagree on the job stop before any PSI.
func TestAlignMismatch(t *testing.T) {
	t.Parallel()
	names := partyNames(3)
	tables := alignSets(15, names, 50, 0.8)
	ristretto, _ := group.ByName("ristretto255")
	for _, tc := range []struct {
		name string
		edit func(o *AlignOptions)
		want string
	}{
		{"parties", func(o *AlignOptions) { o.Parties = append(slices.Clone(o.Parties), "p09") }, "parties"},
		{"hub", func(o *AlignOptions) { o.Hub = "p01" }, "hub"},
		{"job", func(o *AlignOptions) { o.JobID = "other" }, "job"},
		{"group", func(o *AlignOptions) { o.Group = ristretto }, "group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := AlignOptions{JobID: "j", Hub: names[0], Parties: names, BatchSize: 8, IdleTimeout: 5 * time.Second}
			odd := base
			tc.edit(&odd)
			outs := alignJob{names: names, tables: tables, base: base, opts: map[string]AlignOptions{"p02": odd}}.run(t)
			allFail(t, outs)
			for _, p := range []string{names[0], "p02"} {
				if err := outs[p].err; !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: got %v, want an error about the %s", p, err, tc.want)
				}
			}
			if !errors.Is(outs["p01"].err, errAlignStopped) {
				t.Errorf("p01: got %v, want the hub's stop", outs["p01"].err)
			}
		})
	}
}

// TestAlignHubDuplicateKeys: a hub whose set holds a key twice stops the
// run; it does not send a list with a duplicate.
func TestAlignHubDuplicateKeys(t *testing.T) {
	t.Parallel()
	names := partyNames(3)
	tables := alignSets(16, names, 50, 1)
	tables[names[0]].keys = append(tables[names[0]].keys, tables[names[0]].keys[3])
	outs := alignJob{names: names, tables: tables, base: AlignOptions{IdleTimeout: 5 * time.Second}}.run(t)
	allFail(t, outs)
	if err := outs[names[0]].err; !strings.Contains(err.Error(), "twice") {
		t.Fatalf("hub: %v", err)
	}
}

func TestAlignOptionsRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl := &memTable{}
	three := []string{"a", "b", "c"}
	c1, c2 := protocol.Pipe()
	defer c1.Close()
	defer c2.Close()
	spokes := map[string]protocol.Conn{"b": c1, "c": c2}
	for _, tc := range []struct {
		name  string
		self  string
		conns map[string]protocol.Conn
		o     AlignOptions
	}{
		{"no job", "a", spokes, AlignOptions{Hub: "a", Parties: three}},
		{"one party", "a", map[string]protocol.Conn{}, AlignOptions{JobID: "j", Hub: "a", Parties: []string{"a"}}},
		{"17 parties", "p00", nil, AlignOptions{JobID: "j", Hub: "p00", Parties: partyNames(17)}},
		{"duplicate party", "a", spokes, AlignOptions{JobID: "j", Hub: "a", Parties: []string{"a", "b", "b"}}},
		{"empty party", "a", spokes, AlignOptions{JobID: "j", Hub: "a", Parties: []string{"a", "b", ""}}},
		{"hub not a party", "a", spokes, AlignOptions{JobID: "j", Hub: "x", Parties: three}},
		{"self not the hub", "b", spokes, AlignOptions{JobID: "j", Hub: "a", Parties: three}},
		{"missing connection", "a", map[string]protocol.Conn{"b": c1}, AlignOptions{JobID: "j", Hub: "a", Parties: three}},
		{"connection to a stranger", "a", map[string]protocol.Conn{"b": c1, "c": c2, "x": c2}, AlignOptions{JobID: "j", Hub: "a", Parties: three}},
		{"job id too long", "a", spokes, AlignOptions{JobID: strings.Repeat("j", 199), Hub: "a", Parties: three}},
		{"batch size", "a", spokes, AlignOptions{JobID: "j", Hub: "a", Parties: three, BatchSize: MaxBatchSize + 1}},
		{"negative idle timeout", "a", spokes, AlignOptions{JobID: "j", Hub: "a", Parties: three, IdleTimeout: -time.Second}},
	} {
		if _, err := RunAlignHub(ctx, tc.self, tc.conns, tbl, tc.o); err == nil {
			t.Errorf("hub: %s accepted", tc.name)
		}
	}
	if _, err := RunAlignSpoke(ctx, "a", c1, tbl, AlignOptions{JobID: "j", Hub: "a", Parties: three}); err == nil {
		t.Error("a spoke that is the hub accepted")
	}
	if _, err := RunAlignSpoke(ctx, "x", c1, tbl, AlignOptions{JobID: "j", Hub: "a", Parties: three}); err == nil {
		t.Error("a spoke that is not a party accepted")
	}
	if _, err := RunAlignSpoke(ctx, "b", nil, tbl, AlignOptions{JobID: "j", Hub: "a", Parties: three}); err == nil {
		t.Error("a spoke without a connection accepted")
	}
}

// TestAlignFramesAreNotPsiMessages pins what lets a stop frame interrupt a
// pair's PSI: no alignment frame decodes as a PsiMessage, and no PsiMessage
// starts with an alignment kind.
func TestAlignFramesAreNotPsiMessages(t *testing.T) {
	t.Parallel()
	o, _ := Options{JobID: "j", Mode: Intersection}.withDefaults()
	var psiFrames [][]byte
	for _, m := range []*mitaiv1.PsiMessage{
		o.hello(3), batchMsg(&mitaiv1.PsiBatch{Index: 1, Elements: validElements(o, 1)}),
		{Body: &mitaiv1.PsiMessage_Matches{Matches: &mitaiv1.PsiMatches{}}},
		{Body: &mitaiv1.PsiMessage_Outcome{Outcome: &mitaiv1.PsiOutcome{}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		psiFrames = append(psiFrames, b)
	}
	for kind := range alignKindNames {
		for _, tail := range [][]byte{nil, {0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, bytes.Repeat([]byte{0x80}, 20)} {
			if _, err := decodeMessage(append([]byte{kind}, tail...)); err == nil {
				t.Errorf("a %s frame decodes as a PsiMessage", alignKindName(kind))
			}
		}
		for _, b := range psiFrames {
			if b[0] == kind {
				t.Errorf("a PsiMessage starts with the %s kind", alignKindName(kind))
			}
		}
	}
}

func TestCutBatches(t *testing.T) {
	t.Parallel()
	big := make([]byte, maxAlignKeyBytes)
	keys := slices.Repeat([][]byte{big}, 200) // 13 MiB: the byte bound cuts
	cuts := cutBatches(keys, 1000)
	for b := range len(cuts) - 1 {
		frame := keyBatchFrame(b, keys[cuts[b]:cuts[b+1]])
		if len(frame)-1 > maxListBatchBytes || cuts[b+1] <= cuts[b] {
			t.Fatalf("batch %d: %d keys, %d bytes", b, cuts[b+1]-cuts[b], len(frame)-1)
		}
	}
	if cuts[len(cuts)-1] != len(keys) {
		t.Fatal("keys left out")
	}
	if got := cutBatches(nil, 10); !slices.Equal(got, []int{0}) {
		t.Fatalf("empty list: %v", got)
	}
	small := slices.Repeat([][]byte{[]byte("k")}, 25)
	if got := cutBatches(small, 10); !slices.Equal(got, []int{0, 10, 20, 25}) {
		t.Fatalf("count bound: %v", got)
	}
}

// listFixture is a spoke holding keys a..f, facing a hub of 6 keys.
func listFixture() (*memTable, []uint32) {
	t := &memTable{keys: [][]byte{[]byte("f"), []byte("a"), []byte("e"), []byte("c"), []byte("b"), []byte("d")}}
	return t, sortedRows(t)
}

func released(count uint64, batches uint32) alignOutcome {
	return alignOutcome{status: outcomeReleased, count: count, batches: batches}
}

func batchOf(index int, keys ...string) []byte {
	var kb [][]byte
	for _, k := range keys {
		kb = append(kb, []byte(k))
	}
	return keyBatchFrame(index, kb)[1:]
}

// TestListReader feeds the spoke's list check hostile lists.
func TestListReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		out     alignOutcome
		minimum uint64
		batches [][]byte
		want    string // "" means accepted
	}{
		{"ok", released(3, 2), 0, [][]byte{batchOf(0, "a", "c"), batchOf(1, "e")}, ""},
		{"empty", released(0, 0), 0, nil, ""},
		{"count above the sets", released(7, 4), 0, nil, "more than the smaller set"},
		{"count below our minimum", released(2, 1), 3, nil, "below our policy minimum"},
		{"too few batches", released(3, 1), 0, nil, "batches for 3 keys"},
		{"more batches than keys", released(1, 2), 0, nil, "batches for 1 keys"},
		{"keys without batches", released(1, 0), 0, nil, "batches for 1 keys"},
		{"wrong index", released(2, 1), 0, [][]byte{batchOf(1, "a", "b")}, "where batch 0 was due"},
		{"empty batch", released(2, 1), 0, [][]byte{batchOf(0)}, "want 1 to 2 keys"},
		{"batch above the batch size", released(3, 2), 0, [][]byte{batchOf(0, "a", "b", "c")}, "want 1 to 2 keys"},
		{"key count above the bytes", released(2, 1), 0, [][]byte{{0, 0, 0, 0, 2, 0, 0, 0, 0}}, "want 1 to 2 keys"},
		{"truncated key", released(1, 1), 0, [][]byte{{0, 0, 0, 0, 1, 0, 0, 0, 5, 'a'}}, "truncated"},
		{"overlong length", released(1, 1), 0, [][]byte{{0, 0, 0, 0, 1, 0, 0, 0, 0x81, 0, 'a'}}, "malformed length"},
		{"huge length", released(1, 1), 0, [][]byte{{0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}}, "more than the limit"},
		{"trailing bytes", released(1, 1), 0, [][]byte{append(batchOf(0, "a"), 0)}, "after the last key"},
		{"short header", released(1, 1), 0, [][]byte{{0, 0}}, "shorter than its header"},
		{"unsorted", released(2, 1), 0, [][]byte{batchOf(0, "c", "b")}, "unsorted or duplicate"},
		{"duplicate across batches", released(3, 2), 0, [][]byte{batchOf(0, "a", "c"), batchOf(1, "c")}, "unsorted or duplicate"},
		{"a key we do not hold", released(2, 1), 0, [][]byte{batchOf(0, "a", "bb")}, "not one of ours"},
		{"a key above all of ours", released(1, 1), 0, [][]byte{batchOf(0, "z")}, "not one of ours"},
		{"the list ends early", released(3, 2), 0, [][]byte{batchOf(0, "a", "b"), batchOf(1)}, "want 1 to 2 keys"},
		{"the last batch short", released(4, 2), 0, [][]byte{batchOf(0, "a", "b"), batchOf(1, "c")}, "ends after 3 keys"},
		{"no key left for the last batch", released(2, 2), 0, [][]byte{batchOf(0, "a", "b")}, "more than the announced"},
		{"a batch too many", released(1, 1), 0, [][]byte{batchOf(0, "a"), batchOf(1, "b")}, "beyond the announced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, own := listFixture()
			err := func() error {
				lr, err := newListReader(tc.out, "j", table, own, 6, tc.minimum, 2)
				if err != nil {
					return err
				}
				for _, b := range tc.batches {
					if err := lr.add(b); err != nil {
						return err
					}
				}
				if !lr.done() {
					return errors.New("incomplete")
				}
				if !bytes.Equal(lr.digest.Sum(nil), listDigest("j", lr.keys)) {
					return errors.New("digest differs from the hub's")
				}
				return nil
			}()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "bb"):
				t.Fatalf("the error names a key: %v", err)
			}
		})
	}
}

func TestDecodeOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    alignOutcome
		ok   bool
	}{
		{"released", released(5, 1), true},
		{"below minimum", alignOutcome{status: outcomeBelowMinimum, reason: "x"}, true},
		{"failed", alignOutcome{status: outcomeFailed, reason: "x"}, true},
		{"release with a reason", alignOutcome{status: outcomeReleased, reason: "x"}, false},
		{"refusal with counts", alignOutcome{status: outcomeBelowMinimum, count: 3}, false},
		{"unknown status", alignOutcome{status: 9}, false},
		{"long reason", alignOutcome{status: outcomeFailed, reason: strings.Repeat("x", maxReasonBytes+1)}, false},
	} {
		got, err := decodeOutcome(tc.o.frame()[1:])
		if (err == nil) != tc.ok || (tc.ok && got != tc.o) {
			t.Errorf("%s: got %+v, %v", tc.name, got, err)
		}
	}
	if _, err := decodeOutcome([]byte{1, 2}); err == nil {
		t.Error("short outcome accepted")
	}
}

// BenchmarkAlign aligns three parties of about 4,000 keys each (80% of a
// universe of 5,000); elems/s counts the keys of all parties.
func BenchmarkAlign(b *testing.B) {
	names := partyNames(3)
	tables := alignSets(21, names, 5000, 0.8)
	total := 0
	for _, t := range tables {
		total += len(t.keys)
	}
	for b.Loop() {
		for p, o := range (alignJob{names: names, tables: tables}).run(b) {
			if o.err != nil {
				b.Fatal(p, o.err)
			}
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "elems/s")
}

// lengthFrames joins frames, each after its length (uint16, little-endian),
// as FuzzAlignList reads them.
func lengthFrames(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// FuzzAlignList feeds the spoke's list decoding and checks arbitrary
// frames: an outcome, then batches. Whatever it accepts is a strictly
// increasing list of the spoke's own keys, of the announced length, with
// the hub's digest; every batch it decodes re-encodes to the same bytes.
func FuzzAlignList(f *testing.F) {
	f.Add(lengthFrames(released(3, 2).frame()[1:], batchOf(0, "a", "c"), batchOf(1, "e")))
	f.Add(lengthFrames(released(6, 3).frame()[1:], batchOf(0, "a", "b"), batchOf(1, "c", "d"), batchOf(2, "e", "f")))
	f.Add(lengthFrames(released(0, 0).frame()[1:]))
	f.Add(lengthFrames(released(2, 1).frame()[1:], batchOf(0, "b", "b")))
	f.Add(lengthFrames(alignOutcome{status: outcomeFailed, reason: "stop"}.frame()[1:]))
	f.Fuzz(func(t *testing.T, data []byte) {
		var frames [][]byte
		for len(data) >= 2 {
			n := int(binary.LittleEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			frames = append(frames, data[:n])
			data = data[n:]
		}
		if len(frames) == 0 {
			return
		}
		out, err := decodeOutcome(frames[0])
		if err != nil {
			return
		}
		if !bytes.Equal(out.frame()[1:], frames[0]) {
			t.Fatal("outcome does not re-encode to its bytes")
		}
		if out.status != outcomeReleased {
			if stopError("hub", frames[0]) == nil {
				t.Fatal("a stop without an error")
			}
			return
		}
		table, own := listFixture()
		lr, err := newListReader(out, "j", table, own, 6, 0, 2)
		if err != nil {
			return
		}
		for _, fr := range frames[1:] {
			if index, keys, err := decodeKeyBatch(fr, 2); err == nil && !bytes.Equal(keyBatchFrame(index, keys)[1:], fr) {
				t.Fatal("batch does not re-encode to its bytes")
			}
			if lr.done() || lr.add(fr) != nil {
				return
			}
		}
		if !lr.done() {
			return
		}
		if uint64(len(lr.keys)) != out.count {
			t.Fatalf("accepted %d keys of %d announced", len(lr.keys), out.count)
		}
		for i, k := range lr.keys {
			if i > 0 && bytes.Compare(lr.keys[i-1], k) >= 0 {
				t.Fatal("accepted a list out of order")
			}
			if !slices.ContainsFunc(table.keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
				t.Fatal("accepted a key the spoke does not hold")
			}
		}
		if !bytes.Equal(lr.digest.Sum(nil), listDigest("j", lr.keys)) {
			t.Fatal("digest differs from the hub's")
		}
	})
}

// FuzzAlignHello feeds the hello decoder and check arbitrary bytes.
func FuzzAlignHello(f *testing.F) {
	o, parties, err := AlignOptions{JobID: "j", Hub: "a", Parties: []string{"b", "a", "c"}}.check("a", true)
	if err != nil {
		f.Fatal(err)
	}
	mine := o.hello(parties, "a", "b", 0)
	good, _ := json.Marshal(o.hello(parties, "b", "a", 7))
	f.Add(good)
	f.Add([]byte(`{"version":1,"job":"j","parties":["a"],"extra":1}`))
	f.Add(append(slices.Clone(good), ` {}`...))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := decodeAlignHello(data)
		if err != nil {
			return
		}
		if checkAlignHello(h, mine) == nil && (h.Job != "j" || h.From != "b" || h.To != "a" || !slices.Equal(h.Parties, parties)) {
			t.Fatalf("accepted a hello that disagrees: %+v", h)
		}
	})
}
