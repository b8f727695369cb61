package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// kcatPath finds kcat (librdkafka's command-line client; Debian's package
// is kcat, older systems name the binary kafkacat) or skips the test.
func kcatPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("kcat is not installed; run `apt-get install kcat` to test librdkafka compatibility")
	return ""
}

// TestCompatKcat produces with `kcat -P -z <codec>` (librdkafka, acks=all)
// and checks that the stored batches really carry the codec, that franz-go
// reads the records back with their keys and headers, and that
// `kcat -C -e` reads them back too.
func TestCompatKcat(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	const n = 500
	var input bytes.Buffer
	var wantLines []string
	for i := range n {
		key := fmt.Sprintf("key-%d", i)
		value := fmt.Sprintf("value %d %s", i, strings.Repeat("compressible kcat text ", 1+i%20))
		fmt.Fprintf(&input, "%s\t%s\n", key, value)
		wantLines = append(wantLines, fmt.Sprintf("%d|%s|%s|source=kcat,codec=", i, key, value))
	}

	for _, codec := range compatCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			ctx := testCtx(t)
			topic := "kcat-" + codec.String()
			cl := newKgoClient(t, b.Addr())
			createTopic(t, ctx, cl, topic, 1)

			args := []string{"-b", b.Addr(), "-P", "-t", topic, "-p", "0", "-K", "\t",
				"-H", "source=kcat", "-H", "codec=" + codec.String(),
				"-X", "acks=all", "-X", "linger.ms=100"}
			if codec != 0 {
				args = append(args, "-z", codec.String())
			}
			cmd := exec.CommandContext(ctx, kcat, args...)
			cmd.Stdin = bytes.NewReader(input.Bytes())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, out)
			}

			batches := storedBatches(t, ctx, cl, topic, 0)
			counts := codecCounts(batches)
			t.Logf("kcat stored %d batches by codec: %v", len(batches), counts)
			if counts[codec] != len(batches) {
				t.Errorf("batches by codec %v, want all %d with codec %s", counts, len(batches), codec)
				if codec == 3 {
					// librdkafka's feature map (src/rdkafka_feature.c) enables
					// LZ4 only if ApiVersions lists FindCoordinator (key 10)
					// v0; otherwise it silently sends lz4 batches uncompressed.
					t.Errorf("librdkafka enables lz4 only when the broker advertises FindCoordinator v0; advertised: %v",
						func() bool { _, ok := apis[10]; return ok }())
				}
			}

			got := consumeKgo(t, ctx, b.Addr(), topic, 1, n)[0]
			if len(got) != n {
				t.Fatalf("franz-go read %d records, want %d", len(got), n)
			}
			for i, r := range got {
				var hs []string
				for _, h := range r.headers {
					hs = append(hs, h.key+"="+string(h.value))
				}
				line := fmt.Sprintf("%d|%s|%s|%s", r.offset, r.key, r.value, strings.Join(hs, ","))
				if want := wantLines[i] + codec.String(); line != want {
					t.Fatalf("franz-go read record %d as\n%q, want\n%q", i, line, want)
				}
			}

			cmd = exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
				"-f", "%o|%k|%s|%h\n")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kcat -C: %v\n%s", err, stderr.Bytes())
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(lines) != n {
				t.Fatalf("kcat -C printed %d records, want %d\nstderr: %s", len(lines), n, stderr.Bytes())
			}
			for i, line := range lines {
				if want := wantLines[i] + codec.String(); line != want {
					t.Fatalf("kcat -C printed record %d as\n%q, want\n%q", i, line, want)
				}
			}
		})
	}

	t.Run("metadata", func(t *testing.T) {
		ctx := testCtx(t)
		cl := newKgoClient(t, b.Addr())
		createTopic(t, ctx, cl, "kcat-metadata", 3)
		out, err := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-L", "-J", "-t", "kcat-metadata").Output()
		if err != nil {
			t.Fatalf("kcat -L: %v", err)
		}
		var md struct {
			Brokers []struct {
				ID   int32  `json:"id"`
				Name string `json:"name"`
			} `json:"brokers"`
			Topics []struct {
				Topic      string `json:"topic"`
				Partitions []struct {
					Partition int32 `json:"partition"`
					Leader    int32 `json:"leader"`
				} `json:"partitions"`
			} `json:"topics"`
		}
		if err := json.Unmarshal(out, &md); err != nil {
			t.Fatalf("kcat -L -J output: %v\n%s", err, out)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].ID != 0 || md.Brokers[0].Name != b.Addr() {
			t.Errorf("kcat -L brokers: %+v, want [0 %s]", md.Brokers, b.Addr())
		}
		if len(md.Topics) != 1 || md.Topics[0].Topic != "kcat-metadata" || len(md.Topics[0].Partitions) != 3 {
			t.Fatalf("kcat -L topics: %s", out)
		}
		for _, p := range md.Topics[0].Partitions {
			if p.Leader != 0 {
				t.Errorf("kcat -L: partition %d leader %d, want 0", p.Partition, p.Leader)
			}
		}
	})
}
