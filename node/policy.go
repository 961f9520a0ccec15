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
	"github.com/mitai-dev/mitai/protocol/score"
)

// ErrPolicy marks a task refused by a dataset's policy.
var ErrPolicy = errors.New("refused by policy")

// PolicyRequest is what a task asks of one dataset.
type PolicyRequest struct {
	Partners []string // the other parties of the task
	// Use is the psi mode ("intersection", "cardinality", "join") or the
	// job kind ("mpsi", "keygen", "score").
	Use    string
	Reveal []string // columns of this dataset the partner would receive (psi join, one partner)
	Now    time.Time
}

// JobKinds are the policy uses that are job kinds rather than psi modes.
var JobKinds = []string{"mpsi", "keygen", "score"}

// CheckPolicy decides whether the dataset's owner allows the request. It
// runs on the owner's node before the node sends anything.
func CheckPolicy(p *mitaiv1.Policy, req PolicyRequest) error {
	if p == nil {
		return fmt.Errorf("%w: the dataset has no policy", ErrPolicy)
	}
	if p.ExpiresUnix != 0 && req.Now.Unix() >= p.ExpiresUnix {
		return fmt.Errorf("%w: the dataset's policy expired at %s", ErrPolicy, time.Unix(p.ExpiresUnix, 0).UTC().Format(time.RFC3339))
	}
	for _, partner := range req.Partners {
		if !slices.Contains(p.Partners, partner) {
			return fmt.Errorf("%w: party %q is not an allowed partner", ErrPolicy, partner)
		}
	}
	if !slices.Contains(p.Modes, req.Use) {
		return fmt.Errorf("%w: mode %q is not allowed (allowed: %v)", ErrPolicy, req.Use, p.Modes)
	}
	if len(req.Reveal) > 0 && len(req.Partners) != 1 {
		return fmt.Errorf("%w: columns are revealed to one partner only", ErrPolicy)
	}
	var granted []string
	for _, g := range p.Reveal {
		if len(req.Partners) == 1 && g.Party == req.Partners[0] {
			granted = append(granted, g.Columns...)
		}
	}
	for _, c := range req.Reveal {
		if !slices.Contains(granted, c) {
			return fmt.Errorf("%w: column %q may not be revealed to %q", ErrPolicy, c, req.Partners[0])
		}
	}
	return nil
}

// ScorePolicy is the score release policy a dataset's policy states, or
// score.DefaultPolicy (refuse two-party, exact with more partners) when it
// states none.
func ScorePolicy(p *mitaiv1.Policy) (score.Policy, error) {
	sp := p.GetScore()
	if sp == nil {
		return score.DefaultPolicy, nil
	}
	two, err := scoreRelease(sp.TwoParty, score.DefaultPolicy.TwoParty)
	if err != nil {
		return score.Policy{}, fmt.Errorf("policy: score two_party: %w", err)
	}
	multi, err := scoreRelease(sp.MultiParty, score.DefaultPolicy.MultiParty)
	if err != nil {
		return score.Policy{}, fmt.Errorf("policy: score multi_party: %w", err)
	}
	out := score.Policy{TwoParty: two, MultiParty: multi}
	return out, out.Check()
}

func scoreRelease(r *mitaiv1.ScoreRelease, def score.Release) (score.Release, error) {
	if r == nil {
		return def, nil
	}
	mode, err := score.ParseReleaseMode(r.Mode)
	if err != nil {
		return score.Release{}, err
	}
	return score.Release{Mode: mode, Bound: r.Bound, Epsilon: r.Epsilon, MinBandWidth: r.MinBandWidth, Levels: int(r.Levels)}, nil
}

// toPolicy validates the YAML form and converts it.
func (c PolicyConfig) toPolicy() (*mitaiv1.Policy, error) {
	p := &mitaiv1.Policy{Partners: c.Partners, Modes: c.Modes, MinIntersection: c.MinIntersection, AutoApprove: c.AutoApprove}
	if c.Score != nil {
		p.Score = &mitaiv1.ScorePolicy{TwoParty: c.Score.TwoParty.proto(), MultiParty: c.Score.MultiParty.proto()}
	}
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
		if _, err := psi.ParseMode(m); err != nil && !slices.Contains(JobKinds, m) {
			return fmt.Errorf("policy: %q is neither a psi mode (intersection, cardinality, join) nor a job kind (mpsi, keygen, score)", m)
		}
	}
	if _, err := ScorePolicy(p); err != nil {
		return err
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
