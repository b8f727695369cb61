package connectors_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// Kafka's quickstart configs, file → topic → file, across a worker restart:
// the source resumes after the last line it sent, the sink after the last
// record it flushed, so every line arrives exactly once.
func TestFileSourceToFileSinkAcrossRestart(t *testing.T) {
	addr := startBroker(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "test.txt"), filepath.Join(dir, "test.sink.txt")
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	appendLines(t, in, want[:50]...)

	create := func(w *connectors.Worker) {
		if _, _, err := w.CreateConnector("local-file-source", map[string]string{
			"connector.class": "FileStreamSource", "tasks.max": "1", "file": in, "topic": "connect-test"}, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.CreateConnector("local-file-sink", map[string]string{
			"connector.class": "FileStreamSink", "tasks.max": "1", "file": out, "topics": "connect-test"}, false); err != nil {
			t.Fatal(err)
		}
	}
	w := startWorker(t, addr, nil)
	create(w)
	waitFor(t, 20*time.Second, "50 lines in the sink file", func() bool { return len(lines(out)) >= 50 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	appendLines(t, in, want[50:]...)

	// The configs topic brings both connectors back.
	w = startWorker(t, addr, nil)
	if got := w.Connectors(); !slices.Equal(got, []string{"local-file-sink", "local-file-source"}) {
		t.Fatalf("connectors after restart = %v", got)
	}
	waitFor(t, 20*time.Second, "100 lines in the sink file", func() bool { return len(lines(out)) >= 100 })
	// Offsets are committed on the flush interval, a little after the data.
	waitFor(t, 10*time.Second, "source offsets at line 100", func() bool {
		offs, err := w.Offsets("local-file-source")
		return err == nil && len(offs) == 1 && offs[0].Offset["line"] == int64(100)
	})
	waitFor(t, 10*time.Second, "sink offsets at 100", func() bool {
		offs, err := w.Offsets("local-file-sink")
		return err == nil && len(offs) == 1 && offs[0].Offset["kafka_offset"] == int64(100)
	})
	// The sink has flushed everything up to the topic's end (offset 100),
	// so the file is complete: every line, once, in order.
	if got := lines(out); !slices.Equal(got, want) {
		t.Fatalf("sink file has %d lines, want %d; first %q", len(got), len(want), got[:min(3, len(got))])
	}

	// Rewinding a stopped sink's offsets (PATCH /offsets) makes it deliver
	// the last 10 records again.
	if err := w.Stop("local-file-sink"); err != nil {
		t.Fatal(err)
	}
	if err := w.AlterOffsets("local-file-sink", []connectors.Offset{{
		Partition: map[string]any{"kafka_topic": "connect-test", "kafka_partition": 0},
		Offset:    map[string]any{"kafka_offset": 90}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Resume("local-file-sink"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "110 lines in the sink file", func() bool { return len(lines(out)) >= 110 })
	if got := lines(out); !slices.Equal(got[100:], want[90:]) {
		t.Fatalf("after the rewind the sink file ends %q", got[100:])
	}
}
