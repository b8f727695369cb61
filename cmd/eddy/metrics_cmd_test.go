package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestBrokerCommandServesMetrics runs "eddy broker --http", drives it with
// the CLI and checks that /metrics parses and its counters moved.
func TestBrokerCommandServesMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := eddyCommand(ctx, "broker", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("broker exited with %v; stderr:\n%s", err, stderr.String())
		}
	}()
	sc := bufio.NewScanner(stdout)
	var addr, metricsURL string
	for (addr == "" || metricsURL == "") && sc.Scan() {
		if m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if m := regexp.MustCompile(`metrics on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			metricsURL = m[1]
		}
	}
	if addr == "" || metricsURL == "" {
		t.Fatalf("no addresses printed; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	scrape := func() map[string]float64 {
		t.Helper()
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("parse /metrics: %v", err)
		}
		// name{label values} -> value, for the series the test looks at
		out := map[string]float64{}
		for name, f := range fams {
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				key := name + "{" + strings.Join(labels, ",") + "}"
				switch {
				case m.Counter != nil:
					out[key] = m.Counter.GetValue()
				case m.Gauge != nil:
					out[key] = m.Gauge.GetValue()
				case m.Histogram != nil:
					out[key] = float64(m.Histogram.GetSampleCount())
				}
			}
		}
		return out
	}

	before := scrape()
	run := func(stdin string, args ...string) string {
		t.Helper()
		c := eddyCommand(ctx, append(args, "--brokers", addr)...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("eddy %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("", "topic", "create", "metered", "-p", "1")
	run("one\ntwo\nthree\n", "produce", "metered")
	run("", "consume", "metered")
	after := scrape()

	if v := after[`eddy_topic_produced_records_total{topic=metered}`]; v != 3 {
		t.Errorf("produced records = %v, want 3", v)
	}
	if v := after[`eddy_topic_fetched_bytes_total{topic=metered}`]; v == 0 {
		t.Errorf("fetched bytes did not move")
	}
	if v := after[`eddy_partition_log_end_offset{partition=0,topic=metered}`]; v != 3 {
		t.Errorf("log end offset = %v, want 3", v)
	}
	if after[`eddy_produce_fsync_wait_seconds{}`] <= before[`eddy_produce_fsync_wait_seconds{}`] {
		t.Errorf("no fsync wait observed")
	}
	if after[`eddy_connections_accepted_total{}`] <= before[`eddy_connections_accepted_total{}`] {
		t.Errorf("accepted connections did not move")
	}
	if after[`eddy_request_duration_seconds{api=CreateTopics}`] != 1 {
		t.Errorf("CreateTopics latency observations = %v, want 1", after[`eddy_request_duration_seconds{api=CreateTopics}`])
	}
}

// TestAlterConfigNeedsIncrementalAlterConfigs points alter-config at a
// cluster (franz-go's kfake) that does not advertise
// IncrementalAlterConfigs: the command must say so and exit 1 at once,
// not retry until it times out.
func TestAlterConfigNeedsIncrementalAlterConfigs(t *testing.T) {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(kmsg.IncrementalAlterConfigs), -1)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.MaxVersions(vs), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	r := eddy(t, nil, "", "topic", "alter-config", "events", "--set", "retention.ms=1000", "--brokers", c.ListenAddrs()[0])
	if r.code() != 1 || !strings.Contains(r.err.Error(), "does not serve IncrementalAlterConfigs") {
		t.Errorf("code %d, err %v", r.code(), r.err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to fail", d)
	}
}
