package psi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/protocol"
)

// memTable is an in-memory Table with optional payloads.
type memTable struct {
	keys     [][]byte
	payloads [][]byte
}

func (t *memTable) Len() int         { return len(t.keys) }
func (t *memTable) Key(i int) []byte { return t.keys[i] }
func (t *memTable) AppendPayload(dst []byte, i int) []byte {
	return append(dst, t.payloads[i]...)
}

// makeSets returns two tables of sizes na and nb sharing `common` keys, and
// the receiver's rows of the common keys, ascending.
func makeSets(seed uint64, na, nb, common int) (a, b *memTable, want []int) {
	r := rand.New(rand.NewPCG(seed, 1))
	a, b = &memTable{}, &memTable{}
	for i := range na {
		a.keys = append(a.keys, fmt.Appendf(nil, "a-%d-%d", seed, i))
	}
	for i := range nb {
		b.keys = append(b.keys, fmt.Appendf(nil, "b-%d-%d", seed, i))
		b.payloads = append(b.payloads, fmt.Appendf(nil, "payload of b row %d", i))
	}
	ia, ib := r.Perm(na)[:common], r.Perm(nb)[:common]
	for k := range common {
		b.keys[ib[k]] = a.keys[ia[k]]
	}
	want = slices.Clone(ia)
	slices.Sort(want)
	return a, b, want
}

type runOut struct {
	res *Result
	err error
}

// run runs both roles over a pipe.
func run(t *testing.T, a, b Table, oa, ob Options) (ra, rb runOut) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca, cb := protocol.Pipe()
	done := make(chan runOut)
	go func() {
		res, err := RunSender(ctx, cb, b, ob)
		cb.Close()
		done <- runOut{res, err}
	}()
	res, err := RunReceiver(ctx, ca, a, oa)
	ca.Close()
	return runOut{res, err}, <-done
}

func TestRolesTogether(t *testing.T) {
	t.Parallel()
	for _, name := range group.Names() {
		g, err := group.ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			mode       Mode
			both       bool
			na, nb, nc int
			batch      int
		}{
			{Intersection, false, 300, 200, 70, 64},
			{Intersection, true, 200, 300, 70, 50},
			{Cardinality, false, 150, 150, 150, 64},
			{Cardinality, true, 100, 90, 0, 7},
			{Join, false, 257, 129, 100, 64},
			{Intersection, false, 0, 10, 0, 64},
			{Join, false, 10, 0, 0, 64},
			{Intersection, false, 1, 1, 1, 1},
		} {
			t.Run(fmt.Sprintf("%s/%v/both=%v/%dx%d", name, tc.mode, tc.both, tc.na, tc.nb), func(t *testing.T) {
				t.Parallel()
				a, b, want := makeSets(uint64(tc.na*1000+tc.nb), tc.na, tc.nb, tc.nc)
				opts := Options{JobID: "job-1", Group: g, Mode: tc.mode, BothReceive: tc.both, BatchSize: tc.batch}
				ra, rb := run(t, a, b, opts, opts)
				if ra.err != nil || rb.err != nil {
					t.Fatalf("receiver: %v; sender: %v", ra.err, rb.err)
				}
				if ra.res.IntersectionSize != tc.nc || !ra.res.SizeKnown {
					t.Fatalf("receiver size %d, want %d", ra.res.IntersectionSize, tc.nc)
				}
				if ra.res.PeerSize != tc.nb || rb.res.PeerSize != tc.na {
					t.Fatalf("peer sizes %d/%d", ra.res.PeerSize, rb.res.PeerSize)
				}
				if tc.mode == Cardinality {
					if ra.res.Rows != nil {
						t.Fatal("cardinality mode revealed rows")
					}
				} else if !slices.Equal(ra.res.Rows, want) {
					t.Fatalf("receiver rows %v, want %v", ra.res.Rows, want)
				}
				if tc.mode == Join {
					for i, row := range ra.res.Rows {
						j := slices.IndexFunc(b.keys, func(k []byte) bool { return bytes.Equal(k, a.keys[row]) })
						if !bytes.Equal(ra.res.Payloads[i], b.payloads[j]) {
							t.Fatalf("row %d: payload %q, want %q", row, ra.res.Payloads[i], b.payloads[j])
						}
					}
				}
				if rb.res.SizeKnown != tc.both {
					t.Fatalf("sender learned the size: %v, want %v", rb.res.SizeKnown, tc.both)
				}
				if tc.both && tc.mode == Intersection {
					var got [][]byte
					for _, row := range rb.res.Rows {
						got = append(got, b.keys[row])
					}
					var exp [][]byte
					for _, row := range want {
						exp = append(exp, a.keys[row])
					}
					sortBytes(got)
					sortBytes(exp)
					if !slices.EqualFunc(got, exp, bytes.Equal) {
						t.Fatal("sender's intersection differs from the receiver's")
					}
				} else if rb.res.Rows != nil {
					t.Fatal("sender learned rows it should not")
				}
			})
		}
	}
}

func sortBytes(s [][]byte) { slices.SortFunc(s, bytes.Compare) }

func TestMinimumIntersection(t *testing.T) {
	t.Parallel()
	a, b, _ := makeSets(7, 50, 50, 10)
	for _, tc := range []struct {
		name       string
		minA, minB uint64
		ok         bool
	}{
		{"below receiver minimum", 11, 0, false},
		{"below sender minimum", 0, 11, false},
		{"at minimum", 10, 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			oa := Options{JobID: "j", Mode: Join, MinIntersection: tc.minA}
			ob := oa
			ob.MinIntersection = tc.minB
			ra, rb := run(t, a, b, oa, ob)
			if tc.ok {
				if ra.err != nil || rb.err != nil {
					t.Fatalf("receiver: %v; sender: %v", ra.err, rb.err)
				}
				return
			}
			if !errors.Is(ra.err, ErrBelowMinimum) || !errors.Is(rb.err, ErrBelowMinimum) {
				t.Fatalf("want ErrBelowMinimum on both sides, got %v / %v", ra.err, rb.err)
			}
			if ra.res != nil {
				t.Fatal("a result was released below the minimum")
			}
		})
	}
}

func TestHelloMismatch(t *testing.T) {
	t.Parallel()
	a, b, _ := makeSets(8, 5, 5, 2)
	base := Options{JobID: "j", Mode: Intersection}
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"job", func(o *Options) { o.JobID = "other" }},
		{"mode", func(o *Options) { o.Mode = Cardinality }},
		{"receivers", func(o *Options) { o.BothReceive = true }},
		{"group", func(o *Options) { o.Group, _ = group.ByName("ristretto255") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ob := base
			tc.edit(&ob)
			ra, rb := run(t, a, b, base, ob)
			if ra.err == nil || rb.err == nil {
				t.Fatalf("mismatched %s accepted: %v / %v", tc.name, ra.err, rb.err)
			}
		})
	}
}

// countingConn counts the batch messages sent through it (a role sends
// from several goroutines).
type countingConn struct {
	protocol.Conn
	batches atomic.Int64
}

func (c *countingConn) Send(ctx context.Context, msg []byte) error {
	if m, err := decodeMessage(msg); err == nil && m.GetBatch() != nil {
		c.batches.Add(1)
	}
	return c.Conn.Send(ctx, msg)
}

// TestBatchNegotiated: roles configured with different batch sizes agree
// on the smaller (the strict shape checks would fail on a disagreement),
// and the one configured larger sends batches of the smaller size.
func TestBatchNegotiated(t *testing.T) {
	t.Parallel()
	a, b, want := makeSets(77, 100, 120, 40)
	for _, sizes := range [][2]int{{7, 1000}, {1000, 7}, {1, 2}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ca, cb := protocol.Pipe()
		sender := &countingConn{Conn: cb}
		done := make(chan runOut)
		go func() {
			res, err := RunSender(ctx, sender, b, Options{JobID: "j", Mode: Intersection, BatchSize: sizes[1]})
			cb.Close()
			done <- runOut{res, err}
		}()
		ra, err := RunReceiver(ctx, ca, a, Options{JobID: "j", Mode: Intersection, BatchSize: sizes[0]})
		ca.Close()
		rb := <-done
		cancel()
		if err != nil || rb.err != nil {
			t.Fatalf("batch sizes %v: receiver %v, sender %v", sizes, err, rb.err)
		}
		if !slices.Equal(ra.Rows, want) {
			t.Fatalf("batch sizes %v: rows %v, want %v", sizes, ra.Rows, want)
		}
		// The sender's own set alone takes ceil(120/min) batches.
		if small := min(sizes[0], sizes[1]); sender.batches.Load() < int64((120+small-1)/small) {
			t.Fatalf("batch sizes %v: the sender sent %d batches, fewer than batches of %d allow", sizes, sender.batches.Load(), small)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Mode: Intersection},
		{JobID: "j"},
		{JobID: "j", Mode: Join, BothReceive: true},
		{JobID: "j", Mode: Intersection, BatchSize: MaxBatchSize + 1},
		{JobID: string(make([]byte, 300)), Mode: Intersection},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}
