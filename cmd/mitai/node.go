package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/node"
)

func nodeCmd() *cobra.Command {
	var cfgPath, tuningPath string
	cmd := &cobra.Command{
		Use:   "node --config node.yaml",
		Short: "Run a mitai node (peer and admin gRPC over mutual TLS, metrics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			if tuningPath != "" {
				cfg.Tuning = tuningPath
			}
			log, err := newLogger(cfg.LogLevel)
			if err != nil {
				return err
			}
			n, err := node.New(cfg, log)
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				return err
			}
			err = n.Wait(cmd.Context(), 30*time.Second)
			log.Info("node stopped")
			return err
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "node configuration file (YAML)")
	cmd.Flags().StringVar(&tuningPath, "tuning", "", "host profile from `mitai bench tune` (overrides the config's tuning; default data_dir/tuning.json if present)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
