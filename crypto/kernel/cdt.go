package kernel

// SampleCDT sets x[i], for i < len(r), to the sample that the uniform random
// word r[i] draws from a symmetric distribution given by its cumulative
// distribution table: |x[i]| = #{k : r[i] mod 2^63 >= table[k]}, negative
// when r[i]'s top bit is set. Every table entry must be in [1, 2^63); a
// table of 2^63·P(|X| <= k), k = 0, 1, ..., draws |X| by inversion. It runs
// in time independent of the words (no branch or memory access depends on
// them), which a sampler of secret noise needs. len(x) must be at least
// len(r).
//
// It is the discrete Gaussian of crypto/he's encryptions and key-switch
// shares, whose scalar loop was the largest cost of an encryption. It is
// not among Ops: a composition runs its base variant's.
func (k *Impl) SampleCDT(table, r []uint64, x []int64) {
	k.f.sampleCDT(table, r, x[:len(r)])
}

// SampleCDT runs the active variant's SampleCDT.
func SampleCDT(table, r []uint64, x []int64) { active.Load().SampleCDT(table, r, x) }

// sampleCDTGeneric scans the table for four words at a time, four
// independent chains of comparisons in flight.
func sampleCDTGeneric(table, r []uint64, x []int64) {
	const low = 1<<63 - 1
	j := 0
	for ; j+4 <= len(r); j += 4 {
		r0, r1, r2, r3 := r[j], r[j+1], r[j+2], r[j+3]
		m0, m1, m2, m3 := r0&low, r1&low, r2&low, r3&low
		var a0, a1, a2, a3 uint64
		for _, c := range table {
			// c-1-m < 0 (top bit set) iff m >= c; both are below 2^63.
			a0 += (c - 1 - m0) >> 63
			a1 += (c - 1 - m1) >> 63
			a2 += (c - 1 - m2) >> 63
			a3 += (c - 1 - m3) >> 63
		}
		x[j], x[j+1], x[j+2], x[j+3] = withSign(a0, r0), withSign(a1, r1), withSign(a2, r2), withSign(a3, r3)
	}
	for ; j < len(r); j++ {
		var a uint64
		for _, c := range table {
			a += (c - 1 - r[j]&low) >> 63
		}
		x[j] = withSign(a, r[j])
	}
}

// withSign returns a with the sign of r's top bit, without branches.
func withSign(a, r uint64) int64 {
	neg := -int64(r >> 63)
	return (int64(a) ^ neg) - neg
}
