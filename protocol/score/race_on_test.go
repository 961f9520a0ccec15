//go:build race

package score

// raceEnabled: the race detector slows lattigo's arithmetic about tenfold;
// the tests that only measure arithmetic (not concurrency) skip under it.
const raceEnabled = true
