// Package he holds mitai's CKKS layer on lattigo v5: named parameter presets
// with their security level, packing of a column block of aligned rows into
// ciphertexts, compact serialization with strict decoding of what peers
// send, smudging noise, the collective key switch to a receiver, and the key
// material of collective keys (the public key set and each party's sealed
// secret share).
//
// Every preset is on the conjugate-invariant ring (lattigo
// ring.ConjugateInvariant): the data are real, so a ciphertext of ring
// degree N holds N values instead of N/2 complex ones. The presets and what
// they are for:
//
//	name           N     primes (bits)       log2 Q(P)  levels          security (HE standard)      use
//	affine-ci14    2^14  2×50                100        affine: 1       ≥256-bit (≤237 for n=2^14)  scores: sums, bands; 52-bit SIMD (IFMA)
//	affine30-ci14  2^14  4×30                120        affine: 3       ≥256-bit (≤237 for n=2^14)  the same on 32-bit SIMD (AVX2)
//	affine-ci12    2^12  2×50                100        affine: 1       128-bit (≤109 for n=2^12)   the same, small jobs
//	sigmoid-ci14   2^14  55+5×50 (+55)       360        depth 5         128-bit (≤438 for n=2^14)   probability under encryption
//
// ("affine: 1": the affine circuit encrypts at level 1 and decodes its
// results there, without a rescale; Decryptor.Decrypt.) The precision of
// the score job on each preset (three parties; sigmoid-ci14 here with the
// probability computed from the decrypted log-odds, as by default): the
// predicted error std of the log-odds (Preset.AffineNoise(3).Std) and the
// largest errors against the plaintext computation over 3 runs of 200,000
// rows, measured with
//
//	mitai bench he --rows 200000 --runs 3 --preset NAME
//
//	name           std (predicted)  max log-odds  max probability  max points
//	affine-ci14    2.3e-6           1.1e-5        2.4e-6           3.2e-4
//	affine30-ci14  2.3e-6           1.2e-5        2.3e-6           3.4e-4
//	affine-ci12    1.2e-6           6.0e-6        1.3e-6           1.7e-4
//	sigmoid-ci14   2.3e-6           1.2e-5        2.5e-6           3.4e-4
//
// affine30-ci14 keeps affine-ci14's scale and smudging, so its precision
// and its smudging margin are the same (TestAffineRoundTrip measures error
// std 2.3e-6 for both, the predicted value).
//
// The security levels are those of the HomomorphicEncryption.org standard
// (Albrecht et al., 2018, Table 1, uniform ternary secret, σ = 3.2) for
// RLWE of dimension n = N; the conjugate-invariant ring is the real subring
// of the 4N-th cyclotomic ring, of dimension N (Kim, Song: "Approximate
// homomorphic encryption over the conjugate-invariant ring", 2018).
//
// What the package does not do: it knows nothing of parties, connections or
// jobs (protocol/keygen and protocol/score do), and it does not protect
// against a party that sends well-formed but wrong ciphertexts; it only
// guarantees that malformed ones are errors, never panics.
//
// Noise of the affine circuit: values are encrypted at level AffineLevel
// (1; 3 for affine30-ci14) with scale 2^82 (encoded at the largest scale up to 2^61/max|v| that lattigo's
// 64-bit path takes, then multiplied up by an exact power of two), so a sum
// of k contributions decrypts with error std 2^LogSmudge·sqrt(2N·k)/2^82
// (see Preset.AffineNoise): 2.3e-6 for N = 2^14, k = 3, with σ_smudge =
// 2^55, about 2^44 times the standard deviation of the ciphertext noise
// that the smudging hides.
//
// Encryption and key-switch shares (Encryptor, KeySwitcher.Share) draw
// their randomness with the package's own sampler (AES-256-CTR, or ChaCha8
// without AES instructions, keyed from crypto/rand: ternary u, discrete
// Gaussian e of σ = 3.2 by crypto/kernel's SampleCDT) and compute with
// crypto/kernel, bit-exact with lattigo's formulas and representation
// (NTT domain, keys in Montgomery form); presets with key-switching primes
// P go through lattigo's encryptor and GenShare, which use P.
//
// Serialization is lattigo's binary format (MarshalBinary). Encoding goes
// through Codec.Marshal, which reduces every coefficient first (lattigo
// leaves some results in [0, 2q)) and writes polynomials, ciphertexts and
// key-switch shares without lattigo's per-coefficient loop; decoding is
// Codec.Unmarshal*, which accepts exactly one encoding per expected object
// (see wire.go). Public parts are seeded where lattigo allows: a key set
// keeps p0 of the public key (p1 is the common reference polynomial), a
// receiver's result key travels as a 32-byte seed and p0.
package he
