package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddr(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < low || port > high {
			t.Fatalf("port %d outside %d..%d", port, low, high)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s not free: %v", addr, err)
		}
		l.Close()
		seen[addr] = true
	}
	if len(seen) != 20 {
		t.Fatalf("%d distinct addresses in 20 picks: a port was handed out twice", len(seen))
	}
}
