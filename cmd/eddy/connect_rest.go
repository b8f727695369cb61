package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The subcommands of eddy connect that manage connectors through a
// worker's REST API (Kafka Connect's, so they work against Kafka Connect
// too): list, status, create, config, pause, resume, restart, delete,
// plugins.

const (
	connectURLEnv     = "EDDY_CONNECT_URL"
	defaultConnectURL = "http://127.0.0.1:8083"
)

// restFlags are the flags of the REST subcommands.
type restFlags struct {
	url     string
	timeout time.Duration
	output  string
}

func (rf *restFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&rf.url, "url", cmpEnv(connectURLEnv, defaultConnectURL), "the connect worker's REST API (env "+connectURLEnv+")")
	fs.DurationVar(&rf.timeout, "timeout", 30*time.Second, "how long to wait for the worker")
	fs.StringVarP(&rf.output, "output", "o", "table", "output format: table or json")
}

func cmpEnv(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// out returns clientFlags carrying the output format, for emit.
func (rf *restFlags) out() (*clientFlags, error) {
	if rf.output != "table" && rf.output != "json" {
		return nil, usagef("--output %q: want table or json", rf.output)
	}
	if _, err := url.Parse(rf.url); err != nil || !strings.HasPrefix(rf.url, "http") {
		return nil, usagef("--url %q: want http://HOST:PORT", rf.url)
	}
	return &clientFlags{output: rf.output}, nil
}

// restError is a Kafka Connect error payload.
type restError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *restError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Code) }

// call sends one request and decodes a JSON answer into out (if not nil).
func (rf *restFlags) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, rf.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(rf.url, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the connect REST API at %s: %w (is eddy connect running there? set --url or %s)", rf.url, err, connectURLEnv)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var re restError
		if json.Unmarshal(data, &re) == nil && re.Message != "" {
			return &re
		}
		return fmt.Errorf("%s %s: HTTP %s", method, path, resp.Status)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: undecodable answer: %w", method, path, err)
		}
	}
	return nil
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// restStatus is GET /connectors/{name}/status.
type restStatus struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace,omitempty"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace,omitempty"`
	} `json:"tasks"`
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func addConnectRESTCommands(parent *cobra.Command) {
	var rf restFlags
	sub := func(c *cobra.Command) *cobra.Command {
		rf.register(c.Flags())
		c.SetFlagErrorFunc(flagUsageError)
		parent.AddCommand(c)
		return c
	}

	sub(&cobra.Command{
		Use:   "list",
		Short: "List the connectors of a connect worker with their states",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := rf.out()
			if err != nil {
				return err
			}
			var all map[string]struct {
				Status restStatus `json:"status"`
			}
			if err := rf.call(ctxOf(cmd), "GET", "/connectors?expand=status", nil, &all); err != nil {
				return err
			}
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
			t := newTable("CONNECTOR", "TYPE", "STATE", "TASKS RUNNING", "WORKER")
			out := []restStatus{}
			for _, n := range names {
				st := all[n].Status
				running := 0
				for _, task := range st.Tasks {
					if task.State == "RUNNING" {
						running++
					}
				}
				t.row(n, st.Type, st.Connector.State, fmt.Sprintf("%d/%d", running, len(st.Tasks)), st.Connector.WorkerID)
				out = append(out, st)
			}
			return cf.emit(cmd, out, t)
		},
	})

	sub(&cobra.Command{
		Use:   "status NAME",
		Short: "Show a connector's state and its tasks'",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := rf.out()
			if err != nil {
				return err
			}
			var st restStatus
			if err := rf.call(ctxOf(cmd), "GET", "/connectors/"+url.PathEscape(args[0])+"/status", nil, &st); err != nil {
				return err
			}
			t := newTable("INSTANCE", "STATE", "WORKER", "TRACE")
			t.row("connector", st.Connector.State, st.Connector.WorkerID, firstLine(st.Connector.Trace))
			for _, task := range st.Tasks {
				t.row(fmt.Sprintf("task %d", task.ID), task.State, task.WorkerID, firstLine(task.Trace))
			}
			return cf.emit(cmd, st, t)
		},
	})

	sub(&cobra.Command{
		Use:   "create FILE...",
		Short: "Create connectors from .properties or .json files",
		Example: `  eddy connect create connect-file-source.properties
  eddy connect create --url http://worker-2:8083 orders-sink.json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := rf.out()
			if err != nil {
				return err
			}
			return cf.emitOutcomes(cmd, "file", "connectors created", args, func(path string) error {
				c, err := readConnectorConfig(path)
				if err != nil {
					return err
				}
				return rf.call(ctxOf(cmd), "POST", "/connectors", map[string]any{"name": c["name"], "config": c}, nil)
			})
		},
	})

	var set, del []string
	cfgCmd := sub(&cobra.Command{
		Use:   "config NAME",
		Short: "Show a connector's config, or change settings (--set, --delete)",
		Example: `  eddy connect config local-file-source
  eddy connect config local-file-source --set topic=other --delete batch.size`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := rf.out()
			if err != nil {
				return err
			}
			path := "/connectors/" + url.PathEscape(args[0]) + "/config"
			var cfg map[string]string
			if len(set) == 0 && len(del) == 0 {
				if err := rf.call(ctxOf(cmd), "GET", path, nil, &cfg); err != nil {
					return err
				}
			} else {
				patch := map[string]any{}
				for _, kv := range set {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usagef("--set %q: want name=value", kv)
					}
					patch[k] = v
				}
				for _, k := range del {
					patch[k] = nil
				}
				var info struct {
					Config map[string]string `json:"config"`
				}
				if err := rf.call(ctxOf(cmd), "PATCH", path, patch, &info); err != nil {
					return err
				}
				cfg = info.Config
			}
			keys := make([]string, 0, len(cfg))
			for k := range cfg {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t := newTable("NAME", "VALUE")
			for _, k := range keys {
				t.row(k, cfg[k])
			}
			return cf.emit(cmd, cfg, t)
		},
	})
	cfgCmd.Flags().StringArrayVar(&set, "set", nil, "change a setting, name=value (repeatable; PATCH /connectors/NAME/config)")
	cfgCmd.Flags().StringArrayVar(&del, "delete", nil, "remove a setting (repeatable)")

	for _, op := range []struct{ use, short, method, path, what string }{
		{"pause", "Pause connectors (their tasks stop working, offsets stay)", "PUT", "/pause", "connectors paused"},
		{"resume", "Resume paused or stopped connectors", "PUT", "/resume", "connectors resumed"},
		{"stop", "Stop connectors, keeping their configs", "PUT", "/stop", "connectors stopped"},
		{"restart", "Restart connectors and their tasks", "POST", "/restart?includeTasks=true", "connectors restarted"},
		{"delete", "Delete connectors (their source offsets stay)", "DELETE", "", "connectors deleted"},
	} {
		sub(&cobra.Command{
			Use:   op.use + " NAME...",
			Short: op.short,
			Args:  usageArgs(cobra.MinimumNArgs(1)),
			RunE: func(cmd *cobra.Command, args []string) error {
				cf, err := rf.out()
				if err != nil {
					return err
				}
				return cf.emitOutcomes(cmd, "connector", op.what, args, func(name string) error {
					return rf.call(ctxOf(cmd), op.method, "/connectors/"+url.PathEscape(name)+op.path, nil, nil)
				})
			},
		})
	}

	sub(&cobra.Command{
		Use:   "plugins",
		Short: "List the connector plugins a worker offers",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := rf.out()
			if err != nil {
				return err
			}
			var ps []struct {
				Class   string `json:"class"`
				Type    string `json:"type"`
				Version string `json:"version"`
			}
			if err := rf.call(ctxOf(cmd), "GET", "/connector-plugins", nil, &ps); err != nil {
				return err
			}
			t := newTable("CLASS", "TYPE", "VERSION")
			for _, p := range ps {
				t.row(p.Class, p.Type, p.Version)
			}
			return cf.emit(cmd, ps, t)
		},
	})
}
