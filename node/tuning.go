package node

import (
	"log/slog"
	"os"

	"github.com/mitai-dev/mitai/crypto/kernel"
	"github.com/mitai-dev/mitai/internal/tuning"
)

// loadTuning finds the node's host profile (cfg.Tuning, else tuning.json in
// the data folder) and applies its kernel choices and limb parallelism to the
// process; the worker counts it returns go to each job. A profile
// that cannot be read, or that names a kernel variant this CPU cannot run
// (one measured on another machine), stops the node: running with settings
// the operator did not get would hide the mistake. MITAI_KERNEL, when set,
// still decides the kernels (it is how one forces the generic code). With
// no profile the result is the zero profile: kernels by CPU features,
// GOMAXPROCS workers.
func loadTuning(cfg Config, log *slog.Logger) (tuning.Profile, error) {
	p, path, err := tuning.Find(cfg.Tuning, cfg.DataDir)
	if err != nil {
		return tuning.Profile{}, err
	}
	if p == nil {
		log.Info("no tuning profile: kernels chosen by CPU features", "kernel", kernel.Active().Name(), "cpu_features", kernel.CPUFeatures())
		return tuning.Profile{}, nil
	}
	forced := os.Getenv(kernel.EnvVar)
	if forced != "" {
		log.Warn("tuning profile's kernel choices ignored: "+kernel.EnvVar+" is set", "profile", path, kernel.EnvVar, forced, "kernel", kernel.Active().Name())
	}
	if err := p.Apply(forced == ""); err != nil {
		return tuning.Profile{}, err
	}
	log.Info("tuning profile loaded", "profile", path, "measured_on", p.Host.CPU, "created", p.Created,
		"kernels", p.Kernels, "score_workers", p.ScoreWorkers, "limb_parallelism", p.LimbParallelism,
		"psi_workers", p.PSIWorkers, "psi_batch_size", p.PSIBatchSize, "preset_advice", p.Preset)
	return *p, nil
}
