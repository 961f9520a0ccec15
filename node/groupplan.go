package node

import (
	"fmt"
	"slices"

	"github.com/mitai-dev/mitai/crypto/pki"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// maxGroupParticipants bounds the participants of a multi-party task.
const maxGroupParticipants = 16

// groupPlan is one node's view of a multi-party task (mpsi, keygen,
// score): the participants in the job's order, this party's index among
// them, and whether this party receives the result.
type groupPlan struct {
	kind    string
	self    int
	parties []string
	local   *mitaiv1.Participant
	// receives: this node's party gets a result.
	receives bool
}

// isGroupKind reports whether a task kind runs over a mesh of k parties.
func isGroupKind(kind string) bool {
	return kind == "mpsi" || kind == "keygen" || kind == "score"
}

// planGroup validates a multi-party task spec and works out party self's
// place in it.
func planGroup(spec *mitaiv1.TaskSpec, self string) (*groupPlan, error) {
	if !idPattern.MatchString(spec.JobId) || !idPattern.MatchString(spec.TaskId) {
		return nil, fmt.Errorf("job id %q, task id %q: want 1-100 of A-Z a-z 0-9 . _ - starting with a letter or digit", spec.JobId, spec.TaskId)
	}
	if !isGroupKind(spec.Kind) {
		return nil, fmt.Errorf("task kind %q is not a multi-party kind", spec.Kind)
	}
	n := len(spec.Participants)
	if n < 2 || n > maxGroupParticipants {
		return nil, fmt.Errorf("a %s task has 2 to %d participants, this one %d", spec.Kind, maxGroupParticipants, n)
	}
	pl := &groupPlan{kind: spec.Kind, self: -1}
	for i, p := range spec.Participants {
		if err := pki.ValidPartyName(p.Party); err != nil {
			return nil, fmt.Errorf("participant: %w", err)
		}
		if p.Dataset == "" {
			return nil, fmt.Errorf("participant %q names no dataset", p.Party)
		}
		if slices.Contains(pl.parties, p.Party) {
			return nil, fmt.Errorf("participant %q appears twice", p.Party)
		}
		pl.parties = append(pl.parties, p.Party)
		if p.Party == self {
			pl.self, pl.local = i, p
		}
	}
	if pl.self < 0 {
		return nil, fmt.Errorf("party %q is not a participant of the task", self)
	}
	receivers := slices.Compact(slices.Sorted(slices.Values(spec.Receivers)))
	for _, r := range receivers {
		if !slices.Contains(pl.parties, r) {
			return nil, fmt.Errorf("receiver %q is not a participant", r)
		}
	}
	switch spec.Kind {
	case "mpsi", "keygen":
		if len(receivers) != n {
			return nil, fmt.Errorf("every participant of a %s task receives its result", spec.Kind)
		}
		if spec.Kind == "keygen" && spec.Keygen == nil {
			return nil, fmt.Errorf("keygen task without keygen parameters")
		}
		if spec.Kind == "keygen" && len(spec.Seed) != 32 {
			return nil, fmt.Errorf("keygen task without the coordinator's 32-byte seed")
		}
		if spec.Kind == "mpsi" && spec.Psi != nil && spec.Psi.Mode != mitaiv1.PsiMode_PSI_MODE_INTERSECTION {
			return nil, fmt.Errorf("an mpsi task aligns keys: intersection mode only")
		}
	case "score":
		if len(receivers) != 1 || receivers[0] != pl.parties[0] {
			return nil, fmt.Errorf("a score task's only receiver is its first participant")
		}
		if spec.Score == nil {
			return nil, fmt.Errorf("score task without score parameters")
		}
		if !idPattern.MatchString(spec.Score.Alignment) {
			return nil, fmt.Errorf("score alignment %q is not a job id", spec.Score.Alignment)
		}
		if !keySetID.MatchString(spec.Score.KeySet) {
			return nil, fmt.Errorf("score key set %q: want 64 hex digits", spec.Score.KeySet)
		}
		if !modelName.MatchString(spec.Score.Model) {
			return nil, fmt.Errorf("score model %q: want 1-64 of A-Z a-z 0-9 . _ -", spec.Score.Model)
		}
	}
	pl.receives = slices.Contains(receivers, self)
	return pl, nil
}

// others are the parties other than this one.
func (p *groupPlan) others() []string {
	return slices.Delete(slices.Clone(p.parties), p.self, p.self+1)
}
