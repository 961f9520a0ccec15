// Package psi is ECDH private set intersection as role functions over a
// protocol.Conn: two-party intersection, cardinality and join with payload,
// and the k-party alignment built on it (RunAlignHub, RunAlignSpoke; see
// "k-party alignment" below).
//
// Roles: A, the receiver (RunReceiver), holds keys X; B, the sender
// (RunSender), holds keys Y and, in join mode, a payload per key. G is the
// job's group (crypto/group), H hashes to G with the domain tag
// "mitai/v1/psi/<job id>", trunc(z) is the first 12 bytes of SHA-256 of z's
// encoding (16 bytes when a set reaches 2^30 keys).
//
//  1. Both send a hello (version, job, group, mode, set size, batch size,
//     who receives, policy minimum) and check that the peer's agrees; of
//     the two batch sizes, a host setting each, both use the smaller.
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
//
// # k-party alignment
//
// RunAlignHub and RunAlignSpoke align the rows of 2 to 16 parties before a
// joint job (the mpsi kind): every party ends with I = X_0 ∩ X_1 ∩ … ∩ X_m,
// the keys all of them hold, sorted by bytes.Compare. The topology is a
// star: the hub P_0 (the job's first participant, keys X_0) has one
// connection to each spoke P_i (keys X_i); spokes never talk to each other.
//
//  1. Hello both ways on every connection: version, job, group, hub, the
//     sorted parties, sender and addressee, batch size and, from a spoke,
//     its policy minimum. Any difference but in batch size (the pair uses
//     the smaller) stops the run before a key is used.
//  2. The hub runs the two-party protocol above with every spoke at once,
//     itself as receiver A in intersection mode, the spoke as sender B, under
//     the job id "<job>/<spoke>" (blinded values of two pairs cannot be
//     correlated) and with M, the largest minimum of all parties. It learns
//     X_0∩X_i from each pair.
//  3. The hub intersects the pairwise results into I. If |I| < M it
//     releases nothing and every party returns ErrBelowMinimum (as it does
//     when a pair is below M).
//  4. The hub sends every spoke an outcome with |I| and the batch count,
//     then I in batches of at most the pair's batch size and 4 MiB. A spoke checks
//     counts, sizes, strictly increasing order and that every key is one of
//     its own (the error names a list position, never a key), then confirms
//     the list's SHA-256 digest.
//  5. Once every spoke has confirmed the same digest, the hub sends each a
//     commit; only then does a spoke return the list.
//
// A party that fails sends its peer(s) a stop with its reason. The hub
// relays any failure to every other spoke, interrupting their PSI if need
// be, so nobody returns a partial list and nobody waits for its idle
// timeout; a spoke that closes or stays silent ends the hub's run with an
// error naming it. While a spoke waits for the hub to finish with the
// others, the hub sends it keep-alives.
//
// What each party learns in an alignment (semi-honest parties):
//
//	party    learns
//	hub      I; X_0∩X_i and |X_i| for every spoke i; every spoke's minimum
//	spoke i  I (so |I|); |X_0|; M
//
// Every party also learns whether I was released (|I| ≥ M). A pair below M
// gives the hub only that fact, not the pair's intersection; but pairs that
// reached M have given theirs even when the run is refused as a whole.
//
// The hub learns more than I: it learns each pairwise intersection X_0∩X_i,
// so which spokes hold each of its keys, including keys outside I. That is
// the price of the star: the hub runs an ordinary two-party PSI with each
// spoke and intersects the results in the clear. Spokes learn nothing of
// each other's sets beyond I. A ring or tree protocol (each party blinding
// the running intersection in turn, or an OPPRF-based multi-party PSI)
// would hide the pairwise intersections from the hub too; that is future
// work. Until then, the hub should be the party that the other parties'
// policies allow to see their overlap with it (in joint scoring, the bank).
package psi
