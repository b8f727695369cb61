package main

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newGroupCommand() *cobra.Command {
	var cf clientFlags
	cmd := parentCommand(&cobra.Command{
		Use:   "group",
		Short: "List, describe, reset and delete consumer groups",
		Long: `Manage the consumer groups of a Kafka-compatible cluster: see their members and
how far behind each partition is (lag), move their committed offsets, delete
them. Every subcommand takes --brokers (default ` + defaultBrokers + `, or the ` + brokersEnv + `
environment variable) and -o table|json.`,
		Example: `  eddy group list
  eddy group describe billing
  eddy group seek billing --to earliest --dry-run
  eddy group delete old-billing`,
	})
	cf.register(cmd.PersistentFlags(), true)
	cmd.AddCommand(
		newGroupListCommand(&cf),
		newGroupDescribeCommand(&cf),
		newGroupDeleteCommand(&cf),
		newGroupSeekCommand(&cf),
	)
	for _, c := range cmd.Commands() {
		if c.Name() != "list" {
			c.ValidArgsFunction = completeGroups(&cf)
		}
	}
	return cmd
}

func newGroupListCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: `  eddy group list
  eddy group list -o json | jq -r '.[] | select(.state == "Empty") | .group'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			groups, err := adm.ListGroups(ctx)
			if err != nil {
				return cf.reachErr(ctx, "list groups", err)
			}
			type listed struct {
				Group        string `json:"group"`
				State        string `json:"state"`
				ProtocolType string `json:"protocol_type"`
				Coordinator  int32  `json:"coordinator"`
			}
			out := []listed{}
			t := newTable("GROUP", "STATE", "TYPE", "COORDINATOR")
			for _, g := range groups.Sorted() {
				out = append(out, listed{g.Group, g.State, g.ProtocolType, g.Coordinator})
				t.row(g.Group, g.State, orDash(g.ProtocolType), g.Coordinator)
			}
			if cf.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return t.write(cmd.OutOrStdout())
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Described group, as -o json prints it.
type describedGroup struct {
	Group        string              `json:"group"`
	State        string              `json:"state"`
	ProtocolType string              `json:"protocol_type"`
	Protocol     string              `json:"protocol"`
	Members      []groupMember       `json:"members"`
	TotalLag     int64               `json:"total_lag"`
	Partitions   []groupPartitionLag `json:"partitions"`
}

type groupMember struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id"`
	ClientID   string  `json:"client_id"`
	ClientHost string  `json:"client_host"`
}

type groupPartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed_offset"` // -1: none
	End       int64  `json:"end_offset"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

func newGroupDescribeCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members and, per partition, committed offset, end offset and lag",
		Long: `Show each group's state, members and, for every partition it has committed
offsets for or is assigned, the committed offset, the partition's end offset and
the lag between them (records not yet consumed). A group that does not exist is
an error.`,
		Example: `  eddy group describe billing
  eddy group describe billing -o json | jq .total_lag`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, args...)
			if err != nil {
				return cf.reachErr(ctx, "describe groups", err)
			}
			var out []describedGroup
			for _, name := range args {
				l, ok := lags[name]
				if !ok {
					return fmt.Errorf("group %q: no answer from the cluster", name)
				}
				if err := l.Error(); err != nil {
					return fmt.Errorf("group %q: %w", name, err)
				}
				if (l.State == "Dead" || l.State == "") && len(l.Members) == 0 && len(l.Lag) == 0 {
					return fmt.Errorf("group %q does not exist", name)
				}
				d := describedGroup{Group: name, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
					Members: []groupMember{}, Partitions: []groupPartitionLag{}, TotalLag: l.Lag.Total()}
				for _, m := range l.Members {
					d.Members = append(d.Members, groupMember{m.MemberID, m.InstanceID, m.ClientID, m.ClientHost})
				}
				for _, pl := range l.Lag.Sorted() {
					gp := groupPartitionLag{Topic: pl.Topic, Partition: pl.Partition, Committed: pl.Commit.At, End: pl.End.Offset, Lag: pl.Lag}
					if pl.Member != nil {
						gp.MemberID = pl.Member.MemberID
					}
					if pl.Err != nil {
						gp.Error = pl.Err.Error()
					}
					d.Partitions = append(d.Partitions, gp)
				}
				out = append(out, d)
			}
			if cf.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			for i, d := range out {
				if i > 0 {
					fmt.Fprintln(w)
				}
				s := newTable("GROUP", d.Group)
				s.row("STATE", d.State)
				s.row("PROTOCOL", orDash(strings.TrimSpace(d.ProtocolType+" "+d.Protocol)))
				s.row("MEMBERS", len(d.Members))
				s.row("TOTAL-LAG", d.TotalLag)
				if err := s.write(w); err != nil {
					return err
				}
				if len(d.Partitions) > 0 {
					fmt.Fprintln(w)
					clients := map[string]groupMember{}
					for _, m := range d.Members {
						clients[m.MemberID] = m
					}
					t := newTable("TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER", "CLIENT-ID", "HOST")
					for _, p := range d.Partitions {
						committed, lag := fmt.Sprint(p.Committed), fmt.Sprint(p.Lag)
						if p.Committed < 0 {
							committed = "-"
						}
						if p.Error != "" {
							lag = p.Error
						}
						m := clients[p.MemberID]
						t.row(p.Topic, p.Partition, committed, p.End, lag, orDash(p.MemberID), orDash(m.ClientID), orDash(m.ClientHost))
					}
					if err := t.write(w); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
}

func newGroupDeleteCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Long:    `Delete groups that have no active members, with their committed offsets.`,
		Example: `  eddy group delete old-billing
  eddy group delete a b c -o json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return cf.reachErr(ctx, "delete groups", err)
			}
			return cf.emitOutcomes(cmd, "group", "group deletions", args, func(name string) error {
				r, ok := resps[name]
				if !ok {
					return fmt.Errorf("no answer for this group")
				}
				return brokerErr(r.Err, r.ErrMessage)
			})
		},
	}
}

func newGroupSeekCommand(cf *clientFlags) *cobra.Command {
	var (
		to     string
		topics []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "seek GROUP --to POSITION",
		Short: "Move a group's committed offsets (reset offsets)",
		Long: `Set the committed offsets of GROUP so that its consumers resume from another
position: ` + offsetSpecHelp + `.

The partitions moved are those of the topics named with --topic, or else of every
topic the group has committed offsets for. The group must have no active members
(stop its consumers first), as Kafka requires. --dry-run shows the change without
committing it.`,
		Example: `  eddy group seek billing --to earliest --dry-run
  eddy group seek billing --to latest --topic invoices
  eddy group seek billing --to @2024-05-01T00:00:00Z
  eddy group seek billing --to 1000 --topic invoices`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if to == "" {
				return usagef("--to is required: %s", offsetSpecHelp)
			}
			spec, err := parseOffsetSpec("to", to, time.Now())
			if err != nil {
				return err
			}
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return cf.reachErr(ctx, "describe group", err)
			}
			if dg, ok := described[group]; ok {
				if dg.Err != nil {
					return fmt.Errorf("group %q: %w", group, dg.Err)
				}
				if len(dg.Members) > 0 {
					return fmt.Errorf("group %q has %d active members (state %s); stop its consumers first: offsets of a group with members cannot be changed from outside",
						group, len(dg.Members), dg.State)
				}
			}
			committed, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return cf.reachErr(ctx, "fetch committed offsets", err)
			}
			if len(topics) == 0 {
				for t := range committed {
					topics = append(topics, t)
				}
				if len(topics) == 0 {
					return fmt.Errorf("group %q has no committed offsets; name the topics to seek with --topic", group)
				}
			}
			sort.Strings(topics)
			topics = slices.Compact(topics)
			type moved struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Current   int64  `json:"current_offset"` // -1: none
				New       int64  `json:"new_offset"`
				Error     string `json:"error,omitempty"`
			}
			var out []moved
			var offsets kadm.Offsets
			for _, topic := range topics {
				tos, err := listTopicOffsets(ctx, cf, adm, topic, nil)
				if err != nil {
					return err
				}
				target, err := spec.resolve(ctx, cf, adm, topic, tos)
				if err != nil {
					return err
				}
				for _, p := range tos.partitions {
					cur := int64(-1)
					if o, ok := committed.Lookup(topic, p); ok && o.Err == nil {
						cur = o.At
					}
					out = append(out, moved{Topic: topic, Partition: p, Current: cur, New: target[p]})
					offsets.AddOffset(topic, p, target[p], -1)
				}
			}
			failed := 0
			var firstErr error
			if !dryRun {
				resps, err := adm.CommitOffsets(ctx, group, offsets)
				if err != nil {
					return cf.reachErr(ctx, "commit offsets", err)
				}
				for i := range out {
					if r, ok := resps.Lookup(out[i].Topic, out[i].Partition); ok && r.Err != nil {
						out[i].Error = r.Err.Error()
						failed++
						firstErr = cmp.Or(firstErr, fmt.Errorf("%s/%d: %w", out[i].Topic, out[i].Partition, r.Err))
					}
				}
			}
			if cf.json() {
				err = writeJSON(cmd.OutOrStdout(), out)
			} else {
				t := newTable("TOPIC", "PARTITION", "CURRENT", "NEW", "STATUS")
				for _, m := range out {
					cur := fmt.Sprint(m.Current)
					if m.Current < 0 {
						cur = "-"
					}
					st := "OK"
					switch {
					case m.Error != "":
						st = m.Error
					case dryRun:
						st = "dry run"
					}
					t.row(m.Topic, m.Partition, cur, m.New, st)
				}
				err = t.write(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(cmd.ErrOrStderr(), "dry run: nothing committed for group %s\n", group)
			}
			return failures(failed, len(out), "offset commits", firstErr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the position to move to: earliest, latest, OFFSET, -N or @TIME (required)")
	f.StringArrayVarP(&topics, "topic", "t", nil, "topic to move (repeatable); default: every topic the group has offsets for")
	f.BoolVar(&dryRun, "dry-run", false, "show the new offsets without committing them")
	return cmd
}

// completeGroups completes group names from the cluster.
func completeGroups(cf *clientFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		quick := *cf
		quick.timeout = min(quick.timeout, 2*time.Second)
		adm, ctx, done, err := quick.admin(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer done()
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, g := range groups.Groups() {
			if strings.HasPrefix(g, toComplete) && !slices.Contains(args, g) {
				out = append(out, g)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
