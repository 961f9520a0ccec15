// Package state is the coordinator's replicated state machine: the catalog
// of published datasets, the jobs, and the audit ledger, changed only by
// applying the commands of the Raft log, in order.
//
// Apply is deterministic: it reads no clock and no random source (the leader
// stamps each command with its time and with the ids it chose), iterates no
// map in an order that matters, and takes the audit entry's detail from the
// command's own log bytes, so every replica that applies the same log holds
// the same state and the same ledger, hash for hash. A command that breaks a
// rule is rejected by Apply with an error and changes nothing; an unknown
// command type is a hard error too.
//
// Job states and the transitions Apply makes (the scheduler, later, makes
// the rest):
//
//	submit ──> AWAITING_APPROVAL ──(last owner approves)──> SUBMITTED
//	submit ──> SUBMITTED            (every owner approved: own datasets, auto_approve)
//	SUBMITTED ──(scheduler makes tasks)──> SCHEDULED ──> RUNNING ──> SUCCEEDED | FAILED
//	any state but SUCCEEDED, FAILED, CANCELLED ──(cancel)──> CANCELLED
//
// Approval: a job touching a dataset waits for its owner's approval unless
// the owner is the submitter or the dataset's published policy auto-approves
// the submitter. Whatever the coordinator decides, the owner's node checks its
// own policy again when a task arrives.
//
// The coordinator sees dataset names, schemas, row counts, digests and
// policies; never keys, rows or results.
package state
