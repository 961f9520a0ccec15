package state

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Snapshot encodes the whole state deterministically (datasets and jobs in
// key order, the ledger in index order).
func (s *State) Snapshot() ([]byte, error) {
	snap := &mitaiv1.CoordinatorSnapshot{
		Datasets: make([]*mitaiv1.CatalogDataset, 0, len(s.datasets)),
		Jobs:     make([]*mitaiv1.Job, 0, len(s.jobs)),
		Ledger:   s.ledger.Entries(),
	}
	for _, d := range s.datasets {
		snap.Datasets = append(snap.Datasets, d)
	}
	slices.SortFunc(snap.Datasets, func(a, b *mitaiv1.CatalogDataset) int {
		return strings.Compare(DatasetKey(a.Party, a.Info.Name), DatasetKey(b.Party, b.Info.Name))
	})
	for _, j := range s.jobs {
		snap.Jobs = append(snap.Jobs, j)
	}
	slices.SortFunc(snap.Jobs, func(a, b *mitaiv1.Job) int { return strings.Compare(a.Id, b.Id) })
	snap.Nodes = s.sortedNodes()
	snap.Tasks = s.sortedTasks()
	snap.Requests = s.requestLog
	return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
}

// Restore decodes a snapshot into a fresh state, verifying the ledger's
// hash chain.
func Restore(b []byte) (*State, error) {
	var snap mitaiv1.CoordinatorSnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("state: undecodable snapshot: %w", err)
	}
	l, err := ledger.Restore(snap.Ledger)
	if err != nil {
		return nil, fmt.Errorf("state: snapshot: %w", err)
	}
	s := New()
	s.ledger = l
	for _, d := range snap.Datasets {
		if d.Info == nil {
			return nil, fmt.Errorf("state: snapshot: dataset of %q without metadata", d.Party)
		}
		s.datasets[DatasetKey(d.Party, d.Info.Name)] = d
	}
	for _, j := range snap.Jobs {
		if j.Spec == nil {
			return nil, fmt.Errorf("state: snapshot: job %s without a spec", j.Id)
		}
		s.jobs[j.Id] = j
		if j.Spec.IdempotencyKey != "" {
			s.byKey[j.Submitter+"/"+j.Spec.IdempotencyKey] = j.Id
		}
	}
	for _, n := range snap.Nodes {
		s.nodes[NodeKey(n.Party, n.Node)] = n
	}
	for _, t := range snap.Tasks {
		s.tasks[t.Id] = t
	}
	for id := range s.jobs {
		s.reindex(id)
	}
	for _, r := range snap.Requests {
		s.requests[r.RequestId] = r
	}
	s.requestLog = snap.Requests
	return s, nil
}

func (s *State) sortedNodes() []*mitaiv1.NodeRecord {
	out := make([]*mitaiv1.NodeRecord, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *mitaiv1.NodeRecord) int {
		return strings.Compare(NodeKey(a.Party, a.Node), NodeKey(b.Party, b.Node))
	})
	return out
}

func (s *State) sortedTasks() []*mitaiv1.Task {
	out := make([]*mitaiv1.Task, 0, len(s.tasks))
	for _, t := range s.tasks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *mitaiv1.Task) int { return strings.Compare(a.Id, b.Id) })
	return out
}
