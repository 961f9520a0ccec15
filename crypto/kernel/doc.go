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
//   - NTT and INTT: the standard negacyclic transform of Z_q[X]/(X^N+1), or
//     the conjugate-invariant one of Z_q[X+X^-1]/(X^2N+1) for a SubRing of a
//     ring.ConjugateInvariant ring (NthRoot 4N), equal to SubRing.NTT and
//     SubRing.INTT bit for bit (output in [0, q));
//   - MulCoeffsMontgomery, MulCoeffsMontgomeryLazy, MulCoeffsMontgomeryThenAdd,
//     MulCoeffsMontgomeryLazyThenAddLazy and MulScalarMontgomeryThenAdd: pointwise
//     products with Montgomery reduction by 2^64, lattigo's representation;
//   - Add, Sub, Neg and Reduce;
//   - SampleCDT, not a ring operation: the constant-time lookup of uniform
//     words in a cumulative distribution table, which crypto/he's discrete
//     Gaussian noise sampler spends most of its time in (AVX2 and AVX-512
//     compare four or eight words with each table entry at once). It is not
//     among Ops; a composition runs its base variant's.
//
// Each operation's doc comment states the input range it accepts (lattigo's
// own, including its lazily reduced bounds) and the range of its output. Within
// those ranges the result equals what the SubRing method of the same name
// returns, bit for bit, for every variant; the tests check this against lattigo
// itself. The package does not check its inputs' ranges (that would cost as much
// as the operation) and allocates nothing but the twiddle tables of the
// avx512 and avx2 NTTs, computed once per SubRing and modulus.
//
// # Variants and dispatch
//
// A variant is one implementation of every operation:
//
//   - "generic": portable Go, always built and always tested; its NTT and
//     INTT are lattigo's own exported transforms (the reference; a Go port
//     was 10-15% slower), everything else is this package's Go;
//   - "avx512": assembly on amd64, generated with avo from _asm/. With
//     AVX-512 IFMA (52-bit multiply-add), for moduli below 2^50 only, it
//     accelerates NTT and INTT of both ring types for N >= 16 (Shoup
//     butterflies, two stages per pass over memory, the last three stages in
//     registers) and all five Montgomery products, the lazy ones giving
//     lattigo's exact lazy word; with AVX-512F/DQ it accelerates Add, Sub,
//     Neg and Reduce for every modulus (Reduce from 2^20, with a quotient
//     estimated in double precision); for moduli below 2^31 it runs the
//     avx2 loops where they are faster than its own (not the NTTs: IFMA's
//     are about twice as fast); for the rest it calls the generic code, so
//     every variant computes every operation;
//   - "avx2": assembly on amd64, generated with avo from _asm/avx2, for moduli
//     below 2^31 (AVX2 multiplies 32x32 -> 64 bits, VPMULUDQ): NTT and INTT of
//     both ring types (N >= 16; the conjugate-invariant one as a folding pass
//     and the standard passes), the five Montgomery products, Add, Sub, Neg
//     and Reduce; larger moduli and smaller rings take the generic code.
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
// touching global state, and Select changes the active one. Compose builds a
// variant that takes each operation from the variant chosen for it (a host
// profile from `mitai bench tune`, see internal/tuning), and SetActive makes
// it the active one.
package kernel
