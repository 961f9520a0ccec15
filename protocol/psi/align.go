package psi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mitai-dev/mitai/crypto/group"
	"github.com/mitai-dev/mitai/protocol"
)

// Limits of the k-party alignment; anything beyond them ends the run.
const (
	maxAlignParties = 16
	// maxAlignKeyBytes bounds one key of the aligned list.
	maxAlignKeyBytes = 64 << 10
	// maxListBatchBytes bounds one batch of the list (header included), far
	// below the transport's message limit.
	maxListBatchBytes = 4 << 20
	maxHelloBytes     = 16 << 10
	maxReasonBytes    = 512
	outcomeHeader     = 1 + 8 + 4 // status, key count, batch count
	batchHeader       = 4 + 4     // batch index, key count
	// maxKeepAlive caps the interval of the hub's keep-alives, so that a
	// spoke's IdleTimeout above it is enough whatever the hub's own is.
	maxKeepAlive = 10 * time.Second
	// maxStopGrace bounds how long a party that stops keeps reading (and
	// dropping) what a peer still sends, so that the peer, perhaps blocked
	// sending to it, reaches the stop frame.
	maxStopGrace = 5 * time.Second
	alignVersion = 1
)

// Frame kinds of the alignment. Its frames share each connection with the
// PSI messages of a pair; the low three bits of every kind are 6 or 7,
// protobuf wire types that do not exist, so no PsiMessage starts with one
// and a stop frame in the middle of a pair's PSI is recognized as such.
const (
	kindAlignHello   byte = 0xf6 // both ways: what the parties must agree on
	kindAlignWait    byte = 0xf7 // hub to spoke: still running other pairs
	kindAlignKeys    byte = 0xfe // hub to spoke: one batch of the list
	kindAlignOutcome byte = 0xff // hub to spoke: the list released, or why not; either end: stop
	kindAlignConfirm byte = 0xee // spoke to hub: the digest of the list it accepted
	kindAlignCommit  byte = 0xef // hub to spoke: every spoke confirmed the list
)

var alignKindNames = map[byte]string{
	kindAlignHello: "hello", kindAlignWait: "keep-alive", kindAlignKeys: "list batch",
	kindAlignOutcome: "outcome", kindAlignConfirm: "confirmation", kindAlignCommit: "commit",
}

func alignKindName(k byte) string {
	if s, ok := alignKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("message of kind %#x", k)
}

// Outcome statuses.
const (
	outcomeReleased     byte = 1
	outcomeBelowMinimum byte = 2
	outcomeFailed       byte = 3
)

// errAlignStopped reports that a peer stopped the alignment and said why.
var errAlignStopped = errors.New("peer stopped the alignment")

// AlignOptions configure one party's run of a k-party alignment. Every
// party passes the same JobID, Group, Hub and Parties; the hello exchange
// checks that they do. The hub and a spoke use the smaller of their
// BatchSizes, for their PSI and for the list.
type AlignOptions struct {
	// JobID identifies the job, as Options.JobID. The PSI of the hub with
	// spoke s runs under the job id JobID+"/"+s, so the blinded values of two
	// pairs cannot be correlated. Required.
	JobID string
	// Group is the group of the job; nil means group.DefaultName.
	Group group.Group
	// Hub is the party that runs RunAlignHub: the job's first participant.
	Hub string
	// Parties are all participants, the hub included, in any order: 2 to
	// 16 distinct names.
	Parties []string
	// MinIntersection is this party's policy minimum for the k-way
	// intersection. Nothing is released unless the intersection reaches
	// the largest minimum of all parties.
	MinIntersection uint64
	// BatchSize is the most elements (and keys of the list) per message
	// this party sends or accepts; a pair uses the smaller of its two
	// values. 0 means DefaultBatchSize.
	BatchSize int
	// IdleTimeout bounds the wait for any one message from a peer (and for
	// a peer to accept one); 0 means 2 minutes. Parties should use the same
	// value, at least 40 seconds in a deployment: the hub keeps a waiting
	// spoke alive every IdleTimeout/4, at most every 10 seconds.
	IdleTimeout time.Duration
	// Workers is the number of goroutines for group operations of each
	// pair's PSI; 0 means GOMAXPROCS.
	Workers int
}

// AlignResult is what a party ends with.
type AlignResult struct {
	// Keys is the k-way intersection in the agreed order: sorted by
	// bytes.Compare, identical at every party (each spoke confirms the
	// list's digest before anybody returns it).
	Keys [][]byte
	// LocalSize is this party's set size.
	LocalSize int
	// Pairwise, hub only: the size of the hub's intersection with each
	// spoke, by spoke.
	Pairwise map[string]int
}

// check fills in the defaults and validates the options for party self,
// the hub or a spoke; it returns the parties sorted.
func (o AlignOptions) check(self string, isHub bool) (AlignOptions, []string, error) {
	p, err := Options{JobID: o.JobID, Group: o.Group, Mode: Intersection, BatchSize: o.BatchSize, IdleTimeout: o.IdleTimeout, Workers: o.Workers}.withDefaults()
	if err != nil {
		return o, nil, err
	}
	o.Group, o.BatchSize, o.IdleTimeout, o.Workers = p.Group, p.BatchSize, p.IdleTimeout, p.Workers
	if o.IdleTimeout < 0 {
		return o, nil, fmt.Errorf("psi: align: negative idle timeout %v", o.IdleTimeout)
	}
	if len(o.Parties) < 2 || len(o.Parties) > maxAlignParties {
		return o, nil, fmt.Errorf("psi: align: %d parties, need 2 to %d", len(o.Parties), maxAlignParties)
	}
	seen := map[string]bool{}
	longest := 0
	for _, q := range o.Parties {
		if q == "" {
			return o, nil, errors.New("psi: align: empty party name")
		}
		if seen[q] {
			return o, nil, fmt.Errorf("psi: align: party %q listed twice", q)
		}
		seen[q] = true
		longest = max(longest, len(q))
	}
	switch {
	case !seen[o.Hub]:
		return o, nil, fmt.Errorf("psi: align: the hub %q is not among the parties %v", o.Hub, o.Parties)
	case !seen[self]:
		return o, nil, fmt.Errorf("psi: align: we (%q) are not among the parties %v", self, o.Parties)
	case isHub && self != o.Hub:
		return o, nil, fmt.Errorf("psi: align: %s runs the hub, but the hub is %s", self, o.Hub)
	case !isHub && self == o.Hub:
		return o, nil, fmt.Errorf("psi: align: %s is the hub and runs RunAlignHub, not RunAlignSpoke", self)
	case len(o.JobID)+1+longest > maxJobIDBytes:
		return o, nil, fmt.Errorf("psi: align: job id and party name together exceed %d bytes", maxJobIDBytes)
	}
	return o, slices.Sorted(slices.Values(o.Parties)), nil
}

// pair returns the options of the hub's PSI with spoke, both roles.
func (o AlignOptions) pair(spoke string, minimum uint64) Options {
	return Options{
		JobID: o.JobID + "/" + spoke, Group: o.Group, Mode: Intersection, MinIntersection: minimum,
		BatchSize: o.BatchSize, IdleTimeout: o.IdleTimeout, Workers: o.Workers,
	}
}

func (o AlignOptions) keepAliveEvery() time.Duration {
	return max(min(o.IdleTimeout/4, maxKeepAlive), time.Millisecond)
}

func (o AlignOptions) stopGrace() time.Duration { return min(o.IdleTimeout, maxStopGrace) }

// alignHello is the first frame each way: what the two ends must agree on.
type alignHello struct {
	Version   int      `json:"version"`
	Job       string   `json:"job"`
	Group     string   `json:"group"`
	Hub       string   `json:"hub"`
	Parties   []string `json:"parties"` // sorted
	From      string   `json:"from"`
	To        string   `json:"to"`
	BatchSize int      `json:"batch_size"`
	// MinIntersection is the sending spoke's policy minimum (0 from the hub).
	MinIntersection uint64 `json:"min_intersection,omitempty"`
}

func (o AlignOptions) hello(parties []string, from, to string, minimum uint64) alignHello {
	return alignHello{Version: alignVersion, Job: o.JobID, Group: o.Group.Name(), Hub: o.Hub, Parties: parties,
		From: from, To: to, BatchSize: o.BatchSize, MinIntersection: minimum}
}

// decodeAlignHello parses a peer's hello strictly: no unknown fields, no
// trailing data.
func decodeAlignHello(b []byte) (alignHello, error) {
	var h alignHello
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("malformed hello: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, errors.New("malformed hello: trailing data")
	}
	return h, nil
}

// checkAlignHello compares the peer's hello h with ours.
func checkAlignHello(h, mine alignHello) error {
	peer := mine.To
	switch {
	case h.Version != mine.Version:
		return fmt.Errorf("psi: align: %s speaks version %d, we speak %d", peer, h.Version, mine.Version)
	case h.Job != mine.Job:
		return fmt.Errorf("psi: align: %s runs job %q, we run %q", peer, h.Job, mine.Job)
	case h.Hub != mine.Hub:
		return fmt.Errorf("psi: align: %s has hub %q, we have %q", peer, h.Hub, mine.Hub)
	case !slices.Equal(h.Parties, mine.Parties):
		return fmt.Errorf("psi: align: %s has parties %q, we have %q", peer, h.Parties, mine.Parties)
	case h.From != peer || h.To != mine.From:
		return fmt.Errorf("psi: align: the connection to %s carries a hello from %q to %q", peer, h.From, h.To)
	case h.Group != mine.Group:
		return fmt.Errorf("psi: align: %s uses group %q, we use %q", peer, h.Group, mine.Group)
	case h.BatchSize < 1 || h.BatchSize > MaxBatchSize:
		return fmt.Errorf("psi: align: %s has batch size %d, outside 1..%d", peer, h.BatchSize, MaxBatchSize)
	case h.From == h.Hub && h.MinIntersection != 0:
		return fmt.Errorf("psi: align: the hub %s sent a minimum; only spokes do", peer)
	}
	return nil
}

// alignOutcome ends the list phase: the hub releases the list (its key and
// batch counts follow) or says why not. Either end sends a failure outcome
// to stop the run.
type alignOutcome struct {
	status  byte
	count   uint64 // keys of the list, released only
	batches uint32 // batches of the list, released only
	reason  string // not released only
}

func (o alignOutcome) frame() []byte {
	b := make([]byte, 0, 1+outcomeHeader+len(o.reason))
	b = append(b, kindAlignOutcome, o.status)
	b = binary.LittleEndian.AppendUint64(b, o.count)
	b = binary.LittleEndian.AppendUint32(b, o.batches)
	return append(b, o.reason...)
}

// stopOutcome is the outcome a party sends when it ends the run with err.
func stopOutcome(err error, minimum uint64) alignOutcome {
	if errors.Is(err, ErrBelowMinimum) {
		// Spokes learn that the intersection is below the largest minimum,
		// not which pair or by how much.
		return alignOutcome{status: outcomeBelowMinimum, reason: fmt.Sprintf("intersection below the largest policy minimum (%d)", minimum)}
	}
	reason := err.Error()
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	return alignOutcome{status: outcomeFailed, reason: reason}
}

// decodeOutcome parses an outcome payload (the kind byte stripped).
func decodeOutcome(p []byte) (alignOutcome, error) {
	if len(p) < outcomeHeader || len(p) > outcomeHeader+maxReasonBytes {
		return alignOutcome{}, fmt.Errorf("malformed outcome of %d bytes", len(p))
	}
	o := alignOutcome{status: p[0], count: binary.LittleEndian.Uint64(p[1:]), batches: binary.LittleEndian.Uint32(p[9:]), reason: string(p[outcomeHeader:])}
	switch {
	case o.status == outcomeReleased && o.reason != "":
		return o, errors.New("malformed outcome: a release with a reason")
	case (o.status == outcomeBelowMinimum || o.status == outcomeFailed) && (o.count != 0 || o.batches != 0):
		return o, errors.New("malformed outcome: counts without a release")
	case o.status != outcomeReleased && o.status != outcomeBelowMinimum && o.status != outcomeFailed:
		return o, fmt.Errorf("malformed outcome: status %d", o.status)
	}
	return o, nil
}

// stopError turns a stop outcome from peer into the error its receiver
// ends with; a release, or anything malformed, where none is due is an
// error too.
func stopError(peer string, p []byte) error {
	o, err := decodeOutcome(p)
	switch {
	case err != nil:
		return fmt.Errorf("psi: align: %s sent a %w", peer, err)
	case o.status == outcomeBelowMinimum:
		return fmt.Errorf("%w: %s says %q", ErrBelowMinimum, peer, o.reason)
	case o.status == outcomeFailed:
		return fmt.Errorf("psi: align: %s stopped: %q: %w", peer, o.reason, errAlignStopped)
	}
	return fmt.Errorf("psi: align: %s released a list out of turn", peer)
}

// alignLink is a party's connection to one peer during an alignment.
type alignLink struct {
	peer string
	conn protocol.Conn
	idle time.Duration
	// mu orders the hub's keep-alives with its other frames to the spoke.
	mu sync.Mutex
	// waiting (hub): the spoke waits while the hub works with other
	// spokes; keep-alives flow.
	waiting bool
	// batch is the pair's batch size, the smaller of the two hellos'.
	batch int
}

func (l *alignLink) sendFrame(ctx context.Context, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, l.idle)
	defer cancel()
	if err := l.conn.Send(ctx, frame); err != nil {
		if errors.Is(err, protocol.ErrClosed) {
			return fmt.Errorf("psi: align: send %s to %s: %s closed the connection mid-protocol: %w", alignKindName(frame[0]), l.peer, l.peer, err)
		}
		return fmt.Errorf("psi: align: send %s to %s: %w", alignKindName(frame[0]), l.peer, err)
	}
	return nil
}

func (l *alignLink) send(ctx context.Context, kind byte, payload []byte) error {
	return l.sendFrame(ctx, append([]byte{kind}, payload...))
}

// expect returns the payload of the peer's next frame, which must be of
// kind want and at most maxLen bytes, skipping keep-alives if wait is set.
// A stop outcome becomes its error.
func (l *alignLink) expect(ctx context.Context, want byte, maxLen int, wait bool) ([]byte, error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, l.idle)
		msg, err := l.conn.Recv(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("psi: align: %s sent nothing for %v while we waited for its %s: %w", l.peer, l.idle, alignKindName(want), err)
		case errors.Is(err, protocol.ErrClosed):
			return nil, fmt.Errorf("psi: align: receive %s from %s: %s closed the connection mid-protocol: %w", alignKindName(want), l.peer, l.peer, err)
		case err != nil:
			return nil, fmt.Errorf("psi: align: receive %s from %s: %w", alignKindName(want), l.peer, err)
		case len(msg) == 0:
			return nil, fmt.Errorf("psi: align: empty message from %s", l.peer)
		case msg[0] == kindAlignWait && wait && len(msg) == 1:
			continue
		case msg[0] == kindAlignOutcome && want != kindAlignOutcome:
			return nil, stopError(l.peer, msg[1:])
		case msg[0] != want:
			return nil, fmt.Errorf("psi: align: %s sent a %s, expected its %s", l.peer, alignKindName(msg[0]), alignKindName(want))
		case len(msg)-1 > maxLen:
			return nil, fmt.Errorf("psi: align: %s sent a %s of %d bytes, more than the limit %d", l.peer, alignKindName(want), len(msg)-1, maxLen)
		}
		return msg[1:], nil
	}
}

// setWaiting marks whether the spoke now waits for the hub (keep-alives
// flow). Taking mu puts a keep-alive in flight before the next frame.
// exchangeHello sends our hello and returns the peer's, checked against it.
func (l *alignLink) exchangeHello(ctx context.Context, mine alignHello) (alignHello, error) {
	b, _ := json.Marshal(mine)
	if err := l.send(ctx, kindAlignHello, b); err != nil {
		return alignHello{}, err
	}
	p, err := l.expect(ctx, kindAlignHello, maxHelloBytes, false)
	if err != nil {
		return alignHello{}, err
	}
	theirs, err := decodeAlignHello(p)
	if err != nil {
		return alignHello{}, fmt.Errorf("psi: align: %s sent a %w", l.peer, err)
	}
	if err := checkAlignHello(theirs, mine); err != nil {
		return alignHello{}, err
	}
	l.batch = min(mine.BatchSize, theirs.BatchSize)
	return theirs, nil
}

func (l *alignLink) setWaiting(w bool) {
	l.mu.Lock()
	l.waiting = w
	l.mu.Unlock()
}

func (l *alignLink) keepAlive(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.waiting {
		return nil
	}
	return l.sendFrame(ctx, []byte{kindAlignWait})
}

// stop sends a stop frame, best effort. With drain it then reads and drops
// what the peer still sends until the peer closes or grace passes: a peer
// blocked sending PSI batches to us would otherwise never read the frame.
func (l *alignLink) stop(frame []byte, grace time.Duration, drain bool) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan struct{})
	if drain {
		go func() {
			defer close(done)
			for {
				if _, err := l.conn.Recv(ctx); err != nil {
					return
				}
			}
		}()
	} else {
		close(done)
	}
	_ = l.conn.Send(ctx, frame)
	<-done
}

// psiConn is a link during its pair's PSI run: a stop outcome from the
// peer ends the run with the peer's reason instead of a decoding error.
type psiConn struct{ l *alignLink }

func (c psiConn) Send(ctx context.Context, msg []byte) error { return c.l.conn.Send(ctx, msg) }

func (c psiConn) Recv(ctx context.Context) ([]byte, error) {
	msg, err := c.l.conn.Recv(ctx)
	if err == nil && len(msg) > 0 && msg[0] == kindAlignOutcome {
		return nil, stopError(c.l.peer, msg[1:])
	}
	return msg, err
}

// alignHub is the state of the hub's run.
type alignHub struct {
	o       AlignOptions
	self    string
	parties []string
	table   Table
	links   []*alignLink // one per spoke, in party order
	minimum uint64       // the largest policy minimum, once the hellos are in
}

// RunAlignHub runs the hub of a k-party alignment with key set table: conns
// has one protocol.Conn to every spoke, keyed by party. It returns the
// k-way intersection, which every spoke has confirmed, and the size of the
// hub's intersection with each spoke. On any error every spoke is told to
// stop, and none returns a list. See the package documentation for the
// flow and for what the hub learns (more than the spokes do).
func RunAlignHub(ctx context.Context, self string, conns map[string]protocol.Conn, table Table, opts AlignOptions) (res *AlignResult, err error) {
	o, parties, err := opts.check(self, true)
	if err != nil {
		return nil, err
	}
	if table.Len() > MaxSetSize {
		return nil, fmt.Errorf("psi: %d keys, more than the limit %d", table.Len(), MaxSetSize)
	}
	h := &alignHub{o: o, self: self, parties: parties, table: table, minimum: o.MinIntersection}
	for _, p := range parties {
		if p == self {
			continue
		}
		c := conns[p]
		if c == nil {
			return nil, fmt.Errorf("psi: align: no connection to the spoke %s", p)
		}
		h.links = append(h.links, &alignLink{peer: p, conn: c, idle: o.IdleTimeout})
	}
	if len(conns) != len(h.links) {
		for p := range conns {
			if !slices.Contains(parties, p) || p == self {
				return nil, fmt.Errorf("psi: align: a connection to %q, who is not a spoke of the job", p)
			}
		}
	}
	defer func() {
		if err != nil {
			frame := stopOutcome(err, h.minimum).frame()
			var wg sync.WaitGroup
			for _, l := range h.links {
				wg.Go(func() { l.stop(frame, o.stopGrace(), true) })
			}
			wg.Wait()
		}
	}()
	return h.run(ctx)
}

func (h *alignHub) run(ctx context.Context) (*AlignResult, error) {
	// 1. Hellos, with every spoke before any PSI starts: a spoke that
	// disagrees stops the run before anybody's keys are used.
	if err := h.hellos(ctx); err != nil {
		return nil, err
	}
	// 2.-4. Pairwise PSI, intersection, release; keep-alives meanwhile to
	// the spokes the hub has nothing for.
	kctx, stopKeepAlive := h.keepAlive(ctx)
	res, digest, err := h.align(kctx)
	if kerr := stopKeepAlive(); kerr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = kerr // the cause; the other errors are its cancellation
	}
	if err != nil {
		return nil, err
	}
	// 5. Commit: every spoke confirmed the same list.
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range h.links {
		g.Go(func() error { return l.send(gctx, kindAlignCommit, digest) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return res, nil
}

// hellos exchanges hellos with every spoke and sets the largest minimum.
func (h *alignHub) hellos(ctx context.Context) error {
	mins := make([]uint64, len(h.links))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range h.links {
		g.Go(func() error {
			theirs, err := l.exchangeHello(gctx, h.o.hello(h.parties, h.self, l.peer, 0))
			if err != nil {
				return err
			}
			mins[i] = theirs.MinIntersection
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, m := range mins {
		h.minimum = max(h.minimum, m)
	}
	return nil
}

// keepAlive sends a keep-alive to every waiting spoke every interval until
// the returned stop is called; stop returns the first failed send, which
// also cancels the returned context.
func (h *alignHub) keepAlive(ctx context.Context) (context.Context, func() error) {
	kctx, cancel := context.WithCancelCause(ctx)
	var g errgroup.Group
	for _, l := range h.links {
		g.Go(func() error {
			t := time.NewTicker(h.o.keepAliveEvery())
			defer t.Stop()
			for {
				select {
				case <-kctx.Done():
					return nil
				case <-t.C:
				}
				if err := l.keepAlive(kctx); err != nil {
					if kctx.Err() != nil {
						return nil // stopped meanwhile
					}
					cancel(err)
					return err
				}
			}
		})
	}
	return kctx, func() error {
		cancel(nil)
		return g.Wait()
	}
}

// align runs the pairs, intersects and releases the list; it returns the
// result and the list's digest, which every spoke has confirmed.
func (h *alignHub) align(ctx context.Context) (*AlignResult, []byte, error) {
	rows, err := h.pairs(ctx)
	if err != nil {
		return nil, nil, err
	}
	res := &AlignResult{LocalSize: h.table.Len(), Pairwise: map[string]int{}}
	for i, l := range h.links {
		res.Pairwise[l.peer] = len(rows[i])
	}
	if res.Keys, err = h.intersect(rows); err != nil {
		return nil, nil, err
	}
	if uint64(len(res.Keys)) < h.minimum {
		return nil, nil, fmt.Errorf("%w (k-way intersection of %d parties; largest minimum %d)", ErrBelowMinimum, len(h.parties), h.minimum)
	}
	digest, err := h.release(ctx, res.Keys)
	if err != nil {
		return nil, nil, err
	}
	return res, digest, nil
}

// pairs runs the two-party PSI with every spoke concurrently, the hub as
// receiver A, and returns the hub's rows in each pairwise intersection.
// Each pair enforces the largest minimum of all parties: the hub learns no
// pairwise intersection smaller than that.
func (h *alignHub) pairs(ctx context.Context) ([][]int, error) {
	rows := make([][]int, len(h.links))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range h.links {
		g.Go(func() error {
			res, err := RunReceiver(gctx, psiConn{l}, h.table, h.o.pair(l.peer, h.minimum))
			if err != nil {
				return fmt.Errorf("psi: align: PSI with %s: %w", l.peer, err)
			}
			rows[i] = res.Rows
			l.setWaiting(true)
			return nil
		})
	}
	return rows, g.Wait()
}

// intersect intersects the pairwise rows (each ascending) and returns the
// keys of the k-way intersection, copied into one buffer, sorted.
func (h *alignHub) intersect(rows [][]int) ([][]byte, error) {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b []int) int { return len(a) - len(b) })
	cur := slices.Clone(rows[0])
	for _, r := range rows[1:] {
		cur = intersectSorted(cur, r)
	}
	total := 0
	for _, row := range cur {
		n := len(h.table.Key(row))
		if n > maxAlignKeyBytes {
			return nil, fmt.Errorf("psi: align: a key of the intersection has %d bytes, more than the limit %d", n, maxAlignKeyBytes)
		}
		total += n
	}
	buf := make([]byte, 0, total)
	keys := make([][]byte, len(cur))
	for i, row := range cur {
		start := len(buf)
		buf = append(buf, h.table.Key(row)...)
		keys[i] = buf[start:len(buf):len(buf)]
	}
	slices.SortFunc(keys, bytes.Compare)
	for i := 1; i < len(keys); i++ {
		if bytes.Equal(keys[i-1], keys[i]) {
			return nil, errors.New("psi: align: the hub's key set holds a key twice; deduplicate it before the run")
		}
	}
	return keys, nil
}

// intersectSorted keeps the elements of a (ascending) that are in b
// (ascending), in place.
func intersectSorted(a, b []int) []int {
	out, j := a[:0], 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			out = append(out, x)
		}
	}
	return out
}

// release sends every spoke the outcome and the list, and waits for each
// spoke's confirmation of the list's digest.
func (h *alignHub) release(ctx context.Context, keys [][]byte) ([]byte, error) {
	digest := listDigest(h.o.JobID, keys)
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range h.links {
		g.Go(func() error {
			cuts := cutBatches(keys, l.batch)
			out := alignOutcome{status: outcomeReleased, count: uint64(len(keys)), batches: uint32(len(cuts) - 1)}
			l.setWaiting(false)
			if err := l.sendFrame(gctx, out.frame()); err != nil {
				return err
			}
			for b := range len(cuts) - 1 {
				if err := l.sendFrame(gctx, keyBatchFrame(b, keys[cuts[b]:cuts[b+1]])); err != nil {
					return err
				}
			}
			p, err := l.expect(gctx, kindAlignConfirm, sha256.Size, false)
			if err != nil {
				return err
			}
			if !bytes.Equal(p, digest) {
				return fmt.Errorf("psi: align: %s confirmed a different list", l.peer)
			}
			l.setWaiting(true)
			return nil
		})
	}
	return digest, g.Wait()
}

// cutBatches splits the list into batches of at most batchSize keys and
// maxListBatchBytes bytes; batch b is keys[cuts[b]:cuts[b+1]].
func cutBatches(keys [][]byte, batchSize int) []int {
	cuts := []int{0}
	size := batchHeader
	for i, k := range keys {
		n := uvarintLen(uint64(len(k))) + len(k)
		if last := cuts[len(cuts)-1]; i > last && (i-last == batchSize || size+n > maxListBatchBytes) {
			cuts = append(cuts, i)
			size = batchHeader
		}
		size += n
	}
	if len(keys) > 0 {
		cuts = append(cuts, len(keys))
	}
	return cuts
}

// keyBatchFrame encodes batch index of the list: the index and the number
// of keys (uint32, little-endian), then each key as a uvarint length and
// its bytes.
func keyBatchFrame(index int, keys [][]byte) []byte {
	size := 1 + batchHeader
	for _, k := range keys {
		size += uvarintLen(uint64(len(k))) + len(k)
	}
	b := make([]byte, 0, size)
	b = append(b, kindAlignKeys)
	b = binary.LittleEndian.AppendUint32(b, uint32(index))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// decodeKeyBatch parses a batch payload (the kind byte stripped) of at
// most maxKeys keys, strictly: canonical lengths, no trailing bytes. The
// keys alias p.
func decodeKeyBatch(p []byte, maxKeys int) (index int, keys [][]byte, err error) {
	if len(p) < batchHeader {
		return 0, nil, fmt.Errorf("batch of %d bytes, shorter than its header", len(p))
	}
	index = int(binary.LittleEndian.Uint32(p))
	n := binary.LittleEndian.Uint32(p[4:])
	if n == 0 || n > uint32(maxKeys) || int(n) > len(p)-batchHeader { // a key takes at least its length byte
		return index, nil, fmt.Errorf("batch of %d keys in %d bytes, want 1 to %d keys", n, len(p), maxKeys)
	}
	keys = make([][]byte, n)
	off := batchHeader
	for i := range keys {
		v, m := binary.Uvarint(p[off:])
		switch {
		case m <= 0 || m != uvarintLen(v):
			return index, nil, fmt.Errorf("key %d: malformed length", i)
		case v > maxAlignKeyBytes:
			return index, nil, fmt.Errorf("key %d: %d bytes, more than the limit %d", i, v, maxAlignKeyBytes)
		case uint64(len(p)-off-m) < v:
			return index, nil, fmt.Errorf("key %d: truncated", i)
		}
		off += m
		keys[i] = p[off : off+int(v) : off+int(v)]
		off += int(v)
	}
	if off != len(p) {
		return index, nil, fmt.Errorf("%d bytes after the last key", len(p)-off)
	}
	return index, keys, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// listDigest is SHA-256 over the job and the list, as the spoke computes
// it while the list arrives.
func listDigest(job string, keys [][]byte) []byte {
	d := newListHash(job, uint64(len(keys)))
	for _, k := range keys {
		addListKey(d, k)
	}
	return d.Sum(nil)
}

func newListHash(job string, count uint64) hash.Hash {
	d := sha256.New()
	d.Write([]byte("mitai/v1/psi/align\x00" + job + "\x00"))
	d.Write(binary.LittleEndian.AppendUint64(nil, count))
	return d
}

func addListKey(d hash.Hash, k []byte) {
	d.Write(binary.AppendUvarint(nil, uint64(len(k))))
	d.Write(k)
}

// listReader checks the hub's list as it arrives, batch by batch: counts,
// sizes, strictly increasing order, and that every key is one of ours.
type listReader struct {
	table     Table
	own       []uint32 // our rows, sorted by key
	pos       int      // own[pos:] are the keys above the last one listed
	batchSize int
	count     int // keys announced
	batches   int // batches announced
	next      int // the next batch's index
	keys      [][]byte
	digest    hash.Hash
}

// newListReader checks a released outcome against what the list can be:
// no longer than either set, not below our own minimum, and in as many
// batches as its size allows.
func newListReader(out alignOutcome, job string, table Table, own []uint32, hubSize int, minimum uint64, batchSize int) (*listReader, error) {
	if limit := min(len(own), hubSize); out.count > uint64(limit) {
		return nil, fmt.Errorf("the hub announces %d keys, more than the smaller set holds (%d)", out.count, limit)
	}
	if out.count < minimum {
		return nil, fmt.Errorf("the hub released %d keys, below our policy minimum of %d", out.count, minimum)
	}
	count, batches := int(out.count), int(out.batches)
	if batches > count || batches < (count+batchSize-1)/batchSize {
		return nil, fmt.Errorf("the hub announces %d batches for %d keys of at most %d a batch", batches, count, batchSize)
	}
	return &listReader{table: table, own: own, batchSize: batchSize, count: count, batches: batches,
		keys: make([][]byte, 0, count), digest: newListHash(job, out.count)}, nil
}

func (r *listReader) done() bool { return r.next == r.batches }

// add checks and keeps the next batch. Errors name list positions, never
// a key.
func (r *listReader) add(p []byte) error {
	if r.done() {
		return errors.New("a batch beyond the announced ones")
	}
	index, keys, err := decodeKeyBatch(p, r.batchSize)
	if err != nil {
		return err
	}
	if index != r.next {
		return fmt.Errorf("batch %d where batch %d was due", index, r.next)
	}
	// Every batch after this one holds at least one key.
	if rest := r.batches - 1 - r.next; len(r.keys)+len(keys) > r.count-rest {
		return fmt.Errorf("batch %d holds %d keys, more than the announced %d allow", index, len(keys), r.count)
	}
	if r.next == r.batches-1 && len(r.keys)+len(keys) != r.count {
		return fmt.Errorf("the list ends after %d keys, %d were announced", len(r.keys)+len(keys), r.count)
	}
	for _, k := range keys {
		at := len(r.keys)
		if at > 0 && bytes.Compare(r.keys[at-1], k) >= 0 {
			return fmt.Errorf("key %d of the list is not above the one before (unsorted or duplicate)", at)
		}
		// The list ascends, so one walk over our sorted keys checks all.
		for r.pos < len(r.own) && bytes.Compare(r.table.Key(int(r.own[r.pos])), k) < 0 {
			r.pos++
		}
		if r.pos == len(r.own) || !bytes.Equal(r.table.Key(int(r.own[r.pos])), k) {
			return fmt.Errorf("key %d of the list is not one of ours", at)
		}
		r.pos++
		addListKey(r.digest, k)
		r.keys = append(r.keys, k)
	}
	r.next++
	return nil
}

// sortedRows returns table's rows ordered by key.
func sortedRows(table Table) []uint32 {
	rows := make([]uint32, table.Len())
	for i := range rows {
		rows[i] = uint32(i)
	}
	slices.SortFunc(rows, func(a, b uint32) int { return bytes.Compare(table.Key(int(a)), table.Key(int(b))) })
	return rows
}

// RunAlignSpoke runs a spoke of a k-party alignment with key set table over
// its one connection to the hub. It returns the k-way intersection once
// every spoke has confirmed the same list; it checks the list strictly
// (counts, sizes, strictly increasing order, every key one of its own).
func RunAlignSpoke(ctx context.Context, self string, hub protocol.Conn, table Table, opts AlignOptions) (res *AlignResult, err error) {
	o, parties, err := opts.check(self, false)
	if err != nil {
		return nil, err
	}
	if hub == nil {
		return nil, fmt.Errorf("psi: align: no connection to the hub %s", o.Hub)
	}
	n := table.Len()
	if n > MaxSetSize {
		return nil, fmt.Errorf("psi: %d keys, more than the limit %d", n, MaxSetSize)
	}
	l := &alignLink{peer: o.Hub, conn: hub, idle: o.IdleTimeout}
	defer func() {
		// Tell the hub why we stop, unless it stopped us or the minimum did.
		if err != nil && !errors.Is(err, errAlignStopped) && !errors.Is(err, ErrBelowMinimum) {
			l.stop(stopOutcome(err, 0).frame(), o.stopGrace(), false)
		}
	}()

	// Sort our keys while the PSI runs: the list check walks them in order.
	var own []uint32
	var pair *Result
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		own = sortedRows(table)
		return nil
	})
	g.Go(func() error {
		_, err := l.exchangeHello(gctx, o.hello(parties, self, o.Hub, o.MinIntersection))
		if err != nil {
			return err
		}
		if pair, err = RunSender(gctx, psiConn{l}, table, o.pair(self, o.MinIntersection)); err != nil {
			return fmt.Errorf("psi: align: PSI with the hub %s: %w", l.peer, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	p, err := l.expect(ctx, kindAlignOutcome, outcomeHeader+maxReasonBytes, true)
	if err != nil {
		return nil, err
	}
	out, err := decodeOutcome(p)
	if err != nil {
		return nil, fmt.Errorf("psi: align: %s sent a %w", l.peer, err)
	}
	if out.status != outcomeReleased {
		return nil, stopError(l.peer, p)
	}
	lr, err := newListReader(out, o.JobID, table, own, pair.PeerSize, o.MinIntersection, l.batch)
	if err != nil {
		return nil, fmt.Errorf("psi: align: %w", err)
	}
	for !lr.done() {
		p, err := l.expect(ctx, kindAlignKeys, maxListBatchBytes, false)
		if err != nil {
			return nil, err
		}
		if err := lr.add(p); err != nil {
			return nil, fmt.Errorf("psi: align: the hub's list: %w", err)
		}
	}
	digest := lr.digest.Sum(nil)
	if err := l.send(ctx, kindAlignConfirm, digest); err != nil {
		return nil, err
	}
	p, err = l.expect(ctx, kindAlignCommit, sha256.Size, true)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, digest) {
		return nil, fmt.Errorf("psi: align: %s committed a different list", l.peer)
	}
	return &AlignResult{Keys: lr.keys, LocalSize: n}, nil
}
