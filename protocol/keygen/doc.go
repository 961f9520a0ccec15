// Package keygen is collective key generation for threshold CKKS (the
// keygen job): k parties end with one public key set and each with its own
// share of a secret key that nobody holds, as one role function over a mesh
// of protocol.Conn (each party has a connection to every other; the same
// function runs at every party). It uses lattigo's mhe package.
//
// Flow, after every party derived the common reference string (CRS) from
// SHA-256(seed || job id) with lattigo's keyed PRNG (a separate stream per
// purpose, see crypto/he.CRS):
//
//  1. Hello to every peer: version, job, preset, the sorted party list,
//     threshold, SHA-256 of the CRS key, whether a relinearization key is
//     made. Any difference ends the run with an error naming the peer.
//  2. Each party draws its secret s_i (ternary, lattigo's default) locally.
//  3. t-of-N only (Threshold < k): each party Shamir-shares s_i with
//     threshold t (mhe.Thresholdizer) and sends party j its share at j's
//     point (index in the sorted party list + 1) over their connection,
//     which must be confidential (the nodes' mutual-TLS streams are); each
//     sums what it receives into its Shamir share of s = Σ s_i.
//  4. Public key (mhe.PublicKeyGenProtocol): each broadcasts
//     p0_i = -a·s_i + e_i for the CRS polynomial a, and every party sums
//     them: pk = (Σ p0_i, a).
//  5. Only for presets whose circuits multiply (sigmoid-ci14): the
//     two-round relinearization key protocol (mhe.RelinearizationKeyGenProtocol),
//     each round broadcast and summed by everybody. No Galois (rotation)
//     keys are made: no circuit of mitai's scoring rotates slots.
//  6. Each party broadcasts the SHA-256 digest of the key set it assembled
//     (crypto/he.KeySet: preset, parties, threshold, CRS key, p0, and the
//     relinearization key) and checks every peer's against its own.
//
// Every party aggregates by itself, so nobody depends on an aggregator's
// honesty for the key it uses, and step 6 catches any party that ended with
// a different key set. The result is the key set (public: publish it with
// its digest; later jobs name it by the digest) and this party's secret
// share, which must stay on its node: Secret.Save seals it with AES-256-GCM
// under a key derived from a node secret and writes it with mode 0600.
//
// What each party learns: the key set, and the other parties' public-key
// (and relinearization) shares, which are RLWE samples that reveal nothing
// about their s_i. In t-of-N mode a party also receives one Shamir share of
// every other party's secret; fewer than t parties together learn nothing
// about s. The coordinator sees only the job, the seed and the published
// key set.
//
// Semi-honest parties: a party that sends a wrong share (well formed but
// not computed as specified) makes a key set that does not decrypt; nothing
// here detects it. Malformed messages (wrong sizes, unreduced coefficients,
// garbage) end the run with an error at every party, never a panic; a peer
// that closes or stays silent for Options.IdleTimeout does too, and a party
// that stops tells its peers why.
package keygen
