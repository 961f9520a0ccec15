package keygen

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mitai-dev/mitai/protocol"
)

// RunLocal runs a whole key generation in this process: every party's role
// on its own goroutine, connected by protocol pipes. opts is every party's
// options (opts.Parties are the parties). For tests, benchmarks and demos;
// nodes run Run over their peer streams. It returns each party's result and
// the wall time.
func RunLocal(ctx context.Context, opts Options) (map[string]*Result, time.Duration, error) {
	names := opts.Parties
	mesh, closeAll := protocol.PipeMesh(names)
	defer closeAll()
	start := time.Now()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		res  = map[string]*Result{}
		errs []error
	)
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns := map[string]protocol.Conn{}
			for p, c := range mesh[n] {
				conns[p] = c
			}
			r, err := Run(ctx, n, conns, opts)
			if err != nil {
				for _, c := range mesh[n] {
					c.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res[n] = r
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if len(errs) > 0 {
		return nil, wall, errs[0]
	}
	return res, wall, nil
}
