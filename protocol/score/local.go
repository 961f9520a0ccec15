package score

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/protocol"
)

// LocalParty is one party of an in-process job.
type LocalParty struct {
	Name   string
	Block  *Block
	Model  *Model
	KeySet *he.KeySet
	Secret *he.SecretShare
	// Policy is the party's policy (contributors); nil means DefaultPolicy.
	Policy *Policy
	// Tweak, if set, adjusts the party's options last.
	Tweak func(*Options)
}

// LocalResult is the outcome of RunLocal.
type LocalResult struct {
	Scores *Scores
	Stats  map[string]*Stats
	Errors map[string]error
	Wall   time.Duration
}

// RunLocal runs a whole score job in this process: every party's role on
// its own goroutine, connected by protocol pipes, with the common options
// base (JobID, Receiver, Scorecard, Bands, Probability, ...; Parties, keys
// and models come from parties). For tests, benchmarks and demos; nodes
// run RunReceiver and RunContributor over their peer streams.
func RunLocal(ctx context.Context, parties []LocalParty, base Options) (*LocalResult, error) {
	var names []string
	for _, p := range parties {
		names = append(names, p.Name)
	}
	mesh, closeAll := protocol.PipeMesh(names)
	defer closeAll()
	out := &LocalResult{Stats: map[string]*Stats{}, Errors: map[string]error{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for _, p := range parties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := base
			o.Parties, o.KeySet, o.Secret, o.Model, o.Policy = names, p.KeySet, p.Secret, p.Model, p.Policy
			if p.Tweak != nil {
				p.Tweak(&o)
			}
			conns := map[string]protocol.Conn{}
			for q, c := range mesh[p.Name] {
				conns[q] = c
			}
			var (
				sc  *Scores
				st  *Stats
				err error
			)
			if p.Name == base.Receiver {
				sc, st, err = RunReceiver(ctx, p.Name, conns, p.Block, o)
			} else {
				st, err = RunContributor(ctx, p.Name, conns, p.Block, o)
			}
			if err != nil { // a node ends its streams with the task
				for _, c := range mesh[p.Name] {
					c.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			out.Stats[p.Name], out.Errors[p.Name] = st, err
			if sc != nil {
				out.Scores = sc
			}
		}()
	}
	wg.Wait()
	out.Wall = time.Since(start)
	for _, n := range names {
		if err := out.Errors[n]; err != nil {
			return out, fmt.Errorf("%s: %w", n, err)
		}
	}
	return out, nil
}
