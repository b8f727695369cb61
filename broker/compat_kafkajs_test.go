package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCompatKafkajs runs testdata/kafkajs/compat.js: kafkajs (which speaks
// ApiVersions v0-v2) creates a topic, reads its metadata, produces an
// uncompressed and a gzip batch at acks=all, and lists offsets with its
// admin client; franz-go then reads the records back. kafkajs's consumer
// (which runs in a consumer group) is not driven here yet.
//
// The test skips unless node and kafkajs are installed:
//
//	apt-get install nodejs npm
//	cd broker/testdata/kafkajs && npm ci
func TestCompatKafkajs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (apt-get install nodejs npm); then run `npm ci` in broker/testdata/kafkajs")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "kafkajs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs", "package.json")); err != nil {
		t.Skip("kafkajs is not installed: run `npm ci` in broker/testdata/kafkajs")
	}

	b := startBroker(t)
	ctx := testCtx(t)
	const topic = "kafkajs"
	cmd := exec.CommandContext(ctx, node, "compat.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BROKER="+b.Addr(), "TOPIC="+topic, "KAFKAJS_NO_PARTITIONER_WARNING=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node compat.js: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("kafkajs logged:\n%s", stderr.Bytes())
	}
	var res struct {
		Created      bool `json:"created"`
		CreatedAgain bool `json:"createdAgain"`
		Metadata     []struct {
			Name       string `json:"name"`
			Partitions []struct {
				Partition int32   `json:"partition"`
				Leader    int32   `json:"leader"`
				Replicas  []int32 `json:"replicas"`
				ISR       []int32 `json:"isr"`
				Error     int16   `json:"error"`
			} `json:"partitions"`
		} `json:"metadata"`
		Topics   []string `json:"topics"`
		Produced []struct {
			Partition  int32  `json:"partition"`
			Error      int16  `json:"error"`
			BaseOffset string `json:"baseOffset"`
		} `json:"produced"`
		Offsets []struct {
			Partition int32  `json:"partition"`
			Offset    string `json:"offset"`
			High      string `json:"high"`
			Low       string `json:"low"`
		} `json:"offsets"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decode compat.js output: %v\n%s", err, out)
	}

	if !res.Created {
		t.Errorf("kafkajs createTopics returned false for a new topic")
	}
	if res.CreatedAgain {
		t.Errorf("kafkajs createTopics returned true for an existing topic")
	}
	if !slices.Equal(res.Topics, []string{topic}) {
		t.Errorf("kafkajs listTopics: %v, want [%s]", res.Topics, topic)
	}
	if len(res.Metadata) != 1 || res.Metadata[0].Name != topic || len(res.Metadata[0].Partitions) != 3 {
		t.Fatalf("kafkajs fetchTopicMetadata: %+v, want %s with 3 partitions", res.Metadata, topic)
	}
	for i, p := range res.Metadata[0].Partitions {
		if p.Partition != int32(i) || p.Leader != 0 || p.Error != 0 ||
			!slices.Equal(p.Replicas, []int32{0}) || !slices.Equal(p.ISR, []int32{0}) {
			t.Errorf("kafkajs metadata of partition %d: %+v", i, p)
		}
	}

	// Partition p got 5+p records per batch, two batches.
	perBatch := func(p int32) int64 { return 5 + int64(p) }
	if len(res.Produced) != 6 {
		t.Fatalf("kafkajs send results: %+v, want 3 per batch", res.Produced)
	}
	for i, pr := range res.Produced {
		batch := int64(i / 3)
		if want := strconv.FormatInt(batch*perBatch(pr.Partition), 10); pr.Error != 0 || pr.BaseOffset != want {
			t.Errorf("kafkajs send result %d: %+v, want base offset %s and no error", i, pr, want)
		}
	}
	if len(res.Offsets) != 3 {
		t.Fatalf("kafkajs fetchTopicOffsets: %+v, want 3 partitions", res.Offsets)
	}
	for _, o := range res.Offsets {
		end := strconv.FormatInt(2*perBatch(o.Partition), 10)
		if o.Offset != end || o.High != end || o.Low != "0" {
			t.Errorf("kafkajs offsets of partition %d: offset %s, high %s, low %s; want %s, %s, 0",
				o.Partition, o.Offset, o.High, o.Low, end, end)
		}
	}

	// The same records as compat.js's messages(), read with franz-go.
	want := make([][]compatRecord, 3)
	for batch := range 2 {
		for p := range int32(3) {
			for i := range int(perBatch(p)) {
				want[p] = append(want[p], compatRecord{
					partition: p,
					key:       fmt.Appendf(nil, "kafkajs-%d-%d-%d", batch, p, i),
					value:     fmt.Appendf(nil, "value %d/%d/%d %s", batch, p, i, strings.Repeat("kafkajs ", i%10)),
					headers: []compatHeader{
						{key: "batch", value: []byte(strconv.Itoa(batch))},
						{key: "index", value: []byte(strconv.Itoa(i))},
					},
					ts: time.UnixMilli(1_600_000_000_000 + int64(batch)*1000 + int64(i)),
				})
			}
		}
	}
	total := 0
	for _, w := range want {
		total += len(w)
	}
	got := consumeKgo(t, ctx, b.Addr(), topic, 3, total)
	checkRoundTrip(t, want, got)

	// The second batch went out gzip-compressed.
	cl := newKgoClient(t, b.Addr())
	for p := range int32(3) {
		counts := codecCounts(storedBatches(t, ctx, cl, topic, p))
		if counts[0] != 1 || counts[1] != 1 {
			t.Errorf("partition %d: stored batches by codec %v, want one none and one gzip", p, counts)
		}
	}
}
