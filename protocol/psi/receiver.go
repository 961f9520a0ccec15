package psi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/mitai-dev/mitai/crypto/group"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// ErrBelowMinimum reports that the intersection was smaller than a party's
// policy allows; nothing was released.
var ErrBelowMinimum = errors.New("psi: intersection below the minimum size a policy allows; nothing released")

// receiver is the state of role A.
type receiver struct {
	*session
	table     Table
	a         group.Scalar
	perm      []uint32 // shuffled position -> row
	vDigests  []byte   // trunc(U_p^b) by shuffled position p (B's order in cardinality mode)
	wElements []byte   // join: W_p = U_p^c by shuffled position p
	zDigests  []byte   // trunc(Z_j^a) by the sender's position j
	sealed    [][]byte // join: E_j by the sender's position j
}

// RunReceiver runs role A, the receiver, with key set table over conn and
// returns what A learned. See the package documentation for the flow.
func RunReceiver(ctx context.Context, conn protocol.Conn, table Table, opts Options) (*Result, error) {
	ss, err := openSession(ctx, conn, table, opts)
	if err != nil {
		return nil, err
	}
	o := ss.o
	a, err := o.Group.NewScalar(o.Rand)
	if err != nil {
		return nil, fmt.Errorf("psi: draw scalar: %w", err)
	}
	defer a.Erase()
	rng, err := newShuffler(o.Rand)
	if err != nil {
		return nil, err
	}
	r := &receiver{session: ss, table: table, a: a, perm: permutation(rng, ss.n)}
	r.vDigests = make([]byte, r.n*r.ds)
	r.zDigests = make([]byte, r.peerN*r.ds)
	if o.Mode == Join {
		r.wElements = make([]byte, r.n*r.es)
		r.sealed = make([][]byte, r.peerN)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.sendBlinded(gctx) })
	g.Go(func() error { return r.receiveLists(gctx) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return r.finish(ctx)
}

// sendBlinded sends U_p = H(x_perm[p])^a in batches.
func (r *receiver) sendBlinded(ctx context.Context) error {
	dst := r.o.dst()
	for k := range batches(r.n, r.o.BatchSize) {
		lo, hi := k*r.o.BatchSize, min((k+1)*r.o.BatchSize, r.n)
		elems := make([]byte, (hi-lo)*r.es)
		err := parallel(ctx, r.o.Workers, hi-lo, func(from, to int) error {
			for i := from; i < to; i++ {
				if err := r.a.HashMul(elems[i*r.es:(i+1)*r.es], r.table.Key(int(r.perm[lo+i])), dst); err != nil {
					return fmt.Errorf("psi: blind key: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		b := &mitaiv1.PsiBatch{Kind: mitaiv1.PsiBatchKind_PSI_BATCH_KIND_BLINDED, Index: uint32(k), Elements: elems}
		if err := r.w.send(ctx, batchMsg(b)); err != nil {
			return err
		}
	}
	return nil
}

// receiveLists receives the double-blinded list and the sender's set, in
// whatever interleaving the sender chose, each list in order.
func (r *receiver) receiveLists(ctx context.Context) error {
	bs := r.o.BatchSize
	nv, nz := batches(r.n, bs), batches(r.peerN, bs)
	vNext, zNext := 0, 0
	for vNext < nv || zNext < nz {
		m, err := r.w.recv(ctx)
		if err != nil {
			return err
		}
		b := m.GetBatch()
		if b == nil {
			return fmt.Errorf("psi: expected a batch, peer sent %T", m.Body)
		}
		switch {
		case b.Kind == mitaiv1.PsiBatchKind_PSI_BATCH_KIND_DOUBLE_BLINDED && vNext < nv:
			s := shapeOf(b.Kind, vNext, r.n, bs)
			s.digestSize = r.ds
			if r.o.Mode == Join {
				s.elementSize = r.es
			}
			if err := s.check(b); err != nil {
				return err
			}
			copy(r.vDigests[vNext*bs*r.ds:], b.Digests)
			if r.o.Mode == Join {
				copy(r.wElements[vNext*bs*r.es:], b.Elements)
			}
			vNext++
		case b.Kind == mitaiv1.PsiBatchKind_PSI_BATCH_KIND_SENDER_SET && zNext < nz:
			s := shapeOf(b.Kind, zNext, r.peerN, bs)
			s.elementSize = r.es
			s.payloads = r.o.Mode == Join
			if err := s.check(b); err != nil {
				return err
			}
			if err := r.absorbSenderBatch(ctx, zNext*bs, b); err != nil {
				return fmt.Errorf("psi: batch %d of the sender set: %w", zNext, err)
			}
			zNext++
		default:
			return fmt.Errorf("psi: unexpected batch %d of %v (have %d/%d double-blinded, %d/%d sender batches)", b.Index, b.Kind, vNext, nv, zNext, nz)
		}
	}
	return nil
}

// absorbSenderBatch computes trunc(Z_j^a) for a batch starting at position base.
func (r *receiver) absorbSenderBatch(ctx context.Context, base int, b *mitaiv1.PsiBatch) error {
	count := len(b.Elements) / r.es
	err := parallel(ctx, r.o.Workers, count, func(from, to int) error {
		tmp := make([]byte, r.es)
		for i := from; i < to; i++ {
			if err := r.a.Mul(tmp, b.Elements[i*r.es:(i+1)*r.es]); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
			truncDigest(r.zDigests[(base+i)*r.ds:(base+i+1)*r.ds], tmp)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, p := range b.Payloads {
		r.sealed[base+i] = p
	}
	return nil
}

// match pairs a receiver position with a sender position.
type match struct{ p, j uint32 }

// finish matches the lists, enforces the minimum, opens payloads and tells
// the sender the outcome.
func (r *receiver) finish(ctx context.Context) (*Result, error) {
	idx := newDigestIndex(r.zDigests, r.ds)
	var matches []match
	for p := range r.n {
		if j := idx.find(r.vDigests[p*r.ds : (p+1)*r.ds]); j >= 0 {
			matches = append(matches, match{uint32(p), uint32(j)})
		}
	}
	res := &Result{LocalSize: r.n, PeerSize: r.peerN, SizeKnown: true, IntersectionSize: len(matches)}

	if minimum := max(r.o.MinIntersection, r.peerMin); uint64(len(matches)) < minimum {
		out := &mitaiv1.PsiOutcome{Released: false, Reason: fmt.Sprintf("intersection below the policy minimum of %d", minimum)}
		if err := r.w.send(ctx, &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Outcome{Outcome: out}}); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w (minimum %d)", ErrBelowMinimum, minimum)
	}

	if r.o.Mode != Cardinality {
		if err := r.collectRows(ctx, res, matches); err != nil {
			return nil, err
		}
	}

	out := &mitaiv1.PsiOutcome{Released: true}
	var positions []uint32
	if r.o.BothReceive {
		out.IntersectionSize = uint64(len(matches))
		if r.o.Mode == Intersection {
			positions = make([]uint32, len(matches))
			for i, mt := range matches {
				positions[i] = mt.j
			}
			slices.Sort(positions) // the sender's order, so nothing of ours shows
			out.MatchBatches = uint32(batches(len(positions), r.o.BatchSize))
		}
	}
	if err := r.w.send(ctx, &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Outcome{Outcome: out}}); err != nil {
		return nil, err
	}
	for k := range int(out.MatchBatches) {
		chunk := positions[k*r.o.BatchSize : min((k+1)*r.o.BatchSize, len(positions))]
		buf := make([]byte, 0, 4*len(chunk))
		for _, q := range chunk {
			buf = binary.LittleEndian.AppendUint32(buf, q)
		}
		msg := &mitaiv1.PsiMessage{Body: &mitaiv1.PsiMessage_Matches{Matches: &mitaiv1.PsiMatches{Index: uint32(k), Positions: buf}}}
		if err := r.w.send(ctx, msg); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// collectRows fills res.Rows (and res.Payloads in join mode) in row order.
func (r *receiver) collectRows(ctx context.Context, res *Result, matches []match) error {
	slices.SortFunc(matches, func(x, y match) int { return int(r.perm[x.p]) - int(r.perm[y.p]) })
	res.Rows = make([]int, len(matches))
	for i, mt := range matches {
		res.Rows[i] = int(r.perm[mt.p])
	}
	if r.o.Mode != Join {
		return nil
	}
	inv := r.a.Inverse()
	defer inv.Erase()
	res.Payloads = make([][]byte, len(matches))
	return parallel(ctx, r.o.Workers, len(matches), func(from, to int) error {
		elem := make([]byte, r.es)
		for i := from; i < to; i++ {
			mt := matches[i]
			// H(x)^c = W^(1/a): the key only a matching key can derive.
			if err := inv.Mul(elem, r.wElements[int(mt.p)*r.es:(int(mt.p)+1)*r.es]); err != nil {
				return fmt.Errorf("psi: double-blinded element %d: %w", mt.p, err)
			}
			p, err := openPayload(elem, r.sealed[mt.j], r.o.JobID, int(mt.j))
			if err != nil {
				return err
			}
			res.Payloads[i] = p
		}
		return nil
	})
}
