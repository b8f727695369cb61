package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClusterCommand() *cobra.Command {
	var cf clientFlags
	cmd := parentCommand(&cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster: id, brokers, topics",
		Example: `  eddy cluster info
  eddy cluster info --apis -o json`,
	})
	cf.register(cmd.PersistentFlags(), true)
	cmd.AddCommand(newClusterInfoCommand(&cf))
	return cmd
}

func newClusterInfoCommand(cf *clientFlags) *cobra.Command {
	var apis bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the cluster id, controller, brokers and topic count",
		Long: `Show the cluster's id, its controller and brokers, and how many topics it has.
With --apis, also list the Kafka APIs (and versions) each broker serves: what a
client can ask of it.`,
		Example: `  eddy cluster info
  eddy cluster info --apis
  EDDY_BROKERS=kafka-1:9092 eddy cluster info -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := cf.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			md, err := adm.Metadata(ctx)
			if err != nil {
				return cf.reachErr(ctx, "cluster metadata", err)
			}
			type api struct {
				Key  int16  `json:"key"`
				Name string `json:"name"`
				Min  int16  `json:"min_version"`
				Max  int16  `json:"max_version"`
			}
			type brokerInfo struct {
				NodeID int32   `json:"node_id"`
				Host   string  `json:"host"`
				Port   int32   `json:"port"`
				Rack   *string `json:"rack"`
				APIs   []api   `json:"apis,omitempty"`
			}
			type info struct {
				ClusterID      string       `json:"cluster_id"`
				Controller     int32        `json:"controller"`
				Brokers        []brokerInfo `json:"brokers"`
				Topics         int          `json:"topics"`
				InternalTopics int          `json:"internal_topics"`
			}
			out := info{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerInfo{}}
			for _, td := range md.Topics {
				if td.IsInternal {
					out.InternalTopics++
				} else {
					out.Topics++
				}
			}
			for _, b := range md.Brokers {
				out.Brokers = append(out.Brokers, brokerInfo{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
			}
			if apis {
				vs, err := adm.ApiVersions(ctx)
				if err != nil {
					return cf.reachErr(ctx, "list APIs", err)
				}
				for i := range out.Brokers {
					v, ok := vs[out.Brokers[i].NodeID]
					if !ok || v.Err != nil {
						continue
					}
					v.EachKeySorted(func(key, min, max int16) {
						out.Brokers[i].APIs = append(out.Brokers[i].APIs, api{key, kmsg.NameForKey(key), min, max})
					})
				}
			}
			if cf.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			s := newTable("CLUSTER", orDash(out.ClusterID))
			s.row("CONTROLLER", out.Controller)
			s.row("BROKERS", len(out.Brokers))
			s.row("TOPICS", fmt.Sprintf("%d (and %d internal)", out.Topics, out.InternalTopics))
			if err := s.write(w); err != nil {
				return err
			}
			fmt.Fprintln(w)
			t := newTable("BROKER", "ADDRESS", "RACK")
			for _, b := range out.Brokers {
				id := strconv.Itoa(int(b.NodeID))
				if b.NodeID == out.Controller {
					id += "*"
				}
				rack := "-"
				if b.Rack != nil {
					rack = *b.Rack
				}
				t.row(id, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), rack)
			}
			if err := t.write(w); err != nil {
				return err
			}
			for _, b := range out.Brokers {
				if len(b.APIs) == 0 {
					continue
				}
				fmt.Fprintf(w, "\nAPIs of broker %d:\n", b.NodeID)
				at := newTable("KEY", "API", "VERSIONS")
				for _, a := range b.APIs {
					at.row(a.Key, a.Name, fmt.Sprintf("%d-%d", a.Min, a.Max))
				}
				if err := at.write(w); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&apis, "apis", false, "also list the Kafka APIs and versions each broker serves")
	return cmd
}
