package psi

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// parallel runs fn over [0, n) split into contiguous chunks on up to workers
// goroutines and returns the first error. It stops early when ctx ends.
func parallel(ctx context.Context, workers, n int, fn func(lo, hi int) error) error {
	if n == 0 {
		return nil
	}
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(0, n)
	}
	g, ctx := errgroup.WithContext(ctx)
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(lo, hi)
		})
	}
	return g.Wait()
}
