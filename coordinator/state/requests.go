package state

import (
	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Applied client requests are remembered for RequestTTL of leader time,
// and at most MaxRequests of them, so that a replica retrying a write
// (after a lost answer or a leadership change) gets the first result back
// instead of applying the command twice. Clients retrying on their own use
// idempotency keys, which do not expire.
const (
	RequestTTL  = 10 * 60 * 1000 // ms
	MaxRequests = 200_000
)

// replay answers a request that was applied before, from the current state.
func (s *State) replay(r *mitaiv1.AppliedRequest) Result {
	res := Result{AuditIndex: r.AuditIndex, Duplicate: r.Duplicate}
	if j, ok := s.jobs[r.JobId]; ok {
		res.Job = proto.Clone(j).(*mitaiv1.Job)
	}
	if d, ok := s.datasets[r.DatasetKey]; ok {
		res.Dataset = proto.Clone(d).(*mitaiv1.CatalogDataset)
	}
	return res
}

// remember records an applied request and forgets the expired ones, in
// apply order, so every replica forgets the same ones.
func (s *State) remember(cmd *mitaiv1.Command, r Result) {
	if cmd.RequestId != "" {
		a := &mitaiv1.AppliedRequest{RequestId: cmd.RequestId, TimeUnixMs: cmd.TimeUnixMs, AuditIndex: r.AuditIndex, Duplicate: r.Duplicate}
		if r.Job != nil {
			a.JobId = r.Job.Id
		}
		if r.Dataset != nil {
			a.DatasetKey = DatasetKey(r.Dataset.Party, r.Dataset.Info.GetName())
		}
		s.requests[a.RequestId] = a
		s.requestLog = append(s.requestLog, a)
	}
	for len(s.requestLog) > 0 && (len(s.requestLog) > MaxRequests || s.requestLog[0].TimeUnixMs < cmd.TimeUnixMs-RequestTTL) {
		delete(s.requests, s.requestLog[0].RequestId)
		s.requestLog[0] = nil
		s.requestLog = s.requestLog[1:]
	}
}
