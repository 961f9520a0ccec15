// Package ledger is mitai's audit ledger: an append-only, hash-chained list
// of [mitaiv1.AuditEntry] that records every catalog change, job, approval,
// task outcome and result delivery. The coordinator's Raft FSM appends to it;
// anyone holding a copy (a replica's snapshot, or an export written by
// [WriteJSONL]) can check it with [Verify] or `mitai audit verify`.
//
// # The chain
//
// Entry i (from 1) carries index i, the hash of entry i-1 in prev_hash
// (32 zero bytes for entry 1) and its own hash, [EntryHash]: SHA-256 over
// every field of the entry but hash itself, prev_hash and signature
// included. Changing, removing, inserting or reordering any entry therefore
// changes the hash every later entry must carry.
//
// # Canonical encoding
//
// Hashes are computed over a canonical encoding, never over proto.Marshal
// output (whose bytes protobuf does not promise to keep across versions).
// With u64(v) the 8-byte big-endian encoding of v and lp(b) = u64(len(b)) || b
// (a length-prefixed byte or UTF-8 string field, so that no two entries share
// an encoding):
//
//	EntryHash(e) = SHA-256(
//	    lp("mitai/v1/audit-entry") ||
//	    u64(index) || u64(uint64(time_unix_ms)) ||
//	    lp(kind) || lp(actor) || lp(subject) || lp(detail) ||
//	    lp(prev_hash) || lp(signer_cert) || lp(signature))
//
//	ContentDigest(e) = SHA-256(
//	    lp("mitai/v1/audit-content") ||
//	    lp(kind) || lp(actor) || lp(subject) || lp(detail) || lp(signer_cert))
//
// The fields are taken in protobuf field-number order. time_unix_ms is
// encoded as its two's-complement bit pattern. An empty field is lp of zero
// bytes, which is the same as an unset one: proto3 does not tell them apart
// either. The two domain tags keep an entry hash from ever being mistaken
// for a content digest. A new field added to AuditEntry must be appended to
// both encodings (in a new domain-tag version) or it is not protected.
//
// # Node signatures
//
// A node reports a task outcome before the leader knows where it will land
// in the chain, so a node signs the entry's content only: [ContentDigest]
// covers kind, actor, subject, detail and signer_cert, and not index,
// time_unix_ms or prev_hash. [Sign] makes an ECDSA P-256 signature (ASN.1
// DER) over that digest with the node's key and records the node's DER
// certificate in signer_cert. The entry hash covers signer_cert and
// signature, so they are chained like everything else. Because the
// signature does not cover the entry's position, the coordinator could
// record one signed outcome twice or at another time; signers should put
// what makes an outcome unique (task id, attempt) in detail, and an auditor
// who cares reads detail. Entries the coordinator makes on its own or on a
// client's request carry no signature: they are attested only by the chain.
//
// # What Verify checks, and what it cannot detect
//
// [VerifyRange] checks, for each entry in order: the indices are consecutive
// from a given first index; the first entry of a whole ledger (first index 1)
// has a zero prev_hash; every prev_hash equals the previous entry's hash;
// every hash equals [EntryHash]; every signature verifies with its
// signer_cert's public key; and, given CA roots, that each signer_cert chains
// to them for client authentication at the entry's time_unix_ms and that its
// common name (the party) is the entry's actor. It reports the first entry
// that fails as a [*BrokenError]. [Verify] is VerifyRange starting wherever
// the list starts.
//
// A hash chain is tamper-evident only relative to something the verifier
// already trusts. Verify cannot detect:
//
//   - truncation of the tail: a ledger cut after entry n is a valid ledger of
//     n entries. Compare the head with a hash obtained independently (another
//     replica, an earlier audit): `mitai audit verify --head`.
//   - removal of leading entries, when the verifier does not say where the
//     list must start: [Verify] accepts any range, and the first entry's
//     prev_hash is checked only at index 1. VerifyRange(entries, 1, roots)
//     (and `mitai audit verify` by default) requires a whole ledger.
//   - a rewrite of the whole chain by someone who holds every copy: the
//     coordinator's own entries are not signed. Keep heads, or compare
//     replicas, to catch it.
//   - a false time_unix_ms: times are the leader's clock and are not signed
//     by nodes.
//   - a compromised or revoked node key: there is no revocation, and a
//     certificate is judged at the time the entry claims. Without CA roots a
//     signature shows only that the entry is consistent with the certificate
//     it carries, not who made it.
//
// # Export format
//
// [WriteJSONL] writes JSON Lines: one protojson-encoded AuditEntry per line
// (bytes fields in base64, protojson's default field names), UTF-8,
// newline-terminated, in index order. The chain protects the decoded
// entries, not the file's bytes: a change that decodes to the same entry
// (insignificant whitespace, an equivalent base64 spelling) is not a change
// to the ledger.
//
// # Concurrency
//
// A [Ledger] is not safe for concurrent use; the FSM applies commands one at
// a time and readers copy under the FSM's lock. Entries are never modified
// once appended, so the slice [Ledger.Entries] returns stays valid and
// unchanged after the lock is released.
package ledger
