package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Server is a replica serving the Coordinator API.
type Server struct {
	mitaiv1.UnimplementedCoordinatorServer
	cfg   Config
	log   *slog.Logger
	rep   *Replica
	grpc  *grpc.Server
	lis   net.Listener
	cert  tls.Certificate
	caPEM []byte

	mu    sync.Mutex
	peers map[string]*grpc.ClientConn // by API address, to other replicas

	sched     *scheduler
	stopSched context.CancelFunc
	schedDone chan struct{}

	metrics *metrics
	http    *http.Server // nil unless cfg.MetricsListen is set
}

// NewServer starts the replica and prepares its API server; Start listens.
func NewServer(cfg Config, log *slog.Logger) (*Server, error) {
	rep, err := NewReplica(cfg, log)
	if err != nil {
		return nil, err
	}
	cert, err := pki.LoadCredentials(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		rep.Shutdown()
		return nil, err
	}
	caPEM, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		rep.Shutdown()
		return nil, err
	}
	opts, err := mtls.ServerOptions(cert, caPEM)
	if err != nil {
		rep.Shutdown()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, rep: rep, cert: cert, caPEM: caPEM, peers: map[string]*grpc.ClientConn{}, schedDone: make(chan struct{})}
	s.metrics = newMetrics(rep)
	s.sched = newScheduler(s)
	s.grpc = grpc.NewServer(opts...)
	mitaiv1.RegisterCoordinatorServer(s.grpc, s)
	return s, nil
}

// Start listens on the replica's API address and serves in the background.
func (s *Server) Start() error {
	lis, err := net.Listen("tcp", s.cfg.self().API)
	if err != nil {
		return fmt.Errorf("coordinator: api listen: %w", err)
	}
	s.lis = lis
	if s.cfg.MetricsListen != "" {
		if err := s.serveHTTP(s.cfg.MetricsListen); err != nil {
			lis.Close()
			return err
		}
	}
	go func() { _ = s.grpc.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSched = cancel
	go func() { defer close(s.schedDone); s.sched.run(ctx) }()
	s.log.Info("coordinator replica serving", "id", s.cfg.ID, "api", lis.Addr().String(), "raft", s.cfg.self().Raft)
	return nil
}

// Replica returns the server's replica.
func (s *Server) Replica() *Replica { return s.rep }

// Stop stops serving and shuts the replica down.
func (s *Server) Stop() error {
	if s.stopSched != nil {
		s.stopSched()
		<-s.schedDone
	}
	s.grpc.Stop()
	if s.http != nil {
		_ = s.http.Close()
	}
	s.mu.Lock()
	for _, cc := range s.peers {
		cc.Close()
	}
	s.mu.Unlock()
	return s.rep.Shutdown()
}

// peer returns a client to another replica's API.
func (s *Server) peer(addr string) (mitaiv1.CoordinatorClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.peers[addr]; ok {
		return mitaiv1.NewCoordinatorClient(cc), nil
	}
	opts, err := mtls.DialOptions(s.cert, s.caPEM, addr, CoordinatorParty)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	s.peers[addr] = cc
	return mitaiv1.NewCoordinatorClient(cc), nil
}

// write sends a command to the leader (itself or by forwarding) and turns
// a rejection into a FAILED_PRECONDITION error.
func (s *Server) write(ctx context.Context, cmd *mitaiv1.Command) (*mitaiv1.ProposeResponse, error) {
	actor, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	cmd.Actor = actor
	// Ids are chosen once per client call: when a retry below re-sends a
	// command whose first send committed, the state answers with the first
	// result instead of applying it twice.
	cmd.RequestId = newID("req-")
	if sub := cmd.GetSubmitJob(); sub != nil {
		sub.JobId = newID("job-")
		sub.Seed = make([]byte, 32)
		if _, err := rand.Read(sub.Seed); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(s.cfg.LeaderHold)
	for {
		resp, err := s.writeOnce(ctx, cmd)
		if err == nil {
			if resp.Rejected != "" {
				return nil, status.Error(codes.FailedPrecondition, resp.Rejected)
			}
			return resp, nil
		}
		// Leadership moved under us: try the new leader until the hold ends.
		if !errors.Is(err, ErrNotLeader) && status.Code(err) != codes.Unavailable || time.Now().After(deadline) || ctx.Err() != nil {
			if errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) {
				return nil, status.Error(codes.Unavailable, err.Error())
			}
			return nil, err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *Server) writeOnce(ctx context.Context, cmd *mitaiv1.Command) (*mitaiv1.ProposeResponse, error) {
	if s.rep.IsLeader() {
		return s.proposeHere(ctx, cmd)
	}
	leader, err := s.rep.Leader(ctx)
	if err != nil {
		return nil, err
	}
	if leader.ID == s.cfg.ID {
		return s.proposeHere(ctx, cmd)
	}
	c, err := s.peer(leader.API)
	if err != nil {
		return nil, err
	}
	resp, err := c.Propose(ctx, &mitaiv1.ProposeRequest{Command: cmd})
	if status.Code(err) == codes.FailedPrecondition {
		return nil, fmt.Errorf("%w: %s", ErrNotLeader, status.Convert(err).Message())
	}
	return resp, err
}

// proposeHere proposes on this replica, the leader.
func (s *Server) proposeHere(ctx context.Context, cmd *mitaiv1.Command) (*mitaiv1.ProposeResponse, error) {
	res, err := s.propose(ctx, cmd)
	if errors.Is(err, state.ErrRejected) {
		return &mitaiv1.ProposeResponse{Rejected: strings.TrimPrefix(err.Error(), "state: ")}, nil
	}
	if err != nil {
		return nil, err
	}
	return &mitaiv1.ProposeResponse{Job: res.Job, Dataset: res.Dataset, Duplicate: res.Duplicate, AuditIndex: res.AuditIndex}, nil
}

// MaxCommandBytes bounds one command, so log entries stay well under the
// 512 KiB Raft suggests (a bigger entry stalls heartbeats behind it).
const MaxCommandBytes = 128 << 10

// propose proposes on the leader, times the commit, and wakes the
// scheduler when the command may have given it work.
func (s *Server) propose(ctx context.Context, cmd *mitaiv1.Command) (state.Result, error) {
	if n := proto.Size(cmd); n > MaxCommandBytes {
		return state.Result{}, status.Errorf(codes.InvalidArgument, "the command is %d KiB; a log entry is at most %d KiB", n>>10, MaxCommandBytes>>10)
	}
	start := time.Now()
	res, err := s.rep.Propose(ctx, cmd)
	if err == nil || errors.Is(err, state.ErrRejected) {
		s.metrics.commit.WithLabelValues(commandName(cmd)).Observe(time.Since(start).Seconds())
	}
	if err == nil {
		switch cmd.Body.(type) {
		case *mitaiv1.Command_SubmitJob, *mitaiv1.Command_ApproveJob, *mitaiv1.Command_TaskOutcome,
			*mitaiv1.Command_AbortAttempt, *mitaiv1.Command_RegisterNode:
			s.sched.wake()
		}
		if cmd.GetAbortAttempt() != nil || cmd.GetTaskOutcome().GetSigned().GetKind() == state.KindTaskOutcome {
			s.metrics.observeTask(res.Task)
		}
	}
	return res, err
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Propose implements the replica-to-leader forwarding call.
func (s *Server) Propose(ctx context.Context, req *mitaiv1.ProposeRequest) (*mitaiv1.ProposeResponse, error) {
	caller, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	if caller != CoordinatorParty {
		return nil, status.Errorf(codes.PermissionDenied, "only coordinator replicas may propose (caller %q)", caller)
	}
	if req.Command == nil {
		return nil, status.Error(codes.InvalidArgument, "no command")
	}
	if !s.rep.IsLeader() {
		return nil, status.Error(codes.FailedPrecondition, "not the leader")
	}
	resp, err := s.proposeHere(ctx, req.Command)
	if errors.Is(err, ErrNotLeader) {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return resp, err
}

// PublishDataset implements the API.
func (s *Server) PublishDataset(ctx context.Context, req *mitaiv1.PublishDatasetRequest) (*mitaiv1.CatalogDataset, error) {
	resp, err := s.write(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_PublishDataset{PublishDataset: &mitaiv1.PublishDatasetCommand{Info: req.Info}}})
	if err != nil {
		return nil, err
	}
	return resp.Dataset, nil
}

// SubmitJob implements the API.
func (s *Server) SubmitJob(ctx context.Context, req *mitaiv1.SubmitJobRequest) (*mitaiv1.SubmitJobResponse, error) {
	resp, err := s.write(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_SubmitJob{SubmitJob: &mitaiv1.SubmitJobCommand{Spec: req.Spec}}})
	if err != nil {
		return nil, err
	}
	return &mitaiv1.SubmitJobResponse{Job: resp.Job, Duplicate: resp.Duplicate}, nil
}

// ApproveJob implements the API.
func (s *Server) ApproveJob(ctx context.Context, req *mitaiv1.ApproveJobRequest) (*mitaiv1.Job, error) {
	resp, err := s.write(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_ApproveJob{ApproveJob: &mitaiv1.ApproveJobCommand{JobId: req.JobId}}})
	if err != nil {
		return nil, err
	}
	return resp.Job, nil
}

// CancelJob implements the API.
func (s *Server) CancelJob(ctx context.Context, req *mitaiv1.CancelJobRequest) (*mitaiv1.Job, error) {
	resp, err := s.write(ctx, &mitaiv1.Command{Body: &mitaiv1.Command_CancelJob{CancelJob: &mitaiv1.CancelJobCommand{JobId: req.JobId, Reason: req.Reason}}})
	if err != nil {
		return nil, err
	}
	return resp.Job, nil
}

// read serves a read: locally (stale) or, when consistent, on the leader
// after confirming leadership. When this replica is not the leader and the
// read must be consistent, it calls forward instead of local and returns a
// nil ReadInfo; the caller then uses what forward stored.
func (s *Server) read(ctx context.Context, opts *mitaiv1.ReadOptions, forward func(mitaiv1.CoordinatorClient) error, local func(*state.State)) (*mitaiv1.ReadInfo, error) {
	info := &mitaiv1.ReadInfo{Replica: s.cfg.ID, Stale: true}
	if opts.GetConsistent() {
		if !s.rep.IsLeader() {
			leader, err := s.rep.Leader(ctx)
			if err != nil {
				return nil, status.Error(codes.Unavailable, err.Error())
			}
			if leader.ID != s.cfg.ID {
				c, err := s.peer(leader.API)
				if err != nil {
					return nil, err
				}
				return nil, forward(c)
			}
		}
		if err := s.rep.Consistent(); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		info.Stale = false
	}
	info.AppliedIndex = s.rep.Status().AppliedIndex
	s.rep.Read(local)
	return info, nil
}

// involves reports whether party may see job j: its submitter and the
// owners of its datasets.
func involves(j *mitaiv1.Job, party string) bool {
	if j.Submitter == party {
		return true
	}
	return slices.ContainsFunc(j.Spec.GetParticipants(), func(p string) bool { return strings.HasPrefix(p, party+":") })
}

// GetJob implements the API. A replica forwarding a consistent read for a
// client sees every job; the forwarding replica filters for its client.
func (s *Server) GetJob(ctx context.Context, req *mitaiv1.GetJobRequest) (*mitaiv1.GetJobResponse, error) {
	caller, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	var fwd *mitaiv1.GetJobResponse
	var job *mitaiv1.Job
	var task *mitaiv1.Task
	info, err := s.read(ctx, req.Read,
		func(c mitaiv1.CoordinatorClient) (err error) { fwd, err = c.GetJob(ctx, req); return err },
		func(st *state.State) {
			job, _ = st.Job(req.JobId)
			task, _ = st.Task(state.TaskID(req.JobId))
		})
	if err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	if fwd != nil {
		job, info, task = fwd.Job, fwd.Read, fwd.Task
	}
	if job == nil || !(caller == CoordinatorParty || involves(job, caller)) {
		return nil, status.Errorf(codes.NotFound, "no job %s visible to %s", req.JobId, caller)
	}
	return &mitaiv1.GetJobResponse{Job: job, Read: info, Task: task}, nil
}

// ListJobs implements the API: the jobs the caller's party is involved in.
func (s *Server) ListJobs(ctx context.Context, req *mitaiv1.ListJobsRequest) (*mitaiv1.ListJobsResponse, error) {
	caller, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	var fwd *mitaiv1.ListJobsResponse
	var jobs []*mitaiv1.Job
	info, err := s.read(ctx, req.Read,
		func(c mitaiv1.CoordinatorClient) (err error) { fwd, err = c.ListJobs(ctx, req); return err },
		func(st *state.State) { jobs = st.Jobs() })
	if err != nil {
		return nil, err
	}
	if fwd != nil {
		jobs, info = fwd.Jobs, fwd.Read
	}
	resp := &mitaiv1.ListJobsResponse{Read: info}
	for _, j := range jobs {
		if caller == CoordinatorParty || involves(j, caller) {
			resp.Jobs = append(resp.Jobs, j)
		}
	}
	return resp, nil
}

// ListKeySets implements the API: the key sets are public metadata, listed
// to every party that holds a share.
func (s *Server) ListKeySets(ctx context.Context, req *mitaiv1.ListKeySetsRequest) (*mitaiv1.ListKeySetsResponse, error) {
	caller, err := mtls.CallerParty(ctx)
	if err != nil {
		return nil, err
	}
	var fwd *mitaiv1.ListKeySetsResponse
	var sets []*mitaiv1.KeySetInfo
	info, err := s.read(ctx, req.Read,
		func(c mitaiv1.CoordinatorClient) (err error) { fwd, err = c.ListKeySets(ctx, req); return err },
		func(st *state.State) { sets = st.KeySets() })
	if err != nil {
		return nil, err
	}
	if fwd != nil {
		sets, info = fwd.KeySets, fwd.Read
	}
	resp := &mitaiv1.ListKeySetsResponse{Read: info}
	for _, k := range sets {
		holds := caller == CoordinatorParty
		for _, p := range k.Participants {
			holds = holds || strings.HasPrefix(p, caller+":")
		}
		if holds {
			resp.KeySets = append(resp.KeySets, k)
		}
	}
	return resp, nil
}

// One AuditRange answer holds at most this many entries and, past its
// first entry, this many bytes; clients page with next.
const (
	maxAuditPageEntries = 4096
	maxAuditPageBytes   = 2 << 20
)

// AuditRange implements the API. Every party of the cluster may read the
// ledger: it holds metadata only, and it is there to be verified.
func (s *Server) AuditRange(ctx context.Context, req *mitaiv1.AuditRangeRequest) (*mitaiv1.AuditRangeResponse, error) {
	if _, err := mtls.CallerParty(ctx); err != nil {
		return nil, err
	}
	var fwd *mitaiv1.AuditRangeResponse
	var entries []*mitaiv1.AuditEntry
	var next uint64
	info, err := s.read(ctx, req.Read,
		func(c mitaiv1.CoordinatorClient) (err error) { fwd, err = c.AuditRange(ctx, req); return err },
		func(st *state.State) {
			from, to := max(req.From, 1), req.To
			if to == 0 || to > uint64(st.Ledger().Len()) {
				to = uint64(st.Ledger().Len())
			}
			if to >= from+maxAuditPageEntries {
				to, next = from+maxAuditPageEntries-1, from+maxAuditPageEntries
			}
			entries = st.Ledger().Range(from, to)
		})
	if err != nil {
		return nil, err
	}
	if fwd != nil {
		return fwd, nil
	}
	resp := &mitaiv1.AuditRangeResponse{Read: info, Next: next}
	size := 0
	for i, e := range entries {
		size += proto.Size(e)
		if i > 0 && size > maxAuditPageBytes {
			resp.Next = e.Index
			break
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

// ClusterStatus implements the API.
func (s *Server) ClusterStatus(ctx context.Context, req *mitaiv1.ClusterStatusRequest) (*mitaiv1.ClusterStatusResponse, error) {
	if _, err := mtls.CallerParty(ctx); err != nil {
		return nil, err
	}
	own := s.rep.Status()
	self := &mitaiv1.ReplicaStatus{
		Id: own.ID, ApiAddress: s.cfg.self().API, State: own.State, LeaderId: own.LeaderID,
		Term: own.Term, LastIndex: own.LastIndex, AppliedIndex: own.AppliedIndex,
	}
	resp := &mitaiv1.ClusterStatusResponse{Replicas: []*mitaiv1.ReplicaStatus{self}}
	if s.rep.IsLeader() {
		resp.Nodes = s.sched.nodeStatus()
	}
	if req.LocalOnly {
		return resp, nil
	}
	for _, p := range s.cfg.Peers {
		if p.ID == s.cfg.ID {
			continue
		}
		st := &mitaiv1.ReplicaStatus{Id: p.ID, ApiAddress: p.API, State: "unreachable"}
		if c, err := s.peer(p.API); err == nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			r, err := c.ClusterStatus(cctx, &mitaiv1.ClusterStatusRequest{LocalOnly: true})
			cancel()
			if err == nil && len(r.Replicas) == 1 {
				st = r.Replicas[0]
				if st.State == "Leader" {
					resp.Nodes = r.Nodes
				}
			} else if err != nil {
				st.Error = status.Convert(err).Message()
			}
		}
		resp.Replicas = append(resp.Replicas, st)
	}
	return resp, nil
}

// watchPoll is how often WatchJob looks at this replica's state.
const watchPoll = 50 * time.Millisecond

// WatchJob implements the API: a consistent read first, then this
// replica's own state (each message marked stale or not), sent on change.
func (s *Server) WatchJob(req *mitaiv1.GetJobRequest, stream mitaiv1.Coordinator_WatchJobServer) error {
	ctx := stream.Context()
	first := proto.Clone(req).(*mitaiv1.GetJobRequest)
	first.Read = &mitaiv1.ReadOptions{Consistent: true}
	resp, err := s.GetJob(ctx, first)
	last := ""
	for {
		if err != nil {
			return err
		}
		if key := watchKey(resp); key != last {
			if err := stream.Send(resp); err != nil {
				return err
			}
			last = key
		}
		switch resp.Job.State {
		case mitaiv1.JobState_JOB_STATE_SUCCEEDED, mitaiv1.JobState_JOB_STATE_FAILED, mitaiv1.JobState_JOB_STATE_CANCELLED:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(watchPoll):
		}
		resp, err = s.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: req.JobId})
	}
}

// watchKey is what WatchJob reports changes of.
func watchKey(r *mitaiv1.GetJobResponse) string {
	t := r.GetTask()
	return fmt.Sprintf("%v/%d/%v/%d", r.Job.GetState(), t.GetAttempt(), t.GetState(), t.GetRunningUnixMs())
}
