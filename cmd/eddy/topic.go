package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicCommand() *cobra.Command {
	var cf clientFlags
	cmd := parentCommand(&cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, change and delete topics",
		Long: `Manage the topics of a Kafka-compatible cluster (Eddy's broker, Apache Kafka,
Redpanda, ...). Every subcommand takes --brokers (default ` + defaultBrokers + `, or the
` + brokersEnv + ` environment variable) and -o table|json.`,
		Example: `  eddy topic create events -p 6 -c retention.ms=86400000
  eddy topic list
  eddy topic describe events -o json
  eddy topic add-partitions events --num 2
  eddy topic alter-config events --set cleanup.policy=compact
  eddy topic delete events`,
	})
	cf.register(cmd.PersistentFlags(), true)
	cmd.AddCommand(
		newTopicCreateCommand(&cf),
		newTopicListCommand(&cf),
		newTopicDescribeCommand(&cf),
		newTopicDeleteCommand(&cf),
		newTopicAddPartitionsCommand(&cf),
		newTopicAlterConfigCommand(&cf),
	)
	for _, c := range cmd.Commands() {
		c.ValidArgsFunction = completeTopics(&cf)
	}
	cmd.Commands()[0].ValidArgsFunction = nil // create: new names
	return cmd
}

// brokerErr joins a Kafka error code and the broker's message, if any.
func brokerErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// parseKeyValues parses repeated name=value flags.
func parseKeyValues(flag string, kvs []string) (map[string]string, error) {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: want name=value", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// failures turns n failed items of total into the command's error; first
// is the first failure, named.
func failures(n, total int, what string, first error) error {
	switch {
	case n == 0:
		return nil
	case total == 1:
		return first
	}
	return fmt.Errorf("%d of %d %s failed; the first: %w", n, total, what, first)
}

func newTopicCreateCommand(cf *clientFlags) *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Long: `Create one or more topics. Partitions and replication factor default to the
broker's settings (num.partitions; Eddy is single-node, so one replica).
Topic settings use Kafka's names (retention.ms, cleanup.policy, segment.bytes, ...).`,
		Example: `  eddy topic create events
  eddy topic create clicks views -p 12
  eddy topic create users-changelog -c cleanup.policy=compact -c segment.bytes=104857600
  eddy topic create events --dry-run   # ask the broker to validate only`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgs, err := parseKeyValues("config", configs)
			if err != nil {
				return err
			}
			if partitions == 0 || partitions < -1 {
				return usagef("--partitions must be positive (or -1 for the broker's default)")
			}
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			kc := make(map[string]*string, len(cfgs))
			for k, v := range cfgs {
				kc[k] = &v
			}
			create := adm.CreateTopics
			if dryRun {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, partitions, replicas, kc, args...)
			if err != nil {
				return cf.reachErr(ctx, "create topics", err)
			}
			type created struct {
				Topic             string `json:"topic"`
				ID                string `json:"id,omitempty"`
				Partitions        int32  `json:"partitions"`
				ReplicationFactor int16  `json:"replication_factor"`
				Error             string `json:"error,omitempty"`
			}
			var out []created
			failed := 0
			var firstErr error
			t := newTable("TOPIC", "PARTITIONS", "STATUS")
			for _, name := range args {
				r := resps[name]
				err := brokerErr(r.Err, r.ErrMessage)
				if err != nil {
					failed++
					firstErr = cmp.Or(firstErr, fmt.Errorf("%s: %w", name, err))
				}
				c := created{Topic: name, Partitions: r.NumPartitions, ReplicationFactor: r.ReplicationFactor, Error: errString(err)}
				if r.ID != (kadm.TopicID{}) {
					c.ID = r.ID.String()
				}
				out = append(out, c)
				st := status(err)
				if err == nil && dryRun {
					st = "OK (dry run: not created)"
				}
				t.row(name, r.NumPartitions, st)
			}
			if err := cf.emit(cmd, out, t); err != nil {
				return err
			}
			return failures(failed, len(args), "topic creations", firstErr)
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "partitions per topic; -1: the broker's num.partitions")
	f.Int16VarP(&replicas, "replicas", "r", -1, "replication factor; -1: the broker's default")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic setting name=value (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "validate the request on the broker without creating anything")
	return cmd
}

func newTopicListCommand(cf *clientFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: `  eddy topic list
  eddy topic list --internal    # include __consumer_offsets and other internal topics
  eddy topic list -o json | jq -r '.[].topic'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			topics, err := list(ctx)
			if err != nil {
				return cf.reachErr(ctx, "list topics", err)
			}
			type listed struct {
				Topic             string `json:"topic"`
				ID                string `json:"id"`
				Partitions        int    `json:"partitions"`
				ReplicationFactor int    `json:"replication_factor"`
				Internal          bool   `json:"internal"`
			}
			out := []listed{}
			t := newTable("TOPIC", "PARTITIONS", "REPLICAS")
			for _, td := range topics.Sorted() {
				rf := 0
				if p, ok := td.Partitions[0]; ok {
					rf = len(p.Replicas)
				}
				out = append(out, listed{Topic: td.Topic, ID: td.ID.String(), Partitions: len(td.Partitions), ReplicationFactor: rf, Internal: td.IsInternal})
				t.row(td.Topic, len(td.Partitions), rf)
			}
			if cf.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return t.write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics such as __consumer_offsets")
	return cmd
}

// Described topic, as -o json prints it.
type describedTopic struct {
	Topic        string               `json:"topic"`
	ID           string               `json:"id"`
	Internal     bool                 `json:"internal"`
	Partitions   []describedPartition `json:"partitions"`
	Configs      []describedConfig    `json:"configs,omitempty"`
	ConfigsError string               `json:"configs_error,omitempty"`
}

type describedPartition struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	LogStart  int64   `json:"log_start_offset"`
	End       int64   `json:"end_offset"`
	Error     string  `json:"error,omitempty"`
}

type describedConfig struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

func newTopicDescribeCommand(cf *clientFlags) *cobra.Command {
	var noConfigs bool
	cmd := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show a topic's partitions, offsets and settings",
		Long: `Show each topic's id, its partitions with their leader, log start offset and
end offset (the next offset to be written), and its settings with where each
value comes from (DYNAMIC_TOPIC_CONFIG: set on the topic; STATIC_BROKER_CONFIG
or DEFAULT_CONFIG: inherited).`,
		Example: `  eddy topic describe events
  eddy topic describe events clicks --no-configs
  eddy topic describe events -o json | jq '.[0].partitions'`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			out, err := describeTopics(ctx, cf, adm, args, !noConfigs)
			if err != nil {
				return err
			}
			if cf.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			for i, d := range out {
				if i > 0 {
					fmt.Fprintln(w)
				}
				s := newTable("TOPIC", d.Topic)
				s.row("ID", d.ID)
				s.row("PARTITIONS", len(d.Partitions))
				s.row("INTERNAL", d.Internal)
				if err := s.write(w); err != nil {
					return err
				}
				fmt.Fprintln(w)
				pt := newTable("PARTITION", "LEADER", "REPLICAS", "LOG-START", "END-OFFSET")
				for _, p := range d.Partitions {
					st, end := fmt.Sprint(p.LogStart), fmt.Sprint(p.End)
					if p.Error != "" {
						st, end = "-", p.Error
					}
					pt.row(p.Partition, p.Leader, fmt.Sprint(p.Replicas), st, end)
				}
				if err := pt.write(w); err != nil {
					return err
				}
				if noConfigs {
					continue
				}
				fmt.Fprintln(w)
				if d.ConfigsError != "" {
					fmt.Fprintf(w, "configs unavailable: %s\n", d.ConfigsError)
					continue
				}
				ct := newTable("CONFIG", "VALUE", "SOURCE")
				for _, c := range d.Configs {
					v := "-"
					switch {
					case c.Sensitive:
						v = "(sensitive)"
					case c.Value != nil:
						v = *c.Value
					}
					ct.row(c.Name, v, c.Source)
				}
				if err := ct.write(w); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noConfigs, "no-configs", false, "leave out the topic settings")
	return cmd
}

// describeTopics gathers metadata, offsets and (if configs) settings of topics.
func describeTopics(ctx context.Context, cf *clientFlags, adm *kadm.Client, topics []string, configs bool) ([]describedTopic, error) {
	md, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, cf.reachErr(ctx, "describe topics", err)
	}
	for _, name := range topics {
		td, ok := md[name]
		if !ok || td.Err != nil {
			if ok {
				err = td.Err
			}
			return nil, fmt.Errorf("topic %q: %s", name, topicMissing(err))
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, cf.reachErr(ctx, "list start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, cf.reachErr(ctx, "list end offsets", err)
	}
	var rcs kadm.ResourceConfigs
	var cfgErr error
	if configs {
		rcs, cfgErr = adm.DescribeTopicConfigs(ctx, topics...)
	}
	var out []describedTopic
	for _, name := range topics {
		td := md[name]
		d := describedTopic{Topic: name, ID: td.ID.String(), Internal: td.IsInternal}
		for _, p := range td.Partitions.Sorted() {
			dp := describedPartition{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, LogStart: -1, End: -1}
			if dp.Replicas == nil {
				dp.Replicas = []int32{}
			}
			s, _ := starts.Lookup(name, p.Partition)
			e, _ := ends.Lookup(name, p.Partition)
			switch {
			case s.Err != nil:
				dp.Error = s.Err.Error()
			case e.Err != nil:
				dp.Error = e.Err.Error()
			default:
				dp.LogStart, dp.End = s.Offset, e.Offset
			}
			d.Partitions = append(d.Partitions, dp)
		}
		if configs {
			switch {
			case cfgErr != nil:
				d.ConfigsError = cfgErr.Error()
			default:
				rc, err := rcs.On(name, nil)
				if err == nil {
					err = brokerErr(rc.Err, rc.ErrMessage)
				}
				if err != nil {
					d.ConfigsError = err.Error()
					break
				}
				for _, c := range rc.Configs {
					d.Configs = append(d.Configs, describedConfig{Name: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
				}
				sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Name < d.Configs[j].Name })
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// topicMissing explains a topic's metadata error.
func topicMissing(err error) string {
	if err == nil || strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		return "no such topic"
	}
	return err.Error()
}

func newTopicDeleteCommand(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Example: `  eddy topic delete events
  eddy topic delete clicks views -o json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return cf.reachErr(ctx, "delete topics", err)
			}
			return cf.emitOutcomes(cmd, "topic", "topic deletions", args, func(name string) error {
				r, ok := resps[name]
				if !ok {
					return fmt.Errorf("no answer for this topic")
				}
				return brokerErr(r.Err, r.ErrMessage)
			})
		},
	}
	return cmd
}

func newTopicAddPartitionsCommand(cf *clientFlags) *cobra.Command {
	var add, total int
	cmd := &cobra.Command{
		Use:   "add-partitions TOPIC...",
		Short: "Add partitions to topics",
		Long: `Grow topics by --num partitions, or up to --total partitions. Partitions are
never removed. Records already written stay where they are, so keys produced
before and after may land on different partitions.`,
		Example: `  eddy topic add-partitions events --num 2
  eddy topic add-partitions events clicks --total 12`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (add > 0) == (total > 0) {
				return usagef("give exactly one of --num N (partitions to add) or --total N (partitions wanted), N > 0")
			}
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			var resps kadm.CreatePartitionsResponses
			if add > 0 {
				resps, err = adm.CreatePartitions(ctx, add, args...)
			} else {
				resps, err = adm.UpdatePartitions(ctx, total, args...)
			}
			if err != nil {
				return cf.reachErr(ctx, "add partitions", err)
			}
			md, _ := adm.ListTopics(ctx, args...) // best effort: the new counts
			type grown struct {
				Topic      string `json:"topic"`
				Partitions int    `json:"partitions,omitempty"`
				Error      string `json:"error,omitempty"`
			}
			var out []grown
			failed := 0
			var firstErr error
			t := newTable("TOPIC", "PARTITIONS", "STATUS")
			for _, name := range args {
				r, ok := resps[name]
				err := brokerErr(r.Err, r.ErrMessage)
				if !ok {
					err = fmt.Errorf("no answer for this topic")
				}
				if err != nil {
					failed++
					firstErr = cmp.Or(firstErr, fmt.Errorf("%s: %w", name, err))
				}
				n := len(md[name].Partitions)
				out = append(out, grown{Topic: name, Partitions: n, Error: errString(err)})
				t.row(name, n, status(err))
			}
			if err := cf.emit(cmd, out, t); err != nil {
				return err
			}
			return failures(failed, len(args), "partition changes", firstErr)
		},
	}
	cmd.Flags().IntVarP(&add, "num", "n", 0, "partitions to add to each topic")
	cmd.Flags().IntVar(&total, "total", 0, "partition count each topic should have")
	return cmd
}

func newTopicAlterConfigCommand(cf *clientFlags) *cobra.Command {
	var (
		set    []string
		del    []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC...",
		Short: "Change topic settings",
		Long: `Set or remove topic settings (Kafka's IncrementalAlterConfigs): --set changes
a setting, --delete makes it fall back to the broker's default; settings not
named are left as they are. Changes apply at once, without a restart.`,
		Example: `  eddy topic alter-config events --set retention.ms=3600000
  eddy topic alter-config events --set cleanup.policy=compact --set min.cleanable.dirty.ratio=0.1
  eddy topic alter-config events --delete retention.ms
  eddy topic alter-config events --set retention.ms=oops --dry-run   # validate only`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			sets, err := parseKeyValues("set", set)
			if err != nil {
				return err
			}
			if len(sets) == 0 && len(del) == 0 {
				return usagef("nothing to change: give --set name=value or --delete name")
			}
			var alters []kadm.AlterConfig
			for _, k := range sortedKeys(sets) {
				v := sets[k]
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range del {
				if _, both := sets[k]; both {
					return usagef("%s is both set and deleted", k)
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := requireAPI(ctx, cf, adm, kmsg.IncrementalAlterConfigs, "change topic settings"); err != nil {
				return err
			}
			alter := adm.AlterTopicConfigs
			if dryRun {
				alter = adm.ValidateAlterTopicConfigs
			}
			resps, err := alter(ctx, alters, args...)
			if err != nil {
				return cf.reachErr(ctx, "alter topic configs", err)
			}
			type altered struct {
				Topic string `json:"topic"`
				Error string `json:"error,omitempty"`
			}
			var out []altered
			failed := 0
			var firstErr error
			t := newTable("TOPIC", "STATUS")
			for _, name := range args {
				i := slices.IndexFunc(resps, func(r kadm.AlterConfigsResponse) bool { return r.Name == name })
				err := fmt.Errorf("no answer for this topic")
				if i >= 0 {
					err = brokerErr(resps[i].Err, resps[i].ErrMessage)
				}
				if err != nil {
					failed++
					firstErr = cmp.Or(firstErr, fmt.Errorf("%s: %w", name, err))
				}
				out = append(out, altered{Topic: name, Error: errString(err)})
				st := status(err)
				if err == nil && dryRun {
					st = "OK (dry run: not changed)"
				}
				t.row(name, st)
			}
			if err := cf.emit(cmd, out, t); err != nil {
				return err
			}
			return failures(failed, len(args), "config changes", firstErr)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&set, "set", nil, "setting name=value to set (repeatable)")
	f.StringArrayVar(&del, "delete", nil, "setting to remove, falling back to the default (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "validate the change on the broker without applying it")
	return cmd
}

// requireAPI fails clearly when the cluster does not serve an API a
// command needs, rather than letting the client retry until it times out.
func requireAPI(ctx context.Context, cf *clientFlags, adm *kadm.Client, key kmsg.Key, what string) error {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return cf.reachErr(ctx, "ask the broker for its APIs", err)
	}
	for _, v := range vs {
		if v.Err != nil {
			continue
		}
		if _, ok := v.KeyMaxVersion(int16(key)); !ok {
			return fmt.Errorf("cannot %s: broker %d does not serve %s (Kafka API key %d)", what, v.NodeID, key.Name(), key)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// completeTopics completes topic names from the cluster, for shell completion.
func completeTopics(cf *clientFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		quick := *cf // a shell waiting on a completion should not wait long
		quick.timeout = min(quick.timeout, 2*time.Second)
		adm, ctx, done, err := quick.admin(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer done()
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
