package node

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/mitai-dev/mitai/crypto/pki"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// NewPSITask returns the spec of a one-task psi job between two parties,
// started by the initiator's node: a fresh job id, task t0, attempt 1.
func NewPSITask(initiator, peer *mitaiv1.Participant, receivers []string, params *mitaiv1.PsiParams) *mitaiv1.TaskSpec {
	return &mitaiv1.TaskSpec{
		JobId: NewJobID(), TaskId: "t0", Attempt: 1, Kind: "psi",
		Participants: []*mitaiv1.Participant{initiator, peer},
		Receivers:    receivers,
		Psi:          params,
	}
}

// plan is one node's view of a psi task: its role and what it needs.
type plan struct {
	mode        psi.Mode
	receiver    bool // this node plays A, the receiver role
	both        bool // both parties receive
	local, peer *mitaiv1.Participant
	// localReceives: this node's party gets a result file.
	localReceives bool
	// columns: the sender's columns the receiver gets (join).
	columns []string
	// reveal: the columns of the local dataset the peer receives (join sender).
	reveal []string
}

// planTask validates a task spec and works out the role of party self.
// Roles follow the receivers: the receiver of a join, or of the
// intersection when only one party receives, plays A; when both receive,
// the initiator plays A and tells the other party the result.
func planTask(spec *mitaiv1.TaskSpec, self string) (*plan, error) {
	if !idPattern.MatchString(spec.JobId) {
		return nil, fmt.Errorf("job id %q: want 1-100 of A-Z a-z 0-9 . _ - starting with a letter or digit", spec.JobId)
	}
	if spec.TaskId != "" && !idPattern.MatchString(spec.TaskId) {
		return nil, fmt.Errorf("task id %q: want 1-100 of A-Z a-z 0-9 . _ - starting with a letter or digit", spec.TaskId)
	}
	if spec.Kind != "psi" {
		return nil, fmt.Errorf("task kind %q: this node runs psi tasks only", spec.Kind)
	}
	if len(spec.Participants) != 2 {
		return nil, fmt.Errorf("a psi task has 2 participants, this one %d", len(spec.Participants))
	}
	for _, p := range spec.Participants {
		if err := pki.ValidPartyName(p.Party); err != nil {
			return nil, fmt.Errorf("participant: %w", err)
		}
		if p.Dataset == "" {
			return nil, fmt.Errorf("participant %q names no dataset", p.Party)
		}
	}
	p0, p1 := spec.Participants[0], spec.Participants[1]
	if p0.Party == p1.Party {
		return nil, fmt.Errorf("both participants are party %q; psi runs between two parties", p0.Party)
	}
	var pl plan
	switch self {
	case p0.Party:
		pl.local, pl.peer = p0, p1
	case p1.Party:
		pl.local, pl.peer = p1, p0
	default:
		return nil, fmt.Errorf("party %q is not a participant of the task", self)
	}
	if spec.Psi == nil {
		return nil, fmt.Errorf("psi task without psi parameters")
	}
	mode, err := psi.ModeFromProto(spec.Psi.Mode)
	if err != nil {
		return nil, err
	}
	pl.mode = mode
	if len(spec.Receivers) == 0 || len(spec.Receivers) > 2 {
		return nil, fmt.Errorf("a psi task names 1 or 2 receivers, this one %d", len(spec.Receivers))
	}
	for _, r := range spec.Receivers {
		if r != p0.Party && r != p1.Party {
			return nil, fmt.Errorf("receiver %q is not a participant", r)
		}
	}
	receivers := slices.Compact(slices.Sorted(slices.Values(spec.Receivers)))
	pl.both = len(receivers) == 2
	if pl.both && mode == psi.Join {
		return nil, fmt.Errorf("a join delivers payloads to one receiver; name one")
	}
	if mode != psi.Join && len(spec.Psi.Columns) > 0 {
		return nil, fmt.Errorf("columns are only for join mode")
	}
	var receiverParty string
	if pl.both {
		receiverParty = p0.Party
	} else {
		receiverParty = receivers[0]
	}
	pl.receiver = receiverParty == self
	pl.localReceives = pl.both || receiverParty == self
	if mode == psi.Join {
		pl.columns = spec.Psi.Columns
		if !pl.receiver {
			pl.reveal = pl.columns
		}
	}
	if mode == psi.Join {
		if len(slices.Compact(slices.Sorted(slices.Values(spec.Psi.Columns)))) != len(spec.Psi.Columns) {
			return nil, fmt.Errorf("join columns %v name a column twice", spec.Psi.Columns)
		}
	}
	return &pl, nil
}

// roleName is the name of the role this node plays.
func (p *plan) roleName() string {
	if p.receiver {
		return "receiver"
	}
	return "sender"
}
