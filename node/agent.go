package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/internal/coordclient"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// agent connects a node to the coordinator: it heartbeats, starts the
// attempts the coordinator assigns to this node as initiator, stops the
// attempts the coordinator has aborted, and reports outcomes.
type agent struct {
	coord    *coordclient.Client
	exec     *Executor
	reg      *Registry
	name     string // this node's name within its party
	address  string // where peers reach this node
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	running map[string]attempt // by coordinator task id
	done    map[string]uint32  // attempts that ended here, until the coordinator moves on
	wg      sync.WaitGroup
}

type attempt struct {
	n      uint32
	cancel context.CancelFunc
}

// coordTaskID is the coordinator's id of a task spec's task.
func coordTaskID(spec *mitaiv1.TaskSpec) string { return spec.JobId + "." + spec.TaskId }

// run heartbeats until ctx ends, then waits for the attempts it started.
func (a *agent) run(ctx context.Context) {
	defer a.wg.Wait()
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		if err := a.beat(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *agent) beat(ctx context.Context) error {
	req := &mitaiv1.HeartbeatRequest{Node: a.name, Address: a.address}
	for _, d := range a.reg.List() {
		req.Datasets = append(req.Datasets, d.Name)
	}
	a.mu.Lock()
	for id, at := range a.running {
		req.Running = append(req.Running, &mitaiv1.TaskRef{TaskId: id, Attempt: at.n})
	}
	a.mu.Unlock()
	var resp *mitaiv1.HeartbeatResponse
	err := a.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		resp, err = c.Heartbeat(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	for _, ref := range resp.Abort {
		a.mu.Lock()
		if at, ok := a.running[ref.TaskId]; ok && at.n == ref.Attempt {
			a.log.Warn("the coordinator aborted an attempt; stopping it", "task", ref.TaskId, "attempt", ref.Attempt)
			at.cancel()
		}
		a.mu.Unlock()
	}
	for _, spec := range resp.Start {
		a.start(ctx, spec)
	}
	return nil
}

// start runs an assigned attempt unless it runs or ran here already.
func (a *agent) start(ctx context.Context, spec *mitaiv1.TaskSpec) {
	id := coordTaskID(spec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if at, ok := a.running[id]; ok && at.n >= spec.Attempt || a.done[id] >= spec.Attempt {
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	a.running[id] = attempt{n: spec.Attempt, cancel: cancel}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		report, err := a.exec.Run(tctx, spec)
		a.report(ctx, spec, report, err)
		a.mu.Lock()
		if at, ok := a.running[id]; ok && at.n == spec.Attempt {
			delete(a.running, id)
		}
		a.done[id] = max(a.done[id], spec.Attempt)
		a.mu.Unlock()
	}()
}

// report tells the coordinator how an attempt ended, retrying while the
// coordinator is unreachable; a rejection (a stale attempt) is final.
func (a *agent) report(ctx context.Context, spec *mitaiv1.TaskSpec, report *mitaiv1.TaskReport, runErr error) {
	req := &mitaiv1.ReportTaskRequest{Task: &mitaiv1.TaskRef{TaskId: coordTaskID(spec), Attempt: spec.Attempt}, Ok: runErr == nil, Report: report}
	if runErr != nil {
		req.Error = runErr.Error()
	}
	for ctx.Err() == nil {
		err := a.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) error {
			_, err := c.ReportTask(ctx, req)
			return err
		})
		switch {
		case err == nil:
			a.log.Info("attempt reported", "task", req.Task.TaskId, "attempt", req.Task.Attempt, "ok", req.Ok)
			return
		case status.Code(err) == codes.FailedPrecondition:
			a.log.Warn("the coordinator rejected the attempt's outcome", "task", req.Task.TaskId, "attempt", req.Task.Attempt, "reason", status.Convert(err).Message())
			return
		}
		a.log.Warn("report failed; retrying", "err", err)
		time.Sleep(time.Second)
	}
}

// fence asks the coordinator whether an offered, scheduled attempt is
// current; the responder refuses stale ones.
func (a *agent) fence(ctx context.Context, spec *mitaiv1.TaskSpec) error {
	var resp *mitaiv1.CheckTaskResponse
	err := a.coord.Call(ctx, func(ctx context.Context, c mitaiv1.CoordinatorClient) (err error) {
		resp, err = c.CheckTask(ctx, &mitaiv1.CheckTaskRequest{Task: &mitaiv1.TaskRef{TaskId: coordTaskID(spec), Attempt: spec.Attempt}})
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot confirm attempt %d with the coordinator: %w", spec.Attempt, err)
	}
	if !resp.Current {
		return fmt.Errorf("attempt %d refused: %s", spec.Attempt, resp.Reason)
	}
	return nil
}
