package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/node"
)

func nodeCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "node --config node.yaml",
		Short: "Run a mitai node (peer and admin gRPC over mutual TLS, metrics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.LoadConfig(cfgPath)
			if err != nil {
				return err
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
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
