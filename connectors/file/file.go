// Package file provides Kafka's FileStreamSource and FileStreamSink
// connectors, accepting the same configs, so Kafka's quickstart
// (connect-file-source.properties, connect-file-sink.properties) works as
// is:
//
//	name=local-file-source
//	connector.class=FileStreamSource
//	tasks.max=1
//	file=test.txt
//	topic=connect-test
//
//	name=local-file-sink
//	connector.class=FileStreamSink
//	tasks.max=1
//	file=test.sink.txt
//	topics=connect-test
//
// The source tails the file: it sends each complete line (without its
// newline) as a string value, waits for more when it reaches the end, and
// keeps {"position": byte offset, "line": lines read} per file in the
// offsets topic, so after a restart it resumes at the first line not yet
// acknowledged. With key.mode=line (an Eddy addition) each record's key is
// its 1-based line number, which lets a sink upsert by key and so keep
// every line exactly once even when a crash makes the source repeat lines.
//
// The sink appends each record's value as a line (strings as they are,
// other values as JSON), writing each batch through at once, and fsyncs
// the file on flush, so committed offsets never run ahead of the data on
// disk.
//
// Importing the package registers both connectors.
package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// Classes, as Kafka names them.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
)

// SourceConfig defines the source's settings.
var SourceConfig = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "file", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "Source filename."}).
	Define(connectors.ConfigKey{Name: "topic", Type: connectors.List, Required: true, Importance: connectors.High,
		Doc: "The topic to publish data to.", Validate: func(v any) error {
			if l, _ := v.([]string); len(l) != 1 {
				return errors.New("'topic' in FileStreamSourceConnector configuration requires definition of a single topic")
			}
			return nil
		}}).
	Define(connectors.ConfigKey{Name: "batch.size", Type: connectors.Int, Default: "2000", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "The maximum number of records the source task can read from the file each time it is polled."}).
	Define(connectors.ConfigKey{Name: "key.mode", Type: connectors.String, Default: "none", Importance: connectors.Low,
		Validate: connectors.OneOf("none", "line"), Recommended: []string{"none", "line"},
		Doc: "Eddy: 'none' sends records without a key (as Kafka does); 'line' keys each record by its 1-based line number."}).
	Define(connectors.ConfigKey{Name: "poll.interval.ms", Type: connectors.Long, Default: "250", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "Eddy: how long to wait for more data at the end of the file."})

// SinkConfig defines the sink's settings.
var SinkConfig = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "file", Type: connectors.String, Default: "", Importance: connectors.High,
		Doc: "Destination filename. If not specified, the standard output will be used."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: SourceClass, Aliases: []string{"FileStreamSource"}, Type: connectors.TypeSource,
		Config: SourceConfig, NewConnector: func() connectors.Connector { return &oneTask{} },
		NewSourceTask: func() connectors.SourceTask { return &SourceTask{} },
	})
	connectors.Register(&connectors.Plugin{
		Class: SinkClass, Aliases: []string{"FileStreamSink"}, Type: connectors.TypeSink,
		Config: SinkConfig, NewConnector: func() connectors.Connector { return &oneTask{} },
		NewSinkTask: func() connectors.SinkTask { return &SinkTask{} },
	})
}

// oneTask is a connector whose work is a single task with its own config.
type oneTask struct{}

func (*oneTask) Start(context.Context, connectors.Config) error { return nil }
func (*oneTask) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{}}, nil
}
func (*oneTask) Stop() error { return nil }

// SourceTask tails one file.
type SourceTask struct {
	path     string
	topic    string
	batch    int
	keyLines bool
	interval time.Duration
	logger   interface{ Warn(string, ...any) }

	f        *os.File
	r        *bufio.Reader
	position int64 // byte offset of the next unread line
	line     int64 // lines read so far
}

func (t *SourceTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.path = cfg.String("file")
	t.topic = cfg.List("topic")[0]
	t.batch = cfg.Int("batch.size")
	t.keyLines = cfg.String("key.mode") == "line"
	t.interval = cfg.Millis("poll.interval.ms")
	t.logger = tc.Logger
	if off := tc.Offset(t.partition()); off != nil {
		t.position = toInt64(off["position"])
		t.line = toInt64(off["line"])
	}
	return nil
}

func (t *SourceTask) partition() map[string]any { return map[string]any{"filename": t.path} }

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	case int:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return 0
}

// open opens the file at the stored position; a missing file is waited for.
func (t *SourceTask) open() (bool, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, connectors.Retriable(err)
	}
	if st, err := f.Stat(); err == nil && st.Size() < t.position {
		t.logger.Warn("file is shorter than the stored position; reading it from the start", "file", t.path, "position", t.position)
		t.position, t.line = 0, 0
	}
	if _, err := f.Seek(t.position, io.SeekStart); err != nil {
		f.Close()
		return false, err
	}
	t.f, t.r = f, bufio.NewReaderSize(f, 64<<10)
	return true, nil
}

func (t *SourceTask) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	if t.f == nil {
		ok, err := t.open()
		if err != nil || !ok {
			return nil, sleep(ctx, t.interval, err)
		}
	}
	var recs []connectors.SourceRecord
	for len(recs) < t.batch {
		b, err := t.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: gather it whole.
			rest, err2 := t.r.ReadBytes('\n')
			b, err = append(append([]byte(nil), b...), rest...), err2
		}
		if err != nil {
			// An incomplete last line is read again once it is complete.
			if _, serr := t.f.Seek(t.position, io.SeekStart); serr != nil {
				return recs, serr
			}
			t.r.Reset(t.f)
			if !errors.Is(err, io.EOF) {
				return recs, connectors.Retriable(err)
			}
			break
		}
		t.position += int64(len(b))
		t.line++
		line := string(bytes.TrimRight(b, "\r\n"))
		rec := connectors.SourceRecord{
			Record:          connectors.Record{Topic: t.topic, Value: line},
			SourcePartition: t.partition(),
			SourceOffset:    map[string]any{"position": t.position, "line": t.line},
		}
		if t.keyLines {
			rec.Key = t.line
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, sleep(ctx, t.interval, nil)
	}
	return recs, nil
}

// sleep waits d or until ctx is done, then returns err.
func sleep(ctx context.Context, d time.Duration, err error) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
	return err
}

func (t *SourceTask) Stop() error {
	if t.f != nil {
		return t.f.Close()
	}
	return nil
}

// SinkTask appends record values to a file, one per line.
type SinkTask struct {
	f   *os.File
	w   *bufio.Writer
	out io.Writer
}

func (t *SinkTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	path := cfg.String("file")
	if path == "" {
		t.w = bufio.NewWriter(os.Stdout)
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("couldn't find or create file '%s' for FileStreamSinkTask: %w", path, err)
	}
	t.f, t.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

func (t *SinkTask) Put(ctx context.Context, records []connectors.Record) error {
	for _, r := range records {
		switch v := r.Value.(type) {
		case string:
			t.w.WriteString(v)
		case []byte:
			t.w.Write(v)
		case nil:
			t.w.WriteString("null")
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			t.w.Write(b)
		}
		t.w.WriteByte('\n')
	}
	// Write through, as Kafka's sink does, so the lines show at once;
	// Flush adds the fsync.
	if err := t.w.Flush(); err != nil {
		return connectors.Retriable(err)
	}
	return nil
}

func (t *SinkTask) Flush(ctx context.Context) error {
	if err := t.w.Flush(); err != nil {
		return connectors.Retriable(err)
	}
	if t.f != nil {
		return t.f.Sync()
	}
	return nil
}

func (t *SinkTask) Stop() error {
	if t.f == nil {
		return t.w.Flush()
	}
	err := t.w.Flush()
	return errors.Join(err, t.f.Close())
}
