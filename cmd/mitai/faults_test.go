package main

// The fault tests break a real cluster: three `mitai coordinator` replicas
// (and, for one test, two `mitai node` processes), each with its own disk,
// talking TLS on loopback, are killed, paused and restarted with signals
// while Go clients load them. Each test draws its random choices from a
// seed it logs; MITAI_FAULT_SEED=N replays one.

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/coordinator/ledger"
	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/internal/coordclient"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// faultRand returns the test's random source, seeded from the clock unless
// MITAI_FAULT_SEED is set, and logs the seed.
func faultRand(t *testing.T) *rand.Rand {
	t.Helper()
	if testing.Short() {
		t.Skip("fault test: starts a cluster of processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MITAI_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MITAI_FAULT_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with MITAI_FAULT_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// publishDatasets publishes bank:customers and telco:subscribers, each
// partner auto-approved, so that jobs over them are SUBMITTED at once.
func publishDatasets(t *testing.T, c *testCluster) {
	t.Helper()
	for _, d := range []struct{ party, name, partner string }{{"bank", "customers", "telco"}, {"telco", "subscribers", "bank"}} {
		info := &mitaiv1.DatasetInfo{Name: d.name, KeyColumn: "id", Rows: 1000, Policy: &mitaiv1.Policy{
			Partners: []string{d.partner}, Modes: []string{"intersection"}, AutoApprove: []string{d.partner},
		}}
		err := c.failover(d.party).Call(context.Background(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) error {
			_, err := cl.PublishDataset(ctx, &mitaiv1.PublishDatasetRequest{Info: info})
			return err
		})
		if err != nil {
			t.Fatalf("publish %s:%s: %v", d.party, d.name, err)
		}
	}
}

// psiSpec is a bank-submitted intersection job over the published datasets.
func psiSpec(key string) *mitaiv1.JobSpec {
	return &mitaiv1.JobSpec{
		Kind: "psi", Participants: []string{"bank:customers", "telco:subscribers"}, Receivers: []string{"bank"},
		Psi: &mitaiv1.PsiParams{Mode: mitaiv1.PsiMode_PSI_MODE_INTERSECTION}, IdempotencyKey: key,
	}
}

func jobKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return keys
}

// retryable reports an error after which a client retries the same
// submit: the replica is unreachable or has no leader, or the call ran out
// of time (gRPC reports transport errors as UNAVAILABLE).
func retryable(err error) bool {
	c := status.Code(err)
	return c == codes.Unavailable || c == codes.DeadlineExceeded
}

// The history of a test's clients, checked for linearizability against a
// map from idempotency key to job id: submit(key) returns the job the key
// names, creating it if there is none; read(key) returns it or nothing.
// Every attempt of a submit is an operation; one that failed has an unknown
// outcome (it may have created the job, or not) and never returns.
// Operations on different keys commute, so the check partitions the
// history by key.
//
// The duplicate flag is checked only one way: a submit that finds the job
// must say duplicate. The other way (a submit that created the job says
// duplicate=false) does not hold today: see firstSubmitDuplicates.

type jobOp struct {
	Read bool
	Key  string
}

type jobOut struct {
	Unknown bool   // the call failed: it may or may not have taken effect
	ID      string // "" for a read that found no job
	Dup     bool
}

// unknownID is the model's state after a failed submit that took effect:
// the key names a job whose id no answer has shown yet.
const unknownID = "?"

var jobModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(jobOp).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{""} },
	Step: func(state, input, output interface{}) []interface{} {
		st, in, out := state.(string), input.(jobOp), output.(jobOut)
		switch {
		case in.Read && out.ID == "":
			if st == "" {
				return []interface{}{""}
			}
		case in.Read:
			if st == unknownID || st == out.ID {
				return []interface{}{out.ID}
			}
		case out.Unknown:
			if st == "" {
				return []interface{}{"", unknownID}
			}
			return []interface{}{st}
		case st == "":
			return []interface{}{out.ID}
		case (st == unknownID || st == out.ID) && out.Dup:
			return []interface{}{out.ID}
		}
		return nil
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(jobOp), output.(jobOut)
		verb := "submit"
		if in.Read {
			verb = "read"
		}
		switch {
		case out.Unknown:
			return fmt.Sprintf("%s(%s) -> failed", verb, in.Key)
		case out.Dup:
			return fmt.Sprintf("%s(%s) -> %s (duplicate)", verb, in.Key, out.ID)
		}
		return fmt.Sprintf("%s(%s) -> %q", verb, in.Key, out.ID)
	},
}

// history records operations with times on the test's monotonic clock.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// add records an operation; via names the replica it went to, if one.
func (h *history) add(client int, via string, in jobOp, call int64, out jobOut) {
	ret := h.now()
	if out.Unknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret, Metadata: via})
}

// attempted reports whether the history has a submit of key.
func (h *history) attempted(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.ops, func(op porcupine.Operation) bool {
		in := op.Input.(jobOp)
		return !in.Read && in.Key == key
	})
}

// check runs the linearizability checker; on a violation it writes the
// checker's visualisation to a file it names.
func (h *history) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	model := jobModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, 60*time.Second)
	switch res {
	case porcupine.Ok:
		t.Logf("history of %d operations is linearizable", len(ops))
	case porcupine.Illegal:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("%s-history.html", t.Name()))
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		t.Errorf("the history of %d operations is not linearizable; see %s", len(ops), path)
		shown := 0
		for _, part := range jobModel.Partition(ops) {
			if porcupine.CheckOperations(model, part) || shown == 3 {
				continue
			}
			shown++
			slices.SortFunc(part, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
			for _, op := range part {
				ret := "never"
				if op.Return != math.MaxInt64 {
					ret = time.Duration(op.Return).String()
				}
				t.Logf("  client %d via %q, %v to %s: %s", op.ClientId, op.Metadata, time.Duration(op.Call), ret, jobModel.DescribeOperation(op.Input, op.Output))
			}
		}
	default:
		t.Errorf("the linearizability check of %d operations did not finish", len(ops))
	}
}

// firstSubmitDuplicates returns the acknowledged submits that said
// duplicate=true although no earlier call had named their key: the call
// created the job. A replica that forwards a submit to a leader which
// commits it but dies before answering retries the command with the next
// leader, and that second apply finds the job the first one made (known
// coordinator bug, reported; the fix is a job id stamped once per client
// call, so that a re-applied command can tell itself from another).
func (h *history) firstSubmitDuplicates() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, op := range h.ops {
		in, res := op.Input.(jobOp), op.Output.(jobOut)
		if in.Read || res.Unknown || !res.Dup {
			continue
		}
		first := !slices.ContainsFunc(h.ops, func(o porcupine.Operation) bool {
			return o.Input.(jobOp).Key == in.Key && o.Call < op.Call
		})
		if first {
			out = append(out, fmt.Sprintf("%s -> %s via %s, %v to %v", in.Key, res.ID, op.Metadata, time.Duration(op.Call), time.Duration(op.Return)))
		}
	}
	return out
}

// checkFirstSubmitsNotDuplicate fails the test if a client's first submit
// of a key was answered duplicate=true: a retry inside the coordinator
// (after a lost answer or a leadership change) must return the original
// result, not look like another client's submit.
func (h *history) checkFirstSubmitsNotDuplicate(t *testing.T) {
	t.Helper()
	if d := h.firstSubmitDuplicates(); len(d) > 0 {
		t.Errorf("%d first submits answered duplicate=true: %v", len(d), d)
	}
}

// loadedCluster starts a cluster with settings s, publishes the datasets
// and returns a load generator for it.
func loadedCluster(t *testing.T, s clusterSettings) (*harness, *testCluster, *loadGen) {
	t.Helper()
	h := newHarness(t)
	c := startCluster(h, s)
	publishDatasets(t, c)
	return h, c, newLoadGen(c)
}

// loadGen submits jobs as the bank from concurrent clients, each of which
// retries a key, through another replica, until it is acknowledged; every
// attempt goes into the history.
type loadGen struct {
	c       *testCluster
	hist    *history
	clients map[string]mitaiv1.CoordinatorClient // by replica
	ids     []string
	acked   atomic.Int64 // acknowledged keys, over every run

	mu   sync.Mutex
	errs []error // answers that are neither success nor retryable
}

func newLoadGen(c *testCluster) *loadGen {
	g := &loadGen{c: c, hist: &history{start: time.Now()}, clients: map[string]mitaiv1.CoordinatorClient{}, ids: c.ids}
	for _, id := range c.ids {
		g.clients[id] = c.client("bank", id)
	}
	return g
}

// attempt is one SubmitJob call to one replica.
func (g *loadGen) attempt(ctx context.Context, client int, replica, key string, timeout time.Duration) (*mitaiv1.SubmitJobResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	call := g.hist.now()
	resp, err := g.clients[replica].SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: psiSpec(key)})
	out := jobOut{Unknown: true}
	if err == nil {
		out = jobOut{ID: resp.Job.GetId(), Dup: resp.Duplicate}
	}
	g.hist.add(client, replica, jobOp{Key: key}, call, out)
	return resp, err
}

// run submits keys from clients concurrent clients until each is
// acknowledged or ctx ends, and returns the acknowledgements by key.
func (g *loadGen) run(ctx context.Context, clients int, keys []string, seed uint64) map[string]*mitaiv1.SubmitJobResponse {
	work := make(chan string, len(keys))
	for _, k := range keys {
		work <- k
	}
	close(work)
	var mu sync.Mutex
	acks := map[string]*mitaiv1.SubmitJobResponse{}
	var wg sync.WaitGroup
	for w := range clients {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for key := range work {
				replica := rng.IntN(len(g.ids))
				for ctx.Err() == nil {
					resp, err := g.attempt(ctx, w, g.ids[replica], key, 2*time.Second)
					if err == nil {
						mu.Lock()
						acks[key] = resp
						mu.Unlock()
						g.acked.Add(1)
						break
					}
					if !retryable(err) {
						if ctx.Err() == nil {
							g.mu.Lock()
							g.errs = append(g.errs, fmt.Errorf("submit %s to %s: %w", key, g.ids[replica], err))
							g.mu.Unlock()
						}
						break
					}
					replica = (replica + 1) % len(g.ids)
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
	return acks
}

// loadRun is a run of a loadGen in the background.
type loadRun struct {
	g    *loadGen
	done chan struct{}
	acks map[string]*mitaiv1.SubmitJobResponse
}

// start runs g.run in the background; wait returns what it acknowledged.
func (g *loadGen) start(ctx context.Context, clients int, keys []string, seed uint64) *loadRun {
	r := &loadRun{g: g, done: make(chan struct{})}
	go func() { defer close(r.done); r.acks = g.run(ctx, clients, keys, seed) }()
	return r
}

// awaitAcks waits until n submits have been acknowledged in all; it fails
// the test if the run ends first.
func (r *loadRun) awaitAcks(t *testing.T, n int64) {
	t.Helper()
	for r.g.acked.Load() < n {
		select {
		case <-r.done:
			t.Fatalf("the run ended after %d acknowledged submits, before %d", r.g.acked.Load(), n)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (r *loadRun) wait() map[string]*mitaiv1.SubmitJobResponse {
	<-r.done
	return r.acks
}

// failures reports the answers that were neither success nor retryable.
func (g *loadGen) failures(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, err := range g.errs {
		t.Errorf("non-retryable answer: %v", err)
	}
}

// readJobs is a consistent ListJobs through any replica, recorded as a
// read (see read); it returns the jobs by key.
func (g *loadGen) readJobs(t *testing.T) map[string]*mitaiv1.Job {
	t.Helper()
	jobs, err := g.read(t, "", func() (resp *mitaiv1.ListJobsResponse, err error) {
		err = g.c.failover("bank").Call(context.Background(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) error {
			resp, err = cl.ListJobs(ctx, &mitaiv1.ListJobsRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
			return err
		})
		return resp, err
	})
	if err != nil {
		t.Fatalf("consistent ListJobs: %v", err)
	}
	return jobs
}

// read makes a consistent ListJobs with list and, if it answers, records
// it as a read of every key the history names, and fails the test when two
// jobs share a key; it returns the jobs by key. via names the replica
// list asks, if one.
func (g *loadGen) read(t *testing.T, via string, list func() (*mitaiv1.ListJobsResponse, error)) (map[string]*mitaiv1.Job, error) {
	call := g.hist.now()
	resp, err := list()
	if err != nil {
		return nil, err
	}
	if resp.Read.GetStale() {
		t.Errorf("a consistent read answered stale: %v", resp.Read)
	}
	jobs := byKey(t, resp.Jobs)
	g.hist.mu.Lock()
	keys := map[string]bool{}
	for _, op := range g.hist.ops {
		keys[op.Input.(jobOp).Key] = true
	}
	g.hist.mu.Unlock()
	for k := range jobs {
		keys[k] = true
	}
	for k := range keys {
		g.hist.add(1000, via, jobOp{Read: true, Key: k}, call, jobOut{ID: jobs[k].GetId()})
	}
	return jobs, nil
}

func byKey(t *testing.T, jobs []*mitaiv1.Job) map[string]*mitaiv1.Job {
	t.Helper()
	out := map[string]*mitaiv1.Job{}
	for _, j := range jobs {
		k := j.Spec.GetIdempotencyKey()
		if prev, ok := out[k]; ok {
			t.Errorf("key %q names two jobs: %s and %s", k, prev.Id, j.Id)
		}
		out[k] = j
	}
	return out
}

// checkAcked fails the test unless every acknowledged key names, in jobs,
// the job its acknowledgement returned.
func checkAcked(t *testing.T, acks map[string]*mitaiv1.SubmitJobResponse, jobs map[string]*mitaiv1.Job) {
	t.Helper()
	for k, a := range acks {
		if j := jobs[k]; j == nil || j.Id != a.Job.Id {
			t.Errorf("acknowledged submit %s -> %s, but the cluster has %v", k, a.Job.Id, j.GetId())
		}
	}
}

// awaitNewLeader polls the replicas other than old every 20 ms until one
// leads in a term above term, and says how long that took.
func (c *testCluster) awaitNewLeader(old string, term uint64, timeout time.Duration) (string, *mitaiv1.ReplicaStatus, time.Duration) {
	c.h.t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if id, st := c.leader(old); id != "" && st.Term > term {
			return id, st, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.h.t.Fatalf("no new leader within %v of losing %s (term %d)", timeout, old, term)
	return "", nil, 0
}

// logRecords decodes a process's JSON log lines (slog's and hclog's) and
// returns those for which keep is true.
func logRecords(log string, keep func(map[string]any) bool) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && keep(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// message matches a log record by its message: hclog's @message or slog's msg.
func message(m string) func(map[string]any) bool {
	return func(rec map[string]any) bool { return rec["@message"] == m || rec["msg"] == m }
}

// TestFaultLeaderKilledDuringSubmits SIGKILLs the leader while 16 clients
// submit 500 jobs with retries: a new leader takes over within a few
// election timeouts, every key names exactly one job, the one its
// acknowledgement returned, retries are answered as duplicates, the
// clients' history is linearizable, and the killed replica catches up.
func TestFaultLeaderKilledDuringSubmits(t *testing.T) {
	rng := faultRand(t)
	h, c, g := loadedCluster(t, clusterSettings{})
	keys := jobKeys("k", 500)
	killAt := int64(120 + rng.IntN(60))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run := g.start(ctx, 16, keys, rng.Uint64())
	run.awaitAcks(t, killAt)
	old, st := c.leader("")
	if old == "" {
		t.Fatal("no leader to kill")
	}
	at := g.acked.Load()
	h.signal(old, syscall.SIGKILL)
	leader, nst, took := c.awaitNewLeader(old, st.Term, 20*electionTimeout)
	t.Logf("SIGKILL of leader %s (term %d) after %d acks; %s leads in term %d %v later", old, st.Term, at, leader, nst.Term, took.Round(time.Millisecond))
	if took > 8*electionTimeout {
		t.Errorf("a new leader took %v, more than 8 election timeouts", took)
	}
	acks := run.wait()
	g.failures(t)
	if len(acks) != len(keys) {
		t.Fatalf("%d of %d submits acknowledged", len(acks), len(keys))
	}

	// A retried submit of an acknowledged key is a duplicate of its job.
	retried := g.run(ctx, 16, keys, rng.Uint64())
	g.failures(t)
	for k, a := range acks {
		if r := retried[k]; r == nil || !r.Duplicate || r.Job.Id != a.Job.Id {
			t.Errorf("retry of %s: got %v, want duplicate of %s", k, r, a.Job.Id)
		}
	}

	jobs := g.readJobs(t)
	if len(jobs) != len(keys) {
		t.Errorf("the cluster has %d jobs for %d keys", len(jobs), len(keys))
	}
	checkAcked(t, acks, jobs)
	g.hist.check(t)

	// The killed replica restarts from its disk and catches up.
	_, lst := c.leader("")
	c.startReplica(old)
	eventually(t, 30*time.Second, func() error {
		st, err := c.status(old, time.Second)
		if err != nil {
			return err
		}
		if st.AppliedIndex < lst.AppliedIndex {
			return fmt.Errorf("%s applied %d, the leader %d", old, st.AppliedIndex, lst.AppliedIndex)
		}
		resp, err := c.client("bank", old).ListJobs(ctx, &mitaiv1.ListJobsRequest{})
		if err != nil {
			return err
		}
		if resp.Read.Replica != old || !resp.Read.Stale {
			return fmt.Errorf("stale read answered by %v", resp.Read)
		}
		if n := len(resp.Jobs); n != len(keys) {
			return fmt.Errorf("%s has %d jobs", old, n)
		}
		return nil
	})
	g.hist.checkFirstSubmitsNotDuplicate(t)
}

// TestFaultLeaderPaused SIGSTOPs the leader while clients write through
// every replica, one of them straight to the paused leader: the others
// elect a leader in a higher term and writes commit through it; after
// SIGCONT the old leader steps down; every acknowledged write, whichever
// replica took it, is in the cluster; the history is linearizable; and no
// term ever has two leaders, by the replicas' status polled every 50 ms and
// by their Raft logs.
func TestFaultLeaderPaused(t *testing.T) {
	rng := faultRand(t)
	h, c, g := loadedCluster(t, clusterSettings{logLevel: "info"})
	polls := pollLeaders(c, 50*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wctx, stopWrites := context.WithCancel(ctx)
	run := g.start(wctx, 4, jobKeys("w", 5000), rng.Uint64())
	run.awaitAcks(t, 20)

	old, st := c.leader("")
	if old == "" {
		t.Fatal("no leader to pause")
	}
	// Two writes go to the old leader alone, with no failover: one just
	// before it is paused, one while it is.
	type direct struct {
		key  string
		resp *mitaiv1.SubmitJobResponse
		err  error
		at   time.Time
	}
	directs := make(chan direct, 2)
	var dwg sync.WaitGroup
	send := func(key string) {
		dwg.Go(func() {
			resp, err := g.attempt(ctx, 100, old, key, 15*time.Second)
			directs <- direct{key, resp, err, time.Now()}
		})
	}
	send("direct-before")
	time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	h.signal(old, syscall.SIGSTOP)
	stopped := time.Now()
	send("direct-during")

	leader, nst, took := c.awaitNewLeader(old, st.Term, 20*electionTimeout)
	t.Logf("SIGSTOP of leader %s (term %d); %s leads in term %d %v later", old, st.Term, leader, nst.Term, took.Round(time.Millisecond))
	n := g.acked.Load()
	eventually(t, 10*time.Second, func() error {
		if g.acked.Load() < n+10 {
			return fmt.Errorf("no writes commit through the new leader %s", leader)
		}
		return nil
	})
	// A consistent read sent to the paused leader after those writes must,
	// whenever it answers, see them.
	var rwg sync.WaitGroup
	rwg.Go(func() {
		_, err := g.read(t, old, func() (*mitaiv1.ListJobsResponse, error) {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			return c.client("bank", old).ListJobs(ctx, &mitaiv1.ListJobsRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
		})
		t.Logf("consistent read sent to the paused leader: %v", status.Code(err))
		if err != nil && !retryable(err) {
			t.Errorf("consistent read sent to the paused leader: %v", err)
		}
	})
	time.Sleep(time.Until(stopped.Add(2 * electionTimeout)))
	h.signal(old, syscall.SIGCONT)
	resumed := time.Now()
	t.Logf("SIGCONT of %s after %v", old, resumed.Sub(stopped).Round(time.Millisecond))

	// The old leader learns of the higher term and follows.
	eventually(t, 10*time.Second, func() error {
		s, err := c.status(old, time.Second)
		if err != nil {
			return err
		}
		if s.State == "Leader" || s.Term < nst.Term {
			return fmt.Errorf("%s is %s in term %d", old, s.State, s.Term)
		}
		return nil
	})
	t.Logf("%s follows %v after SIGCONT", old, time.Since(resumed).Round(time.Millisecond))
	stopWrites()
	acks := run.wait()
	dwg.Wait()
	rwg.Wait()
	close(directs)
	samples := polls()
	g.failures(t)

	jobs := g.readJobs(t)
	checkAcked(t, acks, jobs)
	for d := range directs {
		switch {
		case d.err == nil:
			// An answer sent before the stop may arrive just after it.
			if d.at.After(stopped.Add(100*time.Millisecond)) && d.at.Before(resumed) {
				t.Errorf("the paused leader acknowledged %s while stopped", d.key)
			}
			if j := jobs[d.key]; j == nil || j.Id != d.resp.Job.Id {
				t.Errorf("the old leader acknowledged %s -> %s, but the cluster has %v", d.key, d.resp.Job.Id, j.GetId())
			}
			t.Logf("write %s straight to the old leader: acknowledged as %s, %v after SIGSTOP", d.key, d.resp.Job.Id, d.at.Sub(stopped).Round(time.Millisecond))
		case retryable(d.err):
			t.Logf("write %s straight to the old leader: %v", d.key, status.Code(d.err))
		default:
			t.Errorf("write %s straight to the old leader: %v", d.key, d.err)
		}
	}
	g.hist.check(t)

	// At most one leader per term, as the replicas reported it and as
	// their Raft logs say; every leader seen won its term's election.
	seen := map[uint64]map[string]bool{}
	for _, s := range samples {
		if s.State == "Leader" {
			if seen[s.Term] == nil {
				seen[s.Term] = map[string]bool{}
			}
			seen[s.Term][s.Id] = true
		}
	}
	won := map[uint64][]string{}
	for _, id := range c.ids {
		for _, rec := range logRecords(h.logs[id].String(), message("election won")) {
			term, _ := rec["term"].(float64)
			won[uint64(term)] = append(won[uint64(term)], id)
		}
	}
	for term, ids := range seen {
		if len(ids) > 1 {
			t.Errorf("term %d had leaders %v", term, ids)
		}
		for id := range ids {
			if !slices.Contains(won[term], id) {
				t.Errorf("%s reported leading term %d, but its log has no election won in it (won: %v)", id, term, won)
			}
		}
	}
	for term, ids := range won {
		if len(ids) > 1 {
			t.Errorf("term %d won by %v", term, ids)
		}
	}
	if !seen[nst.Term][leader] {
		t.Errorf("the polls never saw %s lead term %d", leader, nst.Term)
	}
	t.Logf("%d status samples; leaders by term %v", len(samples), won)
	g.hist.checkFirstSubmitsNotDuplicate(t)
}

// pollLeaders asks every replica for its own status every interval, each
// from its own goroutine (a paused replica delays only its own polls),
// until the returned function is called; that returns the answers.
func pollLeaders(c *testCluster, interval time.Duration) func() []*mitaiv1.ReplicaStatus {
	stop := make(chan struct{})
	var mu sync.Mutex
	var samples []*mitaiv1.ReplicaStatus
	var wg sync.WaitGroup
	for _, id := range c.ids {
		wg.Go(func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				if st, err := c.status(id, 4*interval); err == nil {
					mu.Lock()
					samples = append(samples, st)
					mu.Unlock()
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
	}
	return func() []*mitaiv1.ReplicaStatus {
		close(stop)
		wg.Wait()
		return samples
	}
}

// TestFaultSnapshotCatchUp stops (SIGTERM) a follower that has a snapshot
// of its own, pushes 400 more jobs, enough for the leader to snapshot and
// compact its log past the follower, and restarts the follower: it restores
// its own snapshot, then catches up by exactly one snapshot install from
// the leader; its applied index reaches the leader's, and a stale read on
// it has every job.
func TestFaultSnapshotCatchUp(t *testing.T) {
	rng := faultRand(t)
	h := newHarness(t)
	c := startCluster(h, clusterSettings{logLevel: "info", snapshotThreshold: 64, trailingLogs: 32, snapshotInterval: 200 * time.Millisecond})
	publishDatasets(t, c)
	leader, _ := c.leader("")
	var followers []string
	for _, id := range c.ids {
		if id != leader {
			followers = append(followers, id)
		}
	}
	follower := followers[rng.IntN(2)]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	g := newLoadGen(c)
	keys := jobKeys("s", 500)
	// First 100 jobs, and the follower's own snapshot of them: on restart it
	// restores that, then installs the leader's.
	acks := g.run(ctx, 8, keys[:100], rng.Uint64())
	eventually(t, 10*time.Second, func() error {
		if len(logRecords(h.logs[follower].String(), message("snapshot complete up to"))) == 0 {
			return fmt.Errorf("%s has no snapshot", follower)
		}
		return nil
	})
	fst, err := c.status(follower, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.signal(follower, syscall.SIGTERM)
	t.Logf("stopped follower %s at index %d; leader %s", follower, fst.LastIndex, leader)
	maps.Copy(acks, g.run(ctx, 8, keys[100:], rng.Uint64()))
	g.failures(t)
	if len(acks) != len(keys) {
		t.Fatalf("%d of %d submits acknowledged", len(acks), len(keys))
	}
	// The leader must have dropped the entry the follower needs next.
	eventually(t, 10*time.Second, func() error {
		for _, rec := range logRecords(h.logs[leader].String(), message("compacting logs")) {
			if to, _ := rec["to"].(float64); uint64(to) > fst.LastIndex {
				return nil
			}
		}
		return fmt.Errorf("the leader's log still holds index %d", fst.LastIndex+1)
	})
	lst, err := c.status(leader, time.Second)
	if err != nil {
		t.Fatal(err)
	}

	c.startReplica(follower)
	restarted := time.Now()
	eventually(t, 30*time.Second, func() error {
		st, err := c.status(follower, time.Second)
		if err != nil {
			return err
		}
		if st.AppliedIndex < lst.AppliedIndex {
			return fmt.Errorf("%s applied %d, the leader %d", follower, st.AppliedIndex, lst.AppliedIndex)
		}
		return nil
	})
	t.Logf("%s reached applied index %d %v after restart", follower, lst.AppliedIndex, time.Since(restarted).Round(time.Millisecond))
	resp, err := c.client("bank", follower).ListJobs(ctx, &mitaiv1.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Read.GetStale() || resp.Read.GetReplica() != follower {
		t.Errorf("stale read answered by %v", resp.Read)
	}
	jobs := byKey(t, resp.Jobs)
	if len(jobs) != len(keys) {
		t.Errorf("%s has %d jobs, want %d", follower, len(jobs), len(keys))
	}
	checkAcked(t, acks, jobs)

	// One snapshot came from the leader. The FSM restores once for it and
	// once for each local snapshot Raft restored at start.
	log := h.logs[follower].String()
	installs := len(logRecords(log, message("Installed remote snapshot")))
	local := len(logRecords(log, message("restored from snapshot")))
	restores := len(logRecords(log, message("state restored from a snapshot")))
	t.Logf("%s after restart: %d remote snapshot installs, %d local snapshot restores, %d state restores", follower, installs, local, restores)
	if installs != 1 || local != 1 || restores != 2 {
		t.Errorf("%s restarted with %d local snapshot restores, then caught up with %d snapshot installs; %d state restores; want 1, 1 and 2", follower, local, installs, restores)
	}
}

// TestFaultAllReplicasKilled SIGKILLs all three replicas while clients
// submit, restarts them from their disks with the same configs, and
// finishes the submits: every write acknowledged before the crash is there,
// every key names one job, and the history is linearizable.
func TestFaultAllReplicasKilled(t *testing.T) {
	rng := faultRand(t)
	h, c, g := loadedCluster(t, clusterSettings{})
	keys := jobKeys("a", 300)
	killAt := int64(60 + rng.IntN(90))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	wctx, stopWrites := context.WithCancel(ctx)
	run := g.start(wctx, 8, keys, rng.Uint64())
	run.awaitAcks(t, killAt)
	h.killAll(c.ids...)
	crashed := time.Now()
	stopWrites()
	before := run.wait()
	g.failures(t)
	t.Logf("SIGKILL of every replica after %d acknowledged submits", len(before))

	for _, id := range c.ids {
		c.startReplica(id)
	}
	leader, _ := c.waitLeader(30*time.Second, "")
	t.Logf("%s leads %v after the crash", leader, time.Since(crashed).Round(time.Millisecond))
	jobs := g.readJobs(t)
	checkAcked(t, before, jobs)
	inFlight, landed := 0, 0
	for _, k := range keys {
		if before[k] == nil && g.hist.attempted(k) {
			inFlight++
			if jobs[k] != nil {
				landed++
			}
		}
	}
	t.Logf("%d submits were unanswered at the crash; %d of them took effect", inFlight, landed)

	// The clients retry what was not acknowledged; the writes that were in
	// flight at the crash are not doubled.
	after := g.run(ctx, 8, keys, rng.Uint64())
	g.failures(t)
	if len(after) != len(keys) {
		t.Fatalf("%d of %d submits acknowledged after the restart", len(after), len(keys))
	}
	jobs = g.readJobs(t)
	if len(jobs) != len(keys) {
		t.Errorf("the cluster has %d jobs for %d keys", len(jobs), len(keys))
	}
	checkAcked(t, before, jobs)
	checkAcked(t, after, jobs)
	g.hist.check(t)
	g.hist.checkFirstSubmitsNotDuplicate(t)
}

// TestFaultNodeKilledMidTask SIGKILLs a node in the middle of a PSI task,
// the initiator (bank) in one subtest, the responder (telco) in the other:
// the surviving node stops its side; attempt 1 ends (the coordinator
// aborts it once the dead node's TTL has passed, not before, or the
// surviving initiator reports it failed) and no attempt starts while the
// node is down; attempt 2 runs when the node restarts on the same disk; the
// job succeeds with exactly one result file; and a late report for attempt
// 1 is rejected.
func TestFaultNodeKilledMidTask(t *testing.T) {
	for _, victim := range []string{"bank", "telco"} {
		t.Run(victim, func(t *testing.T) { testNodeKilledMidTask(t, victim) })
	}
}

func testNodeKilledMidTask(t *testing.T, victim string) {
	rng := faultRand(t)
	h := newHarness(t)
	const ttl = 2 * time.Second
	files, err := datagen.PSIPair{Rows: 30000, Overlap: 0.3, Seed: rng.Uint64(), KeysOnly: true}.Write(filepath.Join(h.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(h, clusterSettings{nodeTTL: ttl})
	dataset := func(name, path, partner string) string {
		return fmt.Sprintf("datasets:\n  - {name: %s, path: %q, key: id, policy: {partners: [%s], modes: [intersection], auto_approve: [%s]}}\n", name, path, partner, partner)
	}
	c.startNode("bank", dataset("customers", files.Left, "telco"))
	c.startNode("telco", dataset("subscribers", files.Right, "bank"))
	survivor := map[string]string{"bank": "telco", "telco": "bank"}[victim]
	bank := c.failover("bank")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	var job *mitaiv1.Job
	eventually(t, 20*time.Second, func() error { // until both nodes have published
		return bank.Call(ctx, func(ctx context.Context, cl mitaiv1.CoordinatorClient) error {
			resp, err := cl.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: psiSpec("mid-task")})
			if err == nil {
				job = resp.Job
			}
			return err
		})
	})
	taskID := job.Id + ".t0"
	ofJob := func(msg string) func(map[string]any) bool {
		return func(rec map[string]any) bool { return rec["msg"] == msg && rec["job"] == job.Id }
	}
	eventually(t, 30*time.Second, func() error {
		if len(logRecords(h.logs["telco"].String(), ofJob("task started"))) == 0 {
			return fmt.Errorf("telco has not started its side of %s", job.Id)
		}
		return nil
	})
	time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
	if len(logRecords(h.logs["telco"].String(), ofJob("task done"))) > 0 {
		t.Fatal("the task finished before the kill: give it more rows")
	}
	h.signal(victim, syscall.SIGKILL)
	killed := time.Now()

	// The survivor stops its side when the peer's stream breaks.
	eventually(t, 10*time.Second, func() error {
		if len(logRecords(h.logs[survivor].String(), ofJob("task failed"))) == 0 {
			return fmt.Errorf("%s still runs its side", survivor)
		}
		return nil
	})
	t.Logf("%s stopped its side %v after the kill of %s", survivor, time.Since(killed).Round(time.Millisecond), victim)

	// Attempt 1 ends: a dead initiator's attempt is aborted once the TTL has
	// passed; a surviving initiator reports it failed.
	var end taskEvent
	eventually(t, ttl+10*time.Second, func() error {
		events := taskEvents(t, bank, taskID)
		i := slices.IndexFunc(events, func(e taskEvent) bool { return e.kind == "task.aborted" || e.kind == "task.outcome" })
		if i < 0 {
			return fmt.Errorf("attempt 1 has not ended: %s", eventSummary(events))
		}
		end = events[i]
		return nil
	})
	late := end.at.Sub(killed)
	t.Logf("attempt %d ended (%s) %v after the kill (TTL %v)", end.attempt, end.kind, late.Round(time.Millisecond), ttl)
	if end.attempt != 1 {
		t.Errorf("attempt %d ended first, want 1", end.attempt)
	}
	// The node's last heartbeat came a little before the kill (every 200 ms,
	// later when the task starves it of CPU): the abort comes about a TTL
	// after the kill, not at once.
	if victim == "bank" && (end.kind != "task.aborted" || late < ttl/2 || late > ttl+3*time.Second) {
		t.Errorf("%s of attempt 1 %v after the kill, want an abort about %v after", end.kind, late, ttl)
	}
	// No attempt starts while the node is down: the scheduler ticks every
	// 100 ms; give it six.
	time.Sleep(600 * time.Millisecond)
	want := fmt.Sprintf("task.scheduled 1, %s 1", end.kind)
	if events := taskEvents(t, bank, taskID); eventSummary(events) != want {
		t.Errorf("while the %s node is down: %s, want %s", victim, eventSummary(events), want)
	}

	h.start(victim, "node", "--config", victim+".yaml")
	eventually(t, 60*time.Second, func() error {
		var j *mitaiv1.GetJobResponse
		err := bank.Call(ctx, func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
			j, err = cl.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: job.Id, Read: &mitaiv1.ReadOptions{Consistent: true}})
			return err
		})
		if err != nil {
			return err
		}
		if s := j.Job.State; s != mitaiv1.JobState_JOB_STATE_SUCCEEDED {
			if s == mitaiv1.JobState_JOB_STATE_FAILED {
				t.Fatalf("job failed: %s", j.Job.Reason)
			}
			return fmt.Errorf("job %s is %v", job.Id, s)
		}
		return nil
	})
	t.Logf("job succeeded %v after the kill", time.Since(killed).Round(time.Millisecond))
	for _, rec := range logRecords(h.logs["telco"].String(), ofJob("task done")) {
		t.Logf("attempt 2 took %.1f s on telco", rec["seconds"])
	}
	events := taskEvents(t, bank, taskID)
	if got := eventSummary(events); got != want+", task.scheduled 2, task.outcome 2" {
		t.Errorf("the task's ledger entries: %s", got)
	}
	// The receiver reports the delivery on its own, after the outcome that
	// ends the job: wait for it.
	eventually(t, 10*time.Second, func() error {
		events = taskEvents(t, bank, taskID)
		if !slices.ContainsFunc(events, func(e taskEvent) bool { return e.kind == state.KindResultDelivered && e.attempt == 2 }) {
			return fmt.Errorf("no signed delivery of attempt 2's result in the ledger: %v", events)
		}
		return nil
	})
	entries, err := os.ReadDir(filepath.Join(h.dir, "bank-data", "results"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != job.Id+"-t0.csv" {
		t.Fatalf("bank's results folder: %v", names)
	}
	b, err := os.ReadFile(filepath.Join(h.dir, "bank-data", "results", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(b), "\n") - 1; rows != files.Common {
		t.Errorf("the result has %d rows, the intersection %d", rows, files.Common)
	}

	// A late result from the dead attempt is rejected and changes nothing.
	n := len(auditEntries(t, bank))
	var term uint64
	for _, ev := range taskEvents(t, bank, taskID) {
		if ev.kind == "task.scheduled" && ev.attempt == 1 {
			term = ev.term
		}
	}
	err = bank.Call(ctx, func(ctx context.Context, cl mitaiv1.CoordinatorClient) error {
		return reportStaleAttempt(ctx, cl, c.cert("bank"), taskID, 1, term)
	})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("late report of attempt 1: %v, want FAILED_PRECONDITION", err)
	}
	if m := len(auditEntries(t, bank)); m != n {
		t.Errorf("the late report changed the ledger: %d entries, then %d", n, m)
	}
}

// reportStaleAttempt reports, with the bank node's certificate (cert is
// what cl dials with), that attempt of taskID succeeded, as the node would
// if its attempt had run on past the lease the coordinator gave it.
// The ReportTask request is becoming a node-signed report: adapt it here.
func reportStaleAttempt(ctx context.Context, cl mitaiv1.CoordinatorClient, cert tls.Certificate, taskID string, attempt uint32, term uint64) error {
	jobID, task, _ := strings.Cut(taskID, ".")
	b, err := proto.Marshal(&mitaiv1.TaskOutcome{
		Task: &mitaiv1.TaskRef{TaskId: taskID, Attempt: attempt, Term: term}, Node: "bank/n1", Ok: true,
		Report: &mitaiv1.TaskReport{JobId: jobID, TaskId: task, Ok: true, Role: "receiver", ResultDigest: strings.Repeat("0", 64)},
	})
	if err != nil {
		return err
	}
	e := &mitaiv1.AuditEntry{Kind: state.KindTaskOutcome, Actor: "bank", Subject: taskID, Detail: b}
	if err := ledger.Sign(e, cert.Certificate[0], cert.PrivateKey.(crypto.Signer)); err != nil {
		return err
	}
	_, err = cl.ReportTask(ctx, &mitaiv1.ReportTaskRequest{Signed: &mitaiv1.SignedOutcome{
		Kind: e.Kind, Outcome: b, SignerCert: e.SignerCert, Signature: e.Signature,
	}})
	return err
}

// taskEvent is one ledger entry about a task attempt.
type taskEvent struct {
	kind    string
	attempt uint32
	term    uint64 // of a scheduled attempt
	at      time.Time
	reason  string // why an attempt failed or was aborted
}

// taskEvents reads the task's entries from the ledger (consistently).
func taskEvents(t *testing.T, cl *coordclient.Client, taskID string) []taskEvent {
	t.Helper()
	var out []taskEvent
	for _, e := range auditEntries(t, cl) {
		if e.Subject != taskID {
			continue
		}
		ev := taskEvent{kind: e.Kind, at: time.UnixMilli(e.TimeUnixMs)}
		o, err := state.Statement(e)
		if err != nil {
			t.Fatal(err)
		}
		if o != nil {
			ev.attempt, ev.reason = o.Task.GetAttempt(), o.Error
			out = append(out, ev)
			continue
		}
		var cmd mitaiv1.Command
		if err := proto.Unmarshal(e.Detail, &cmd); err != nil {
			t.Fatalf("ledger entry %d: %v", e.Index, err)
		}
		switch b := cmd.Body.(type) {
		case *mitaiv1.Command_ScheduleTask:
			ev.attempt, ev.term = b.ScheduleTask.Attempt, b.ScheduleTask.Term
		case *mitaiv1.Command_AbortAttempt:
			ev.attempt, ev.reason = b.AbortAttempt.Task.GetAttempt(), b.AbortAttempt.Reason
		case *mitaiv1.Command_TaskStarted:
			ev.attempt = b.TaskStarted.Task.GetAttempt()
		}
		out = append(out, ev)
	}
	return out
}

// eventSummary lists the attempts' scheduling and ends (not the start
// confirmations and deliveries, whose timing varies).
func eventSummary(events []taskEvent) string {
	var s []string
	for _, e := range events {
		if e.kind == "task.started" || e.kind == state.KindResultDelivered {
			continue
		}
		s = append(s, fmt.Sprintf("%s %d", e.kind, e.attempt))
	}
	return strings.Join(s, ", ")
}

func auditEntries(t *testing.T, cl *coordclient.Client) []*mitaiv1.AuditEntry {
	t.Helper()
	var resp *mitaiv1.AuditRangeResponse
	err := cl.Call(context.Background(), func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		resp, err = c.AuditRange(ctx, &mitaiv1.AuditRangeRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
		return err
	})
	if err != nil {
		t.Fatalf("audit range: %v", err)
	}
	return resp.Entries
}

// TestJobModel checks the linearizability model on small histories.
func TestJobModel(t *testing.T) {
	const never = math.MaxInt64
	submit := func(key string, call, ret int64, id string, dup bool) porcupine.Operation {
		out := jobOut{ID: id, Dup: dup, Unknown: ret == never}
		return porcupine.Operation{Input: jobOp{Key: key}, Call: call, Return: ret, Output: out}
	}
	read := func(key string, call, ret int64, id string) porcupine.Operation {
		return porcupine.Operation{Input: jobOp{Read: true, Key: key}, Call: call, Return: ret, Output: jobOut{ID: id}}
	}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"created, retried, read", []porcupine.Operation{submit("a", 0, 1, "j1", false), submit("a", 2, 3, "j1", true), read("a", 4, 5, "j1")}, true},
		{"failed attempt took effect", []porcupine.Operation{submit("a", 0, never, "", false), submit("a", 2, 3, "j1", true), read("a", 4, 5, "j1")}, true},
		{"failed attempt did not", []porcupine.Operation{submit("a", 0, never, "", false), read("a", 1, 2, ""), submit("a", 3, 4, "j1", false)}, true},
		{"concurrent submits", []porcupine.Operation{submit("a", 0, 5, "j1", true), submit("a", 1, 4, "j1", false)}, true},
		{"acknowledged, then lost", []porcupine.Operation{submit("a", 0, 1, "j1", false), read("a", 2, 3, "")}, false},
		{"one key, two jobs", []porcupine.Operation{submit("a", 0, 1, "j1", false), submit("a", 2, 3, "j2", false)}, false},
		{"retry not a duplicate", []porcupine.Operation{submit("a", 0, 1, "j1", false), submit("a", 2, 3, "j1", false)}, false},
		{"retry returns another job", []porcupine.Operation{submit("a", 0, 1, "j1", false), submit("a", 2, 3, "j2", true)}, false},
		{"read before the submit", []porcupine.Operation{read("a", 0, 1, "j1"), submit("a", 2, 3, "j1", false)}, false},
		{"other keys do not matter", []porcupine.Operation{submit("a", 0, 1, "j1", false), submit("b", 0, 1, "j2", false), read("b", 2, 3, "j2")}, true},
	} {
		if got := porcupine.CheckOperations(jobModel.ToModel(), tc.ops); got != tc.ok {
			t.Errorf("%s: linearizable %v, want %v", tc.name, got, tc.ok)
		}
	}
}
