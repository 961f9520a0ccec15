// Command mitai is the one binary of mitai: the node daemon, the cluster CA,
// the admin client, the demo and the benchmarks.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "mitai",
		Short:         "mitai: privacy-preserving computation between data holders (PSI, HE)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(nodeCmd(), coordinatorCmd(), clusterCmd(), caCmd(), datasetCmd(), jobCmd(), auditCmd(), demoCmd(), benchCmd())
	root.AddCommand(datagenCmd(), keysetCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mitai:", err)
		os.Exit(1)
	}
}

// newLogger returns a structured logger on stderr at the named level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
