// Package node is the mitai node daemon: it holds a party's dataset
// registry and policies, serves the Peer and NodeAdmin gRPC services over
// mutual TLS 1.3, and runs tasks through its executor.
//
// A task runs the same way whoever starts it (the node's own admin API now,
// the coordinator later): the initiating node dials the peer node, offers the
// task spec on a Peer.Task stream, the peer re-checks its own policy against
// the party named by the caller's certificate, and both run their protocol
// role over the stream (adapted to protocol.Conn). Only receivers write
// results, atomically, to the node's results folder.
package node
