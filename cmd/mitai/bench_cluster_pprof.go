package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/mitai-dev/mitai/bench/localnet"
)

// With MITAI_PPROF_LISTEN=127.0.0.1:PORT in its environment, any mitai
// process serves net/http/pprof on that address (loopback only): `mitai
// bench cluster --profile` sets it for the replicas to profile the leader.
// It is a debugging aid; nothing else turns it on.
func init() {
	addr := os.Getenv(localnet.PprofEnv)
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "mitai: %s=%q: want a loopback host:port; pprof not served\n", localnet.PprofEnv, addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mitai: pprof: %v\n", err)
		return
	}
	go func() { _ = http.Serve(lis, mux) }()
}
