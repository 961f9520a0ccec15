package he

import "sync/atomic"

// lattigoPath makes Encryptor and KeySwitcher.Share run lattigo's own code.
var lattigoPath atomic.Bool

// SetLattigoPath makes every Encryptor encrypt with lattigo's rlwe.Encryptor
// and every KeySwitcher make its shares with lattigo's mhe GenShare plus the
// Smudger, with lattigo's samplers and ring arithmetic, instead of the
// package's sampler and crypto/kernel: the path mitai ran before it had
// kernels of its own. Its results are as valid (the tests decrypt both);
// it is slower, and exists as the baseline `mitai bench he --compare`
// measures the tuned configuration against. It is process-wide, like the
// kernel variant and the limb parallelism.
func SetLattigoPath(on bool) { lattigoPath.Store(on) }

// LattigoPath reports whether SetLattigoPath is on.
func LattigoPath() bool { return lattigoPath.Load() }
