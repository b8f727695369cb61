package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eddy-streams/eddy/broker"
)

// `eddy user` manages SASL/SCRAM credentials: through the Kafka API
// (DescribeUserScramCredentials, AlterUserScramCredentials; the password
// is salted and hashed here, the broker never sees it) against a running
// Eddy or Kafka cluster, or with --data-dir directly in a stopped Eddy
// broker's data directory, to create the first administrator.

func newUserCommand() *cobra.Command {
	var cf clientFlags
	var dataDir string
	cmd := parentCommand(&cobra.Command{
		Use:   "user",
		Short: "Manage SASL/SCRAM users",
		Long: `Manage the SCRAM credentials SASL clients log in with (SCRAM-SHA-256,
SCRAM-SHA-512; PLAIN logins are checked against them too).

Against a running cluster the commands use the Kafka API and need ALTER (set,
delete) or DESCRIBE (list) on the cluster; the password is salted and hashed
here and never sent. With --data-dir they change a stopped Eddy broker's data
directory directly: how the first administrator is made.`,
		Example: `  eddy user set admin --password-stdin --data-dir /var/lib/eddy < admin.pw
  eddy user set alice --mechanism SCRAM-SHA-512 --password-stdin --sasl-mechanism SCRAM-SHA-512 --sasl-user admin
  eddy user list -o json
  eddy user delete alice --mechanism SCRAM-SHA-256`,
	})
	cf.register(cmd.PersistentFlags(), true)
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "", "change a stopped Eddy broker's data directory instead of a running cluster")
	cmd.AddCommand(newUserListCommand(&cf, &dataDir), newUserSetCommand(&cf, &dataDir), newUserDeleteCommand(&cf, &dataDir))
	return cmd
}

type userInfo struct {
	User       string   `json:"user"`
	Mechanisms []string `json:"mechanisms"`
	Iterations []int32  `json:"iterations,omitempty"`
	Error      string   `json:"error,omitempty"`
}

func newUserListCommand(cf *clientFlags, dataDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "list [user...]",
		Short: "List users and their SCRAM mechanisms",
		Args:  usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out []userInfo
			if *dataDir != "" {
				users, err := broker.UserCredentials(*dataDir)
				if err != nil {
					return err
				}
				for u, ms := range users {
					if len(args) == 0 || contains(args, u) {
						out = append(out, userInfo{User: u, Mechanisms: ms})
					}
				}
			} else {
				adm, _, ctx, done, err := cf.adminClient(cmd)
				if err != nil {
					return err
				}
				defer done()
				res, err := adm.DescribeUserSCRAMs(ctx, args...)
				if err != nil {
					return cf.reachErr(ctx, "describe users", err)
				}
				for u, r := range res {
					ui := userInfo{User: u, Error: errString(r.Err)}
					for _, ci := range r.CredInfos {
						ui.Mechanisms = append(ui.Mechanisms, ci.Mechanism.String())
						ui.Iterations = append(ui.Iterations, ci.Iterations)
					}
					out = append(out, ui)
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
			t := newTable("USER", "MECHANISMS", "STATUS")
			for _, u := range out {
				st := "OK"
				if u.Error != "" {
					st = u.Error
				}
				t.row(u.User, strings.Join(u.Mechanisms, ","), st)
			}
			return cf.emit(cmd, out, t)
		},
	}
}

func newUserSetCommand(cf *clientFlags, dataDir *string) *cobra.Command {
	var mechanisms []string
	var password string
	var passwordStdin bool
	var iterations int
	cmd := &cobra.Command{
		Use:   "set <user>",
		Short: "Create a user or change its password",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			if passwordStdin {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if password == "" {
				return usagef("give the password with --password or --password-stdin")
			}
			if iterations < 4096 || iterations > 16384 {
				return usagef("--iterations must be between 4096 and 16384")
			}
			var ups []kadm.UpsertSCRAM
			for _, m := range mechanisms {
				mech, err := scramMechanism(m)
				if err != nil {
					return err
				}
				if *dataDir != "" {
					if err := broker.SetUserPassword(*dataDir, user, mech.String(), password, iterations); err != nil {
						return err
					}
					continue
				}
				ups = append(ups, kadm.UpsertSCRAM{User: user, Mechanism: mech, Iterations: int32(iterations), Password: password})
			}
			if *dataDir == "" {
				adm, _, ctx, done, err := cf.adminClient(cmd)
				if err != nil {
					return err
				}
				defer done()
				res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
				if err != nil {
					return cf.reachErr(ctx, "set user", err)
				}
				if err := res[user].Err; err != nil {
					return fmt.Errorf("set user %s: %w", user, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s set (%s)\n", user, strings.Join(mechanisms, ", "))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&mechanisms, "mechanism", []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}, "SCRAM mechanisms to store the password for")
	cmd.Flags().StringVar(&password, "password", "", "the new password (visible in the process list; prefer --password-stdin)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().IntVar(&iterations, "iterations", 8192, "SCRAM iterations (4096-16384)")
	return cmd
}

func newUserDeleteCommand(cf *clientFlags, dataDir *string) *cobra.Command {
	var mechanisms []string
	cmd := &cobra.Command{
		Use:   "delete <user>",
		Short: "Delete a user's credentials",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			var dels []kadm.DeleteSCRAM
			for _, m := range mechanisms {
				mech, err := scramMechanism(m)
				if err != nil {
					return err
				}
				if *dataDir != "" {
					if err := broker.DeleteUserCredential(*dataDir, user, mech.String()); err != nil {
						return err
					}
					continue
				}
				dels = append(dels, kadm.DeleteSCRAM{User: user, Mechanism: mech})
			}
			if *dataDir == "" {
				adm, _, ctx, done, err := cf.adminClient(cmd)
				if err != nil {
					return err
				}
				defer done()
				res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
				if err != nil {
					return cf.reachErr(ctx, "delete user", err)
				}
				if err := res[user].Err; err != nil {
					return fmt.Errorf("delete user %s: %w", user, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted (%s)\n", user, strings.Join(mechanisms, ", "))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&mechanisms, "mechanism", []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}, "SCRAM mechanisms to delete")
	return cmd
}

func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usagef("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
