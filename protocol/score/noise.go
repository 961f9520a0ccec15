package score

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	mrand "math/rand/v2"
)

// addLaplace adds Laplace noise of the given scale to every value: the
// difference of two exponential variables. With a key, the stream is
// ChaCha8 seeded by HKDF-SHA256(key, info = "mitai/v1/score/noise/" + job
// id): a retried job adds the same noise, so retries cannot average it away
// (different jobs over the same rows still can; the policy must bound how
// many it allows). Without a key, the seed comes from crypto/rand.
//
// Floating-point Laplace sampling is not exactly the continuous Laplace
// distribution (Mironov, 2012); here the sample is also added under CKKS
// error of about 1e-5, which blurs the floating-point lattice, but the
// guarantee stated is the textbook one.
func addLaplace(u []float64, scale float64, key []byte, jobID string) error {
	var seed [32]byte
	if key != nil {
		k, err := hkdf.Key(sha256.New, key, nil, "mitai/v1/score/noise/"+jobID, 32)
		if err != nil {
			return err
		}
		copy(seed[:], k)
	} else if _, err := rand.Read(seed[:]); err != nil {
		return err
	}
	rng := mrand.New(mrand.NewChaCha8(seed))
	for i := range u {
		u[i] += scale * (rng.ExpFloat64() - rng.ExpFloat64())
	}
	return nil
}
