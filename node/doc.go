// Package node is the mitai node daemon: it holds a party's dataset
// registry and policies, serves the Peer and NodeAdmin gRPC services over
// mutual TLS 1.3, and runs tasks through its executor.
//
// A task runs the same way whoever starts it (the coordinator's scheduler,
// or the node's own admin API): the initiating node dials the peer nodes,
// offers the task spec on a Peer.Task stream, each peer re-checks its own
// policy against the party named by the caller's certificate (and, for a
// scheduled task, asks the coordinator whether the attempt is current), and
// every party runs its protocol role over the streams (adapted to
// protocol.Conn). A two-party psi task runs over one stream; a multi-party
// task (mpsi, keygen, score) over a full mesh of them, each pair's stream
// dialled by its lower-numbered participant (session.go). Only receivers
// write results, atomically, to the node's results folder; keygen keeps the
// key set and the party's sealed secret share in the node's key store
// (keystore.go); score reads the party's model block from models/<name>.json
// and the rows in the order a previous mpsi job left.
package node
