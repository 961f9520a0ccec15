package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol"
)

// A multi-party task runs over a full mesh of Peer.Task streams, one per
// pair of participants. The participant with the lower index dials: the
// initiator (index 0) dials every other participant, and participant i
// dials participants i+1..k-1 once it has accepted the task. Participant i
// thus receives i offers; the first one creates its session (the checks of
// its own policy, the coordinator's fencing, a task slot) and the others
// join it. The protocol runs once every stream is up. Dialling only upward
// means no two nodes wait on each other to accept.

// session is this node's side of one attempt of a multi-party task.
type session struct {
	e    *Executor
	spec *mitaiv1.TaskSpec
	plan *groupPlan
	info *mitaiv1.DatasetInfo

	mu       sync.Mutex
	incoming map[string]*peerConn // streams peers opened, by party
	all      chan struct{}        // closed when every expected incoming stream is here
	done     chan struct{}        // closed when the session ended and its streams are closed
	err      error
}

func sessionKey(spec *mitaiv1.TaskSpec) string {
	return fmt.Sprintf("%s/%s/%d", spec.JobId, spec.TaskId, spec.Attempt)
}

// endedTTL is how long a node remembers an ended session, so that a late
// offer for it is refused instead of starting it again.
const endedTTL = 10 * time.Minute

// runGroup runs a multi-party task with this node as its initiator.
func (e *Executor) runGroup(ctx context.Context, spec *mitaiv1.TaskSpec) (*mitaiv1.TaskReport, error) {
	pl, err := planGroup(spec, e.party)
	if err != nil {
		return nil, err
	}
	if pl.self != 0 {
		return nil, fmt.Errorf("this node (party %q) must be the task's first participant to start it", e.party)
	}
	info, err := e.checkGroupLocal(pl)
	if err != nil {
		return nil, err
	}
	release, err := e.acquire(ctx, true)
	if err != nil {
		return nil, err
	}
	defer release()
	s, err := e.register(spec, pl, info)
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.taskContext(ctx, spec)
	defer cancel()
	return s.run(ctx)
}

// serveGroup answers one offer of a multi-party task: the first offer of
// an attempt starts this node's session, later ones join it. It returns
// when the session has ended.
func (e *Executor) serveGroup(ctx context.Context, caller string, spec *mitaiv1.TaskSpec, stream frameStream) error {
	refuse := func(err error) error {
		e.log.Warn("task refused", "job", spec.JobId, "task", spec.TaskId, "peer", caller, "err", err)
		e.metrics.taskDone(spec.Kind, "refused")
		_ = stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Answer{Answer: &mitaiv1.TaskAnswer{Reason: err.Error()}}})
		return nil
	}
	s, err := e.joinOrStart(ctx, caller, spec)
	if err != nil {
		return refuse(err)
	}
	if err := stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Answer{Answer: &mitaiv1.TaskAnswer{Accepted: true}}}); err != nil {
		return err
	}
	conn := newPeerConn(stream, nil)
	s.attach(caller, conn)
	select {
	case <-s.done:
	case <-ctx.Done():
		// The stream ended under us; the session sees its conn fail.
		<-s.done
	}
	return s.err
}

// joinOrStart finds the session of an offered attempt, or starts it when
// this is the attempt's first offer.
func (e *Executor) joinOrStart(ctx context.Context, caller string, spec *mitaiv1.TaskSpec) (*session, error) {
	pl, err := planGroup(spec, e.party)
	if err != nil {
		return nil, err
	}
	from := -1
	for i, p := range pl.parties {
		if p == caller {
			from = i
		}
	}
	if from < 0 || from >= pl.self {
		return nil, fmt.Errorf("party %q may not offer this task to participant %d (%s): only lower-numbered participants dial", caller, pl.self, e.party)
	}
	key := sessionKey(spec)
	e.sessMu.Lock()
	if s, ok := e.sessions[key]; ok {
		e.sessMu.Unlock()
		if !proto.Equal(s.spec, spec) {
			return nil, fmt.Errorf("%s offered attempt %d of task %s.%s with a spec that differs from the other participants'", caller, spec.Attempt, spec.JobId, spec.TaskId)
		}
		return s, s.expect(caller)
	}
	if _, ok := e.ended[key]; ok {
		e.sessMu.Unlock()
		return nil, fmt.Errorf("attempt %d of task %s.%s has ended on this node", spec.Attempt, spec.JobId, spec.TaskId)
	}
	e.sessMu.Unlock()

	if spec.Scheduled {
		if e.fence == nil {
			return nil, errors.New("a scheduled task, but this node has no coordinator to confirm it with")
		}
		if err := e.fence(ctx, spec); err != nil {
			return nil, err
		}
	}
	info, err := e.checkGroupLocal(pl)
	if err != nil {
		return nil, err
	}
	release, err := e.acquire(ctx, false)
	if err != nil {
		return nil, err
	}
	s, err := e.register(spec, pl, info)
	if err != nil {
		release()
		// Another offer of the same attempt started it meanwhile.
		e.sessMu.Lock()
		s, ok := e.sessions[key]
		e.sessMu.Unlock()
		if ok && proto.Equal(s.spec, spec) {
			return s, s.expect(caller)
		}
		return nil, err
	}
	go func() {
		defer release()
		// The session outlives the stream of the offer that started it.
		sctx, cancel := e.taskContext(context.WithoutCancel(ctx), spec)
		defer cancel()
		finish := func(*mitaiv1.TaskReport, error) {}
		if spec.Scheduled && e.track != nil {
			sctx, finish = e.track(sctx, spec)
		}
		report, err := s.run(sctx)
		finish(report, err)
	}()
	return s, s.expect(caller)
}

// register records a new session; it fails if the attempt has one.
func (e *Executor) register(spec *mitaiv1.TaskSpec, pl *groupPlan, info *mitaiv1.DatasetInfo) (*session, error) {
	key := sessionKey(spec)
	e.sessMu.Lock()
	defer e.sessMu.Unlock()
	if e.sessions == nil {
		e.sessions, e.ended = map[string]*session{}, map[string]time.Time{}
	}
	if _, ok := e.sessions[key]; ok {
		return nil, fmt.Errorf("attempt %d of task %s.%s already runs on this node", spec.Attempt, spec.JobId, spec.TaskId)
	}
	if _, ok := e.ended[key]; ok {
		return nil, fmt.Errorf("attempt %d of task %s.%s has ended on this node", spec.Attempt, spec.JobId, spec.TaskId)
	}
	s := &session{
		e: e, spec: proto.Clone(spec).(*mitaiv1.TaskSpec), plan: pl, info: info,
		incoming: map[string]*peerConn{}, all: make(chan struct{}), done: make(chan struct{}),
	}
	if pl.self == 0 {
		close(s.all)
	}
	e.sessions[key] = s
	return s, nil
}

// expect checks that caller may still open a stream to this session.
func (s *session) expect(caller string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.incoming[caller]; dup {
		return fmt.Errorf("%s already has a stream to this attempt", caller)
	}
	select {
	case <-s.done:
		return errors.New("the attempt has ended on this node")
	default:
	}
	return nil
}

// attach adds a peer's accepted stream; the last expected one lets the
// session run.
func (s *session) attach(caller string, c *peerConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		c.Close(0)
		return
	default:
	}
	if _, dup := s.incoming[caller]; dup {
		c.Close(0)
		return
	}
	s.incoming[caller] = c
	if len(s.incoming) == s.plan.self {
		close(s.all)
	}
}

// run dials the higher-numbered participants, waits for the lower-numbered
// ones, runs this party's role and closes every stream.
func (s *session) run(ctx context.Context) (report *mitaiv1.TaskReport, err error) {
	e := s.e
	conns := map[string]protocol.Conn{}
	type dialedPeer struct {
		stream *taskStream
		conn   *peerConn // nil until the peer accepted
	}
	var mu sync.Mutex // guards dialed and conns while dialling
	var dialed []*dialedPeer
	dctx, cancelDials := context.WithCancel(ctx)
	defer func() {
		linger := lingerAfter(err)
		// Our accepted streams first (a flush, then their handlers end the
		// streams), so that lower-numbered peers waiting on them can finish;
		// then the streams we opened, which wait for their servers.
		s.mu.Lock()
		select {
		case <-s.all:
		default:
			close(s.all)
		}
		incoming := s.incoming
		s.mu.Unlock()
		var cerr error
		for _, c := range incoming {
			if e := c.Close(linger); e != nil && cerr == nil {
				cerr = e
			}
		}
		var wg sync.WaitGroup
		for _, d := range dialed {
			if d.conn != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.conn.Close(linger)
				}()
			}
		}
		wg.Wait()
		cancelDials()
		for _, d := range dialed {
			if d.conn != nil {
				d.conn.wait()
			}
			d.stream.cc.Close()
		}
		if err == nil && cerr != nil {
			err, report = cerr, nil
		}
		s.err = err
		s.end()
	}()

	// Dial upward, concurrently.
	g, gctx := errgroup.WithContext(dctx)
	for _, p := range s.spec.Participants[s.plan.self+1:] {
		g.Go(func() error {
			if p.Address == "" {
				return fmt.Errorf("participant %q has no address", p.Party)
			}
			stream, err := e.dialer.openTask(dctx, p)
			if err != nil {
				return err
			}
			d := &dialedPeer{stream: stream}
			mu.Lock()
			dialed = append(dialed, d)
			mu.Unlock()
			if err := stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Offer{Offer: s.spec}}); err != nil {
				return fmt.Errorf("offer the task to %s: %w", p.Party, err)
			}
			answer, err := recvFrame(gctx, stream.Recv, e.idleTimeout)
			if err != nil {
				return fmt.Errorf("wait for %s to accept the task: %w", p.Party, err)
			}
			a := answer.GetAnswer()
			if a == nil {
				return fmt.Errorf("%s answered the offer with a %T frame", p.Party, answer.Kind)
			}
			if !a.Accepted {
				return fmt.Errorf("%s refused the task: %s", p.Party, a.Reason)
			}
			mu.Lock()
			d.conn = newPeerConn(stream, stream.CloseSend)
			conns[p.Party] = d.conn
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Wait for the lower-numbered participants, giving up early when a
	// peer already connected goes away (it failed before the protocol
	// started, and the missing ones may never come).
	timer := time.NewTimer(e.idleTimeout)
	defer timer.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
wait:
	for {
		select {
		case <-s.all:
			break wait
		case <-timer.C:
			return nil, fmt.Errorf("participants %v did not all connect within %v", s.missing(), e.idleTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-poll.C:
			if p := s.gone(conns); p != "" {
				return nil, fmt.Errorf("%s closed its stream before participants %v connected", p, s.missing())
			}
		}
	}
	s.mu.Lock()
	for p, c := range s.incoming {
		conns[p] = c
	}
	s.mu.Unlock()
	if len(conns) != len(s.plan.parties)-1 {
		return nil, fmt.Errorf("participants %v did not all connect", s.missing())
	}
	return e.executeGroup(ctx, s.spec, s.plan, s.info, conns)
}

// gone names a connected peer whose stream has ended, if any: one of the
// streams we dialled (in conns) or one a peer opened.
func (s *session) gone(conns map[string]protocol.Conn) string {
	for p, c := range conns {
		if pc, ok := c.(*peerConn); ok && pc.ended() {
			return p
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, c := range s.incoming {
		if c.ended() {
			return p
		}
	}
	return ""
}

// missing lists the lower-numbered participants not yet connected.
func (s *session) missing() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.plan.parties[:s.plan.self] {
		if _, ok := s.incoming[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// end marks the session ended and forgets it, remembering its key for a
// while so that late offers are refused.
func (s *session) end() {
	e := s.e
	key := sessionKey(s.spec)
	now := time.Now()
	e.sessMu.Lock()
	delete(e.sessions, key)
	for k, t := range e.ended {
		if now.Sub(t) > endedTTL {
			delete(e.ended, k)
		}
	}
	e.ended[key] = now
	e.sessMu.Unlock()
	s.mu.Lock()
	close(s.done)
	s.mu.Unlock()
}
