package coordinator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/mitai-dev/mitai/coordinator/state"
)

// applyResult is what the FSM returns for one log entry.
type applyResult struct {
	state.Result
	err error
}

// fsm adapts state.State to raft.FSM. Reads take mu for reading.
type fsm struct {
	mu    sync.RWMutex
	st    *state.State
	fatal chan error // receives the first error that must stop the replica
	once  sync.Once
	log   *slog.Logger
}

func newFSM(log *slog.Logger) *fsm {
	return &fsm{st: state.New(), fatal: make(chan error, 1), log: log}
}

// applyChunk bounds the commands ApplyBatch applies under one hold of the
// write lock, so that reads (heartbeats, job reads, the scheduler) wait for
// at most that many.
const applyChunk = 64

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyLocked(l)
}

// ApplyBatch implements raft.BatchingFSM: a batch of committed entries (up
// to MaxAppendEntries) is applied in order, taking the lock once per chunk
// instead of once per entry.
func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for len(logs) > 0 {
		n := min(len(logs), applyChunk)
		f.mu.Lock()
		for i, l := range logs[:n] {
			out[len(out)-len(logs)+i] = f.applyLocked(l)
		}
		f.mu.Unlock()
		logs = logs[n:]
	}
	return out
}

// applyLocked applies one entry; f.mu is held for writing.
func (f *fsm) applyLocked(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return applyResult{}
	}
	r, err := f.st.Apply(l.Data)
	if err != nil && !errors.Is(err, state.ErrRejected) {
		// A command this replica cannot apply: continuing would diverge from
		// the replicas that can. Stop, loudly.
		f.once.Do(func() { f.fatal <- fmt.Errorf("log entry %d: %w", l.Index, err) })
	}
	return applyResult{Result: r, err: err}
}

// read runs fn with the state locked for reading.
func (f *fsm) read(fn func(*state.State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.st)
}

// Snapshot implements raft.FSM: the state is encoded at once, under the
// lock, so later commands cannot leak into it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	b, err := f.st.Snapshot()
	f.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("coordinator: read snapshot: %w", err)
	}
	st, err := state.Restore(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	// Operators (and the snapshot catch-up test) look for this line.
	f.log.Info("state restored from a snapshot", "bytes", len(b), "audit_entries", st.Ledger().Len())
	return nil
}

type snapshot []byte

// Persist implements raft.FSMSnapshot.
func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s snapshot) Release() {}
