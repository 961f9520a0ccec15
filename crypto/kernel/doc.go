// Package kernel holds mitai's own versions of the hot loops of RNS polynomial
// arithmetic on lattigo's ring polynomials, bit-exact with lattigo v5's ring
// package, in several implementations ("variants") chosen at run time.
//
// # What it computes
//
// Every operation works on one RNS limb at a time: a []uint64 such as
// ring.Poly.Coeffs[i], together with the *ring.SubRing of that limb, whose
// modulus, Montgomery constant (MRedConstant), Barrett constant (BRedConstant)
// and NTT tables (RootsForward, RootsBackward, NInv) it reads and never
// changes. The operations are
//
//   - NTT and INTT: the standard negacyclic transform of Z_q[X]/(X^N+1), equal to
//     SubRing.NTT and SubRing.INTT bit for bit (output in [0, q));
//   - MulCoeffsMontgomery, MulCoeffsMontgomeryLazy, MulCoeffsMontgomeryThenAdd,
//     MulCoeffsMontgomeryLazyThenAddLazy and MulScalarMontgomeryThenAdd: pointwise
//     products with Montgomery reduction by 2^64, lattigo's representation;
//   - Add, Sub, Neg and Reduce.
//
// Each operation's doc comment states the input range it accepts (lattigo's
// own, including its lazily reduced bounds) and the range of its output. Within
// those ranges the result equals what the SubRing method of the same name
// returns, bit for bit, for every variant; the tests check this against lattigo
// itself. The package does not check its inputs' ranges (that would cost as much
// as the operation), does not implement the conjugate-invariant ring, and
// allocates nothing but the avx2 variant's twiddle tables, once per SubRing
// (kept for the life of the process, as lattigo keeps the SubRing's own).
//
// # Variants and dispatch
//
// A variant is one implementation of every operation:
//
//   - "generic": portable Go, always built and always tested;
//   - "avx512": assembly on amd64, generated with avo from _asm/. It
//     accelerates only some operations and only moduli below 2^50 (the IFMA
//     path); for the rest it calls the generic code, so every variant
//     computes every operation;
//   - "avx2": assembly on amd64, generated with avo from _asm/avx2, for moduli
//     below 2^31 (AVX2 multiplies 32x32 -> 64 bits, VPMULUDQ): NTT and INTT of
//     the standard ring (N >= 16), the five Montgomery products, Add, Sub,
//     Neg and Reduce; larger moduli take the generic code. On an AVX-512
//     host the avx512 variant also runs the AVX2 loops for such moduli where
//     they are faster than its own.
//
// At init the package picks the best variant that is built for this
// architecture and that the CPU supports, from golang.org/x/sys/cpu flags.
// The environment variable MITAI_KERNEL=generic|avx2|avx512 forces a variant;
// an unknown name or a variant this build or CPU cannot run is ignored with a
// warning on the default slog logger and the generic variant is used, so that
// forcing never runs an instruction the CPU lacks. Building with the purego tag
// leaves only the generic variant.
//
// The package-level functions (NTT, MulCoeffsMontgomery, ...) call the active
// variant. Variants lists the variants this machine can run, Get returns one
// by name so that tests and the tuner can run them side by side without
// touching global state, and Select changes the active one.
package kernel
