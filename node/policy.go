package node

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/mitai-dev/mitai/crypto/pki"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// ErrPolicy marks a task refused by a dataset's policy.
var ErrPolicy = errors.New("refused by policy")

// PolicyRequest is what a task asks of one dataset.
type PolicyRequest struct {
	Partner string   // the other party of the task
	Mode    psi.Mode // the psi mode
	Reveal  []string // columns of this dataset the partner would receive
	Now     time.Time
}

// CheckPolicy decides whether the dataset's owner allows the request. It
// runs on the owner's node before the node sends anything.
func CheckPolicy(p *mitaiv1.Policy, req PolicyRequest) error {
	if p == nil {
		return fmt.Errorf("%w: the dataset has no policy", ErrPolicy)
	}
	if p.ExpiresUnix != 0 && req.Now.Unix() >= p.ExpiresUnix {
		return fmt.Errorf("%w: the dataset's policy expired at %s", ErrPolicy, time.Unix(p.ExpiresUnix, 0).UTC().Format(time.RFC3339))
	}
	if !slices.Contains(p.Partners, req.Partner) {
		return fmt.Errorf("%w: party %q is not an allowed partner", ErrPolicy, req.Partner)
	}
	if !slices.Contains(p.Modes, req.Mode.String()) {
		return fmt.Errorf("%w: mode %q is not allowed (allowed: %v)", ErrPolicy, req.Mode, p.Modes)
	}
	var granted []string
	for _, g := range p.Reveal {
		if g.Party == req.Partner {
			granted = append(granted, g.Columns...)
		}
	}
	for _, c := range req.Reveal {
		if !slices.Contains(granted, c) {
			return fmt.Errorf("%w: column %q may not be revealed to %q", ErrPolicy, c, req.Partner)
		}
	}
	return nil
}

// toPolicy validates the YAML form and converts it.
func (c PolicyConfig) toPolicy() (*mitaiv1.Policy, error) {
	p := &mitaiv1.Policy{Partners: c.Partners, Modes: c.Modes, MinIntersection: c.MinIntersection, AutoApprove: c.AutoApprove}
	if !c.Expires.IsZero() {
		p.ExpiresUnix = c.Expires.Unix()
	}
	parties := make([]string, 0, len(c.Reveal))
	for party := range c.Reveal {
		parties = append(parties, party)
	}
	sort.Strings(parties)
	for _, party := range parties {
		p.Reveal = append(p.Reveal, &mitaiv1.ColumnGrant{Party: party, Columns: c.Reveal[party]})
	}
	return p, ValidatePolicy(p)
}

// ValidatePolicy rejects a malformed policy.
func ValidatePolicy(p *mitaiv1.Policy) error {
	if p == nil {
		return errors.New("policy is required")
	}
	for _, party := range p.Partners {
		if err := pki.ValidPartyName(party); err != nil {
			return fmt.Errorf("policy partner: %w", err)
		}
	}
	for _, m := range p.Modes {
		if _, err := psi.ParseMode(m); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
	}
	for _, g := range p.Reveal {
		if !slices.Contains(p.Partners, g.Party) {
			return fmt.Errorf("policy reveals columns to %q, which is not a partner", g.Party)
		}
	}
	for _, party := range p.AutoApprove {
		if !slices.Contains(p.Partners, party) {
			return fmt.Errorf("policy auto-approves %q, which is not a partner", party)
		}
	}
	return nil
}
