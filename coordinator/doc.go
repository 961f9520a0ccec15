// Package coordinator is mitai's control plane: a replica of the
// Raft-replicated coordinator. Three or five replicas share one Raft log
// (hashicorp/raft, with raft-boltdb for the log and stable store and file
// snapshots, all on the replica's data dir); the log's commands drive the
// deterministic state machine of coordinator/state: the catalog, jobs and the
// audit ledger.
//
// Raft traffic runs over TLS 1.3 with the cluster CA, on its own port, and
// only peers whose certificate names the party "coordinator" may connect. The
// leader stamps every command with its clock and the ids it chooses; replicas
// never read a clock while applying. A replica whose log holds a command it
// cannot decode stops rather than diverge.
//
// The coordinator never sees keys, rows or results.
package coordinator

// CoordinatorParty is the party name (certificate CN) of coordinator replicas.
const CoordinatorParty = "coordinator"
