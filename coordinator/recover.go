package coordinator

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Recover rewrites a stopped replica's Raft configuration to the voters
// listed in cfg.Peers, for a cluster that lost its quorum for good (see
// docs/runbook-coordinator.md). Run it on every surviving replica, with the
// same peer list, while all replicas are stopped; then start them, and start
// any replacement replicas with empty data dirs and bootstrap off.
//
// Recovery can lose writes that the lost replicas acknowledged and no
// survivor holds; that is why it is a manual step and never automatic.
func Recover(cfg Config, log *slog.Logger) error {
	if err := ValidateConfig(cfg); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft.db")); err != nil {
		return fmt.Errorf("coordinator: recover: no Raft log in %s: %w", cfg.DataDir, err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: os.Stderr, JSONFormat: true, Level: hclog.LevelFromString(cfg.LogLevel)})
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("coordinator: recover: open raft log (is the replica still running?): %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 3, hlog)
	if err != nil {
		return fmt.Errorf("coordinator: recover: snapshot store: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.self().Raft))
	defer trans.Close()
	var voters raft.Configuration
	for _, p := range cfg.Peers {
		voters.Servers = append(voters.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Raft), Suffrage: raft.Voter})
	}
	if err := raft.RecoverCluster(rc, newFSM(log), store, store, snaps, trans, voters); err != nil {
		return fmt.Errorf("coordinator: recover: %w", err)
	}
	log.Warn("Raft configuration rewritten; start this replica and the others of the new voter set", "id", cfg.ID, "voters", len(voters.Servers))
	return nil
}
