// Package psi is two-party ECDH private set intersection: intersection,
// cardinality and join with payload, as role functions over a protocol.Conn.
//
// Roles: A, the receiver (RunReceiver), holds keys X; B, the sender
// (RunSender), holds keys Y and, in join mode, a payload per key. G is the
// job's group (crypto/group), H hashes to G with the domain tag
// "mitai/v1/psi/<job id>", trunc(z) is the first 12 bytes of SHA-256 of z's
// encoding (16 bytes when a set reaches 2^30 keys).
//
//  1. Both send a hello (version, job, group, mode, set size, batch size,
//     who receives, policy minimum) and check that the peer's agrees.
//  2. A draws a; sends U_p = H(x_π(p))^a in an order π only A knows.
//  3. B draws b; answers each batch with trunc(U_p^b), in A's order. In
//     cardinality mode B holds the answers back and sends them shuffled.
//  4. B sends Z_q = H(y_σ(q))^b in an order σ only B knows.
//  5. A matches trunc(Z_q^a) against the answers; x is in the intersection
//     iff its answer is among them.
//  6. A enforces the larger of both policies' minimum intersection sizes
//     (below it A releases nothing and both roles return ErrBelowMinimum),
//     then sends the outcome and, if B receives too, the matched positions q
//     in B's order (sorted, so nothing of A's order shows).
//
// Join: B draws c too; with each answer it returns W_p = U_p^c, and with each
// Z_q a sealed payload E_q = AES-256-GCM under HKDF-SHA256(H(y)^c), with the
// job id and q as associated data. For a match, A computes H(x)^c = W_p^(1/a)
// and opens E_q. For y not in X, H(y)^c stays hidden (DDH), so E_q is
// unreadable.
//
// Every list goes in batches (default 4,096 elements) whose count follows
// from the announced set sizes; a role checks each batch's kind, index,
// sizes and every element's validity before use, and ends the task with an
// error on anything else, on a peer that closes early, or on a peer silent
// for Options.IdleTimeout. Secret scalars are fresh per run and erased at
// the end.
//
// What each party learns (semi-honest parties):
//
//	mode          A (receiver)                          B (sender)
//	intersection  X∩Y, |Y|                              |X|; X∩Y and its size if BothReceive
//	cardinality   |X∩Y|, |Y| (not which keys)           |X|; |X∩Y| if BothReceive
//	join          X∩Y, B's payload for each match, |Y|  |X|
//
// In every mode B also learns whether the result was released (that is,
// whether |X∩Y| reached the policy minimum). Neither learns anything about
// keys outside the intersection beyond the set sizes.
//
// Keys are compared as exact bytes; the protocol assumes each side's keys
// are distinct (the node checks or deduplicates before a run). It does not
// protect against a malicious party that deviates from the protocol (for
// example, a receiver that lies about the outcome); that is the threat model
// of mitai (semi-honest parties, see PROTOCOLS.md).
package psi
