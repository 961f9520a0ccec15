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
// Job states and the transitions, each made by one command:
//
//	submit ─> AWAITING_APPROVAL ─(last owner approves)─> SUBMITTED
//	submit ─> SUBMITTED       (no approval needed: own datasets, or auto_approve)
//	SUBMITTED ─(leader: task.scheduled, attempt 1)─> SCHEDULED
//	SCHEDULED ─(leader: task.started, the initiator confirmed it runs)─> RUNNING
//	SCHEDULED | RUNNING ─(initiator's signed task.outcome, ok)─> SUCCEEDED
//	SCHEDULED | RUNNING ─(failed outcome, or task.aborted: lease expired)─>
//	    unchanged while attempts remain; the leader then schedules attempt
//	    n+1 (─> SCHEDULED); after attempt MaxAttempts ─> FAILED
//	any state but SUCCEEDED, FAILED, CANCELLED ─(cancel)─> CANCELLED
//
// Fencing: an attempt is named by (task, attempt, term), term being the
// leader's Raft term when it scheduled the attempt. Outcomes, start
// confirmations and aborts that name anything but the current attempt are
// rejected, so a node that was cut off cannot end, or report a result for,
// an attempt that was already replaced.
//
// Nodes sign what they report (task.outcome by the initiator,
// result.delivered by each receiving party's node); the ledger keeps the
// signed statement verbatim, so an auditor checks it with the node's
// certificate, not by trusting the coordinator.
//
// Approval: a job touching a dataset waits for its owner's approval unless
// the owner is the submitter or the dataset's published policy auto-approves
// the submitter. Whatever the coordinator decides, the owner's node checks its
// own policy again when a task arrives.
//
// The coordinator sees dataset names, schemas, row counts, digests and
// policies; never keys, rows or results.
package state
