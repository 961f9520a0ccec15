// Package freeport picks loopback TCP addresses for processes that a test,
// demo or benchmark starts and that bind later.
//
// The usual trick (listen on port 0, note the port, close) hands out a port
// from the kernel's ephemeral range, where the kernel may give the same port
// to another socket before the process binds it: an outgoing connection's
// local end or another listener on port 0. On a busy machine running many
// tests at once that happens, and a replica then fails to bind (or a peer
// reaches somebody else's server). Addr picks from below the ephemeral range
// instead, where the kernel never assigns ports on its own.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

// The range Addr picks from: below Linux's default ephemeral range
// (32768-60999) and above the registered ports most services use.
const (
	low  = 15000
	high = 32767
)

// given holds the ports this process has handed out: one may not be bound
// yet, so the check that it is free says nothing, and it is never given twice.
var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Addr returns a 127.0.0.1:port address that was free when checked and that
// this process has not handed out before, with the port outside the kernel's
// ephemeral range. After 64 taken ports it falls back to one the kernel picks.
func Addr() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 64 {
		port := low + rand.IntN(high-low+1)
		if given[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		given[port] = true
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
