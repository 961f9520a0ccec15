package psi

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/mitai-dev/mitai/crypto/group"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// sender is the state of role B.
type sender struct {
	*session
	table    Table
	payloads PayloadTable // join only
	b, c     group.Scalar // c: join only
	perm     []uint32     // shuffled position -> row
}

// RunSender runs role B, the sender, with key set table over conn and
// returns what B learned. In Join mode table must be a PayloadTable.
func RunSender(ctx context.Context, conn protocol.Conn, table Table, opts Options) (*Result, error) {
	var payloads PayloadTable
	if opts.Mode == Join {
		pt, ok := table.(PayloadTable)
		if !ok {
			return nil, fmt.Errorf("psi: join mode needs a table with payloads")
		}
		payloads = pt
	}
	ss, err := openSession(ctx, conn, table, opts)
	if err != nil {
		return nil, err
	}
	o := ss.o
	s := &sender{session: ss, table: table, payloads: payloads}
	if s.b, err = o.Group.NewScalar(o.Rand); err != nil {
		return nil, fmt.Errorf("psi: draw scalar: %w", err)
	}
	defer s.b.Erase()
	if o.Mode == Join {
		if s.c, err = o.Group.NewScalar(o.Rand); err != nil {
			return nil, fmt.Errorf("psi: draw scalar: %w", err)
		}
		defer s.c.Erase()
	}
	rng, err := newShuffler(o.Rand)
	if err != nil {
		return nil, err
	}
	s.perm = permutation(rng, s.n)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.sendSet(gctx) })
	g.Go(func() error { return s.answerBlinded(gctx, rng) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return s.finish(ctx)
}

// sendSet sends Z_q = H(y_perm[q])^b in batches, with the sealed payloads
// E_q in join mode.
func (s *sender) sendSet(ctx context.Context) error {
	dst := s.o.dst()
	bs := s.o.BatchSize
	for k := range batches(s.n, bs) {
		lo, hi := k*bs, min((k+1)*bs, s.n)
		b := &mitaiv1.PsiBatch{
			Kind:     mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET,
			Index:    uint32(k),
			Elements: make([]byte, (hi-lo)*s.es),
		}
		if s.payloads != nil {
			b.Payloads = make([][]byte, hi-lo)
		}
		err := parallel(ctx, s.o.Workers, hi-lo, func(from, to int) error {
			h := make([]byte, s.es)
			var plain []byte
			for i := from; i < to; i++ {
				row := int(s.perm[lo+i])
				key := s.table.Key(row)
				if err := s.b.HashMul(b.Elements[i*s.es:(i+1)*s.es], key, dst); err != nil {
					return fmt.Errorf("psi: blind key: %w", err)
				}
				if s.payloads == nil {
					continue
				}
				plain = s.payloads.AppendPayload(plain[:0], row)
				if len(plain) > MaxPayloadBytes {
					return fmt.Errorf("psi: row %d: payload of %d bytes exceeds the limit %d", row, len(plain), MaxPayloadBytes)
				}
				if err := s.c.HashMul(h, key, dst); err != nil { // H(y)^c, the payload key
					return fmt.Errorf("psi: blind key: %w", err)
				}
				sealed, err := sealPayload(nil, h, plain, s.o.JobID, lo+i)
				if err != nil {
					return err
				}
				b.Payloads[i] = sealed
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := s.w.send(ctx, batchMsg(b)); err != nil {
			return err
		}
	}
	return nil
}

// answerBlinded answers each batch of U_i with trunc(U_i^b) (and W_i = U_i^c
// in join mode). In cardinality mode it holds all digests back and sends
// them shuffled, so the receiver can count matches but not place them.
func (s *sender) answerBlinded(ctx context.Context, rng *rand.Rand) error {
	bs := s.o.BatchSize
	var held []byte
	if s.o.Mode == Cardinality {
		held = make([]byte, 0, s.peerN*s.ds)
	}
	for k := range batches(s.peerN, bs) {
		m, err := s.w.recv(ctx)
		if err != nil {
			return err
		}
		shape := shapeOf(mitaiv1.PsiBatchKind_PSI_BATCH_KIND_BLINDED, k, s.peerN, bs)
		shape.elementSize = s.es
		in := m.GetBatch()
		if err := shape.check(in); err != nil {
			return err
		}
		out := &mitaiv1.PsiBatch{
			Kind:    mitaiv1.PsiBatchKind_PSI_BATCH_KIND_DOUBLE_BLINDED,
			Index:   uint32(k),
			Digests: make([]byte, shape.count*s.ds),
		}
		if s.c != nil {
			out.Elements = make([]byte, shape.count*s.es)
		}
		err = parallel(ctx, s.o.Workers, shape.count, func(from, to int) error {
			tmp := make([]byte, s.es)
			for i := from; i < to; i++ {
				u := in.Elements[i*s.es : (i+1)*s.es]
				if err := s.b.Mul(tmp, u); err != nil {
					return fmt.Errorf("psi: batch %d of blinded keys: element %d: %w", k, i, err)
				}
				truncDigest(out.Digests[i*s.ds:(i+1)*s.ds], tmp)
				if s.c != nil {
					if err := s.c.Mul(out.Elements[i*s.es:(i+1)*s.es], u); err != nil {
						return fmt.Errorf("psi: batch %d of blinded keys: element %d: %w", k, i, err)
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if held != nil {
			held = append(held, out.Digests...)
			continue
		}
		if err := s.w.send(ctx, batchMsg(out)); err != nil {
			return err
		}
	}
	if held == nil {
		return nil
	}
	ds := s.ds
	rng.Shuffle(s.peerN, func(i, j int) {
		var t [16]byte
		copy(t[:ds], held[i*ds:(i+1)*ds])
		copy(held[i*ds:(i+1)*ds], held[j*ds:(j+1)*ds])
		copy(held[j*ds:(j+1)*ds], t[:ds])
	})
	for k := range batches(s.peerN, bs) {
		lo, hi := k*bs, min((k+1)*bs, s.peerN)
		out := &mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_DOUBLE_BLINDED, Index: uint32(k), Digests: held[lo*ds : hi*ds]}
		if err := s.w.send(ctx, batchMsg(out)); err != nil {
			return err
		}
	}
	return nil
}

// finish reads the receiver's outcome and, when both receive, the matched
// positions.
func (s *sender) finish(ctx context.Context) (*Result, error) {
	m, err := s.w.recv(ctx)
	if err != nil {
		return nil, err
	}
	out := m.GetOutcome()
	if out == nil {
		return nil, fmt.Errorf("psi: expected the outcome, peer sent %T", m.Body)
	}
	if !out.Released {
		return nil, fmt.Errorf("%w: receiver says %q", ErrBelowMinimum, out.Reason)
	}
	res := &Result{LocalSize: s.n, PeerSize: s.peerN}
	if !s.o.BothReceive {
		if out.IntersectionSize != 0 || out.MatchBatches != 0 {
			return nil, fmt.Errorf("psi: receiver sent a result the sender does not receive")
		}
		return res, nil
	}
	if out.IntersectionSize > uint64(min(s.n, s.peerN)) {
		return nil, fmt.Errorf("psi: receiver reports %d matches, more than the smaller set (%d)", out.IntersectionSize, min(s.n, s.peerN))
	}
	size := int(out.IntersectionSize)
	res.SizeKnown, res.IntersectionSize = true, size
	if s.o.Mode == Cardinality {
		if out.MatchBatches != 0 {
			return nil, fmt.Errorf("psi: receiver sent positions in cardinality mode")
		}
		return res, nil
	}
	if want := batches(size, s.o.BatchSize); int(out.MatchBatches) != want {
		return nil, fmt.Errorf("psi: receiver announces %d match batches for %d matches, want %d", out.MatchBatches, size, want)
	}
	res.Rows = make([]int, 0, size)
	last := -1
	for k := range int(out.MatchBatches) {
		m, err := s.w.recv(ctx)
		if err != nil {
			return nil, err
		}
		mb := m.GetMatches()
		want := min(s.o.BatchSize, size-k*s.o.BatchSize)
		if mb == nil || int(mb.Index) != k || len(mb.Positions) != 4*want {
			return nil, fmt.Errorf("psi: malformed match batch %d (want %d positions)", k, want)
		}
		for i := range want {
			q := int(binary.LittleEndian.Uint32(mb.Positions[4*i:]))
			if q <= last || q >= s.n {
				return nil, fmt.Errorf("psi: match batch %d: position %d out of order or out of range", k, q)
			}
			last = q
			res.Rows = append(res.Rows, int(s.perm[q]))
		}
	}
	slices.Sort(res.Rows)
	return res, nil
}
