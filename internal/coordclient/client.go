// Package coordclient is a client of the coordinator that knows every
// replica and moves to the next one when a replica is unreachable or has no
// leader, until a deadline. Writes through it are safe to retry: job
// submissions carry an idempotency key, and the other writes are rejected,
// not repeated, when they already happened.
package coordclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// coordinatorParty is the certificate CN of coordinator replicas.
const coordinatorParty = "coordinator"

// Client calls the coordinator through any of its replicas.
type Client struct {
	clients []mitaiv1.CoordinatorClient
	conns   []*grpc.ClientConn
	timeout time.Duration
	mu      sync.Mutex
	next    int
}

// Dial prepares connections to every replica address (nothing is dialled
// until the first call). timeout bounds each Call, across retries.
func Dial(addrs []string, cert tls.Certificate, caPEM []byte, timeout time.Duration) (*Client, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("coordclient: no coordinator address")
	}
	c := &Client{timeout: timeout}
	for _, addr := range addrs {
		addr = strings.TrimSpace(addr)
		opts, err := mtls.DialOptions(cert, caPEM, addr, coordinatorParty)
		if err != nil {
			c.Close()
			return nil, err
		}
		cc, err := grpc.NewClient(addr, opts...)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.conns = append(c.conns, cc)
		c.clients = append(c.clients, mitaiv1.NewCoordinatorClient(cc))
	}
	return c, nil
}

// Close closes every connection.
func (c *Client) Close() {
	for _, cc := range c.conns {
		cc.Close()
	}
}

// Call runs fn against one replica after another until it returns anything
// but UNAVAILABLE or DEADLINE_EXCEEDED, or the client's timeout passes.
func (c *Client) Call(ctx context.Context, fn func(context.Context, mitaiv1.CoordinatorClient) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		i := c.next
		c.mu.Unlock()
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(cctx, c.clients[i])
		ccancel()
		if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
			return err
		}
		c.moveOn(i)
		select {
		case <-ctx.Done():
			return fmt.Errorf("no coordinator replica answered within %v; last error: %w", c.timeout, err)
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
}

// Stream runs fn, which holds a server stream open for as long as it needs,
// against one replica after another while it fails with UNAVAILABLE or
// DEADLINE_EXCEEDED. Unlike Call it puts no deadline on fn; the client's
// timeout bounds only a run of failures in a row (an attempt that lasted a
// second or more counts as progress and starts a new run).
func (c *Client) Stream(ctx context.Context, fn func(context.Context, mitaiv1.CoordinatorClient) error) error {
	failingSince := time.Now()
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		i := c.next
		c.mu.Unlock()
		start := time.Now()
		err := fn(ctx, c.clients[i])
		if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded || ctx.Err() != nil {
			return err
		}
		if time.Since(start) >= time.Second {
			failingSince, attempt = time.Now(), 0
		}
		c.moveOn(i)
		if time.Since(failingSince) > c.timeout {
			return fmt.Errorf("no coordinator replica answered within %v; last error: %w", c.timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
}

// moveOn makes the replica after i the next one tried, unless another call
// moved on already.
func (c *Client) moveOn(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == i {
		c.next = (i + 1) % len(c.clients)
	}
}
