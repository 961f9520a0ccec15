package main

import (
	"fmt"

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
			cfg, err := coordinator.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel)
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
	return cmd
}
