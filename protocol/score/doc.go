// Package score is joint credit scoring under threshold CKKS (the score
// job): k parties hold different features of the same aligned rows and one
// linear model block each; the receiver R (the bank) learns each row's
// score and nobody learns another party's features, weights or partial
// scores. Roles are functions over a mesh of protocol.Conn (one connection
// to every other party): RunReceiver for R, RunContributor for the others.
// The collective key comes from protocol/keygen; each party passes the key
// set and its own secret share.
//
// # Flow
//
//  1. Hello to every peer (JSON): job, receiver, parties, key set digest,
//     row count and row-order digest (OrderDigest of the aligned keys),
//     scorecard, bands, probability mode, and each contributor's release
//     (from its Policy). Any disagreement ends the job at every party with
//     an error naming the peer. All parties compute the job's release from
//     the hellos the same way (see Leakage).
//  2. R draws a fresh result key pair (separate from its key share) and
//     sends its public key (seeded: 32-byte seed + p0) to every partner.
//  3. Each party P_i computes its partial log-odds u_i[r] = Σ_j w_j·(x_j[r]
//     − center_j)/scale_j in plaintext (R adds the intercept), checks its
//     data (Model.Partial: columns, NaN, ranges, clamping), applies its
//     policy (clamp, noise), and packs the rows in the agreed order into
//     ⌈n/N⌉ blocks of N slots (crypto/he), encrypted under the collective
//     public key at the preset's AffineLevel (1; 3 for affine30-ci14),
//     scale 2^82.
//  4. Commit: each party sends every peer SHA-256 chains over its blocks'
//     parts, before it has seen anybody's ciphertexts, and checks every
//     revealed part against the sender's commitment. Without it a party
//     could choose its contribution as minus another's, so that the "sum"
//     everybody key-switches is that other party's ciphertext alone.
//  5. Reveal: each party sends the c1 part of every block to every peer,
//     and the c0 part to R only (the others never need it: a key-switch
//     share reads only c1). Every party sums all contributions itself: no
//     party key-switches a ciphertext it did not compute from the
//     contributions (PROTOCOLS.md).
//  6. Each party sends R its public-key-switch share (mhe
//     PublicKeySwitchProtocol) of every block's sum toward R's result key,
//     with smudging noise, and the SHA-256 of the c1 it switched; R checks
//     that everybody switched the same sums, combines the shares with its
//     own, switches and decrypts (crypto/he Decryptor: at the affine
//     level, exactly, no rescale).
//  7. R tells every partner that it holds the result; a partner that hears
//     anything else (an abort, a closed connection, silence for
//     Options.IdleTimeout) fails too. Nothing partial is ever released: R
//     returns scores only when every block decrypted.
//
// Points are affine in the log-odds (Scorecard: points = Offset −
// Factor·z, Factor = PDO/ln 2, Offset = Base − Factor·ln(Odds); default
// PDO 20, 600 points at odds 50:1, so Factor 28.8539 and Offset
// 487.1229), and the probability is 1/(1+e^−z). R computes both from the
// decrypted log-odds: they are public functions of z, so computing them
// under encryption (as PROTOCOLS.md has it, "the public affine map in
// plaintext-ciphertext operations") would cost a level and reveal nothing
// less. The one exception is ProbabilityEncrypted (below).
//
// # Leakage
//
// What each party learns, semi-honest parties, n aligned rows, for every
// configuration (the release is the partner's policy's: Policy.TwoParty
// when R has one partner, Policy.MultiParty otherwise):
//
//	configuration                R (receiver) learns, per row r             each partner learns
//	k ≥ 3, partners exact        z[r] = Σ_i u_i[r] (±1e-4), hence the sum  n, the job's parameters and
//	                             Σ_{i≠R} u_i[r] of the others' parts, not   the other parties' release
//	                             any single partner's part                  settings; nothing about rows
//	k ≥ 3, partner P noise(ε,C)  as above with P's part replaced by         as above
//	                             clamp(u_P,±C) + Lap(2C/ε): ε-DP per row
//	                             for P's part, even if R knew the others'
//	k = 2, partner refuses       nothing: the job fails with ErrRefused     nothing
//	(the default)                after the hellos
//	k = 2, partner exact         z[r], hence u_P[r] = z[r] − u_R[r]         n
//	(explicit opt-in)            exactly: P's partial score per row
//	k = 2, partner noise(ε,C)    z[r] + Lap(2C/ε), hence u_P[r] clamped to  n
//	                             ±C plus Laplace noise: ε-DP per row for
//	                             P's partial score
//	k = 2, partner bands(C,D,W)  only band(points(u_R[r] + q(u_P[r]))):     n; nothing about R's rows
//	                             an interval of P's part at least W points  (R's table is encrypted under
//	                             wide (where the band is bounded), and      R's own key)
//	                             nothing else
//	encrypted probability        as the exact configuration with the same
//	                             partners (σ is a bijection)
//
// Every party also learns whether the job succeeded. The coordinator (not
// involved in the protocol) learns nothing about rows. Noise: with a
// NoiseKey the noise of a job is derived from the key and the job id, so a
// retried job cannot be averaged; different jobs over the same rows can,
// and ε adds up over them: a policy must bound how many it allows. Bands:
// q(u_P) is u_P clamped to ±C and rounded to one of D levels, so R's band
// is exact for the rounded score (rows within half a level of a cut may
// land in the next band: 66 of 3,000 rows with D = 64, C = 4 in the test);
// MinBandWidth stops R from asking for bands so narrow they are a score.
// The lookup costs D ciphertexts per block from R to P.
//
// Threat model: semi-honest parties (PROTOCOLS.md). The commitments and the
// switched-sum digests stop the cancellation attack above and catch
// parties whose sums differ, but nothing here stops a receiver that deviates
// in other ways: in the band lookup, for example, a receiver that encrypts
// the table T_v = v instead of the bands learns q(u_P) exactly.
//
// # Noise
//
// Values are encoded at up to 2^61/max|v| (float64 rounding, relative
// 2^-53) and scaled up exactly to 2^82 at level 1 (two 50-bit primes; level
// 3, four 30-bit primes, for affine30-ci14, with the same noise). Each
// party's key-switch share carries Gaussian smudging noise of σ = 2^55
// (crypto/he.Smudger), so the decrypted log-odds have error std
// 2^55·sqrt(2N·k)/2^82 (crypto/he Preset.AffineNoise): 2.3e-6 for N = 2^14
// and k = 3, measured max 1.1e-5 over 17,384 rows (affine-ci14 and
// affine30-ci14 alike: R decodes at the affine level, with no rescale
// rounding on top). The stated bound is 40 standard deviations (9.3e-5
// log-odds: 0.0027 points, 2.4e-5 in probability; the tests check it and
// the 1e-3 and 0.5 on every row). The smudging is 2^44 times the
// encryption noise it hides (the part of the decryption error that depends
// on the collective secret) and 2^29 times the float64 rounding of the
// encoded values (TestNoiseMargins). By the Rényi-divergence argument
// (Bai et al., 2015), hiding noise at most B under Gaussian smudging of σ
// multiplies the success probability of any attack on the key by at most
// exp(N·(B/σ)²) per ciphertext: below 1 + 2^-68 here with B = 6 standard
// deviations of the encryption noise.
//
// Band lookup: R encrypts its table at scale 2^50 under its own key; the
// partner multiplies by 0/1 masks encoded at 2^44, adds a fresh encryption
// of zero under R's key, and Gaussian noise of σ = 2^-6 in every slot: 16σ
// below the 0.25 at which rounding the band would fail, and 2^26 above
// everything in the decrypted value that depends on the masks other than
// the selected entry (their rounding, the table noise they carry).
//
// Encrypted probability (ProbabilityEncrypted, preset sigmoid-ci14, which
// needs a relinearization key): each party encrypts u_i/8 at the top level
// (scale 2^50), every party evaluates the degree-31 Chebyshev interpolant of
// the logistic function on [-8, 8] (max error 3e-6) on the sum
// (Paterson-Stockmeyer, 5 levels, deterministic, so all parties switch the
// same ciphertext; R checks the digests), and the key switch of the result
// (level 0, scale 2^50) carries smudging of σ = 2^26: probability error std
// 1.9e-5 for k = 3, 2^18 times the evaluation noise it hides — a smaller
// margin than the affine path's, which is why ProbabilityPlain is the
// default. Every party clamps its part to ±SigmoidBound and the bounds must
// add up to at most 8. The log-odds and points still come from the affine
// path.
//
// # Bad input
//
// A party's bad data (columns that do not match its model, NaN without a
// model default, values outside the model's range unless the job asks to
// clamp, partial scores beyond ±1024) is an InputError naming the row and
// column; it stays in that party's log, and its peers are told only that
// its input could not be used. A peer's message of the wrong kind, size,
// block, level, degree, ring size or scale, unreduced coefficients or
// garbage are errors (crypto/he decodes strictly; nothing panics); so are a
// different row count or row order, another key set or one that does not
// fit the job (no relinearization key for the encrypted probability, a
// party that holds no share), and a peer that closes or stays silent. In
// every case every party's run ends with an error and R returns no scores.
package score
