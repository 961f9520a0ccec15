package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/coordinator"
)

func coordinatorCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "coordinator --config c1.yaml",
		Short: "Run a coordinator replica (Raft over TLS, gRPC API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadReplicaConfig(cfgPath)
			if err != nil {
				return err
			}
			s, err := coordinator.NewServer(cfg, log)
			if err != nil {
				return err
			}
			if err := s.Start(); err != nil {
				s.Stop()
				return err
			}
			select {
			case <-cmd.Context().Done():
				log.Info("stopping")
			case err = <-s.Replica().Fatal:
				log.Error("replica stopped: it cannot apply its log", "err", err)
				err = fmt.Errorf("replica stopped: %w", err)
			}
			if serr := s.Stop(); err == nil {
				err = serr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "replica configuration file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	cmd.AddCommand(recoverCmd())
	return cmd
}

func recoverCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "recover --config c1.yaml",
		Short: "After a permanent loss of quorum: make the config's peers the voters (replica stopped)",
		Long: `Rewrites a stopped replica's Raft configuration so that the peers listed in
its config file are the cluster's voters. Use it only when a majority of the
replicas is lost for good (see docs/runbook-coordinator.md): stop every
surviving replica, list the survivors and their replacements as peers in each
config, run recover on every survivor, then start the survivors, and the
replacements with empty data dirs and bootstrap: false.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadReplicaConfig(cfgPath)
			if err != nil {
				return err
			}
			if err := coordinator.Recover(cfg, log); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replica %s: voters are now the %d peers of %s; start it and the other voters\n", cfg.ID, len(cfg.Peers), cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "replica configuration file (YAML), listing the new voter set as peers")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// loadReplicaConfig reads a replica's configuration and makes its logger.
func loadReplicaConfig(path string) (coordinator.Config, *slog.Logger, error) {
	cfg, err := coordinator.LoadConfig(path)
	if err != nil {
		return cfg, nil, err
	}
	log, err := newLogger(cfg.LogLevel)
	return cfg, log, err
}
