// Command eddy is Eddy's single binary: the broker, and the tools around it.
//
//	eddy broker --data-dir DIR --listen 127.0.0.1:9092
//	eddy demo --for 30s
//
// Run "eddy help" or "eddy COMMAND --help" for the full list of flags.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "eddy:", err)
		os.Exit(exitCode(err)) // 1: error, 2: usage (client.go)
	}
}

// globalFlags are the flags every command shares.
type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCommand() *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "eddy",
		Short: "Eddy: a Kafka-compatible log broker, stream processing and connectors in one Go binary",
		Long: `Eddy runs a Kafka-compatible log broker that any Kafka client can use
(sarama, franz-go, librdkafka/kcat, kafkajs), embedded in a Go program or
standalone with "eddy broker".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(g)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(newBrokerCommand(), newDemoCommand(), newConnectCommand(), newConsoleCommand())
	root.AddCommand(newTopicCommand(), newProduceCommand(), newConsumeCommand(), newGroupCommand(), newClusterCommand())
	root.AddCommand(newACLCommand(), newUserCommand())
	root.SetFlagErrorFunc(flagUsageError)
	return root
}

func newLogger(g globalFlags) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
}
