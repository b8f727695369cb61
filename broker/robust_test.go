package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// robustLogs captures a broker's log records for assertions.
type robustLogs struct {
	mu   sync.Mutex
	recs []robustLogRecord
}

type robustLogRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string // flattened; groups are ignored
}

func (l *robustLogs) logger() *slog.Logger { return slog.New(&robustLogHandler{logs: l}) }

// find returns the records at level or above whose message contains substr.
func (l *robustLogs) find(level slog.Level, substr string) []robustLogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []robustLogRecord
	for _, r := range l.recs {
		if r.level >= level && strings.Contains(r.msg, substr) {
			out = append(out, r)
		}
	}
	return out
}

func (l *robustLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sb strings.Builder
	for _, r := range l.recs {
		fmt.Fprintf(&sb, "%s %s %v\n", r.level, r.msg, r.attrs)
	}
	return sb.String()
}

type robustLogHandler struct {
	logs  *robustLogs
	attrs []slog.Attr
}

func (h *robustLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *robustLogHandler) Handle(_ context.Context, r slog.Record) error {
	rec := robustLogRecord{level: r.Level, msg: r.Message, attrs: make(map[string]string)}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.logs.mu.Lock()
	h.logs.recs = append(h.logs.recs, rec)
	h.logs.mu.Unlock()
	return nil
}

func (h *robustLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &robustLogHandler{logs: h.logs, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

func (h *robustLogHandler) WithGroup(string) slog.Handler { return h }

// segmentBatches returns the start position of every batch in a segment
// file, reading only the batch length fields.
func segmentBatches(t *testing.T, data []byte) []int {
	t.Helper()
	var starts []int
	for pos := 0; pos < len(data); {
		if len(data)-pos < 12 {
			t.Fatalf("segment has %d stray bytes at %d", len(data)-pos, pos)
		}
		starts = append(starts, pos)
		pos += 12 + int(binary.BigEndian.Uint32(data[pos+8:]))
	}
	return starts
}

// TestTailCorruptionTruncatedOnRestart damages the end of a partition's
// active segment while the broker is stopped, as a torn write or a bad
// disk would, and checks the design's recovery promise through the
// broker: the bad tail is cut off with a WARN log, every batch before it
// stays readable, and new produces continue at the next offset.
func TestTailCorruptionTruncatedOnRestart(t *testing.T) {
	const (
		topic = "tail"
		n     = 20 // records, one batch each
	)
	cases := []struct {
		name string
		// damage changes the segment bytes; starts are the batch positions.
		damage func(data []byte, starts []int) []byte
		kept   int // records expected to survive
		warn   bool
	}{
		{"intact", func(d []byte, _ []int) []byte { return d }, n, false},
		{"garbage appended", func(d []byte, _ []int) []byte {
			return append(d, []byte("\x00\x00\x00\x00\x00\x00\x00\x14this is not a batch at all")...)
		}, n, true},
		{"zeros appended", func(d []byte, _ []int) []byte {
			return append(d, make([]byte, 4096)...) // preallocated blocks after a crash
		}, n, true},
		{"last byte flipped", func(d []byte, _ []int) []byte {
			d[len(d)-1] ^= 0xff // inside the last batch's CRC-covered records
			return d
		}, n - 1, true},
		{"last batch torn in its records", func(d []byte, s []int) []byte {
			return d[:len(d)-10]
		}, n - 1, true},
		{"last batch torn in its header", func(d []byte, s []int) []byte {
			return d[:s[len(s)-1]+30]
		}, n - 1, true},
		{"last batch length too large", func(d []byte, s []int) []byte {
			binary.BigEndian.PutUint32(d[s[len(s)-1]+8:], 1<<30)
			return d
		}, n - 1, true},
		{"byte flipped three batches from the end", func(d []byte, s []int) []byte {
			d[s[len(s)-3]+70] ^= 0x01
			return d // everything from the bad batch on goes
		}, n - 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			dir := t.TempDir()
			b := startBroker(t, func(c *Config) { c.DataDir = dir })
			crashCreateTopic(t, ctx, b.Addr(), topic, 1)
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value-%d", i)}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce %d: %v", i, err)
				}
			}
			cl.Close()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}

			seg := filepath.Join(dir, topic+"-0", "00000000000000000000.log")
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			starts := segmentBatches(t, data)
			if len(starts) != n {
				t.Fatalf("segment holds %d batches, want %d (one per produce)", len(starts), n)
			}
			data = tc.damage(data, starts)
			if err := os.WriteFile(seg, data, 0o644); err != nil {
				t.Fatal(err)
			}

			logs := &robustLogs{}
			b = startBroker(t, func(c *Config) { c.DataDir = dir; c.Logger = logs.logger() })
			recs := crashReadTopic(t, ctx, b.Addr(), topic, 1)[0]
			if len(recs) != tc.kept {
				t.Fatalf("%d records after restart, want %d", len(recs), tc.kept)
			}
			for i, r := range recs {
				if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("value-%d", i) {
					t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
				}
			}

			var warns []robustLogRecord
			for _, r := range logs.find(slog.LevelWarn, "truncat") {
				if r.attrs["topic"] == topic && r.attrs["partition"] == "0" {
					warns = append(warns, r)
				}
			}
			switch {
			case tc.warn && len(warns) == 0:
				t.Errorf("no WARN about truncating %s-0; logs:\n%s", topic, logs)
			case !tc.warn && len(warns) > 0:
				t.Errorf("undamaged log reported as truncated: %v", warns)
			}

			cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			r := &kgo.Record{Topic: topic, Value: []byte("after")}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce after restart: %v", err)
			}
			if r.Offset != int64(tc.kept) {
				t.Errorf("produce after restart got offset %d, want %d", r.Offset, tc.kept)
			}
			recs = crashReadTopic(t, ctx, b.Addr(), topic, 1)[0]
			if len(recs) != tc.kept+1 || string(recs[tc.kept].Value) != "after" {
				t.Errorf("after the new produce: %d records, last %q", len(recs), recs[len(recs)-1].Value)
			}
		})
	}
}

// robustFrame builds a request frame by hand: length, api key, version,
// correlation id, client id (as given, so it may be malformed), then body.
func robustFrame(key, version int16, corrID int32, clientID []byte, body []byte) []byte {
	var f []byte
	f = binary.BigEndian.AppendUint32(f, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(key))
	f = binary.BigEndian.AppendUint16(f, uint16(version))
	f = binary.BigEndian.AppendUint32(f, uint32(corrID))
	f = append(f, clientID...)
	f = append(f, body...)
	binary.BigEndian.PutUint32(f, uint32(len(f)-4))
	return f
}

// robustClientID encodes a client id string as a request header does.
func robustClientID(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// robustEncode encodes a valid request frame with kmsg.
func robustEncode(req kmsg.Request, corrID int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("robust")).AppendRequest(nil, req, corrID)
}

// robustDial connects with a deadline on everything, so that a broker
// that neither answers nor closes fails the test instead of hanging it.
func robustDial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return nc.(*net.TCPConn)
}

// robustExpectClosed reads until the broker closes the connection and
// returns what it sent before. A deadline expiring means the broker hung.
func robustExpectClosed(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	data, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("broker neither closed the connection nor answered: %v (read %d bytes)", err, len(data))
	}
	return data
}

// robustReadResponse reads one response frame and checks its correlation
// id; it returns the bytes after the id.
func robustReadResponse(t testing.TB, nc net.Conn, corrID int32) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("read response: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatalf("read response body: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != corrID {
		t.Fatalf("response correlation id %d, want %d", got, corrID)
	}
	return buf[4:]
}

// robustRoundTripper produces a record and consumes it back, one at a time.
type robustRoundTripper struct {
	topic    string
	prod     *kgo.Client
	cons     *kgo.Client
	pending  []*kgo.Record // consumed but not yet matched
	produced int
}

func newRobustRoundTripper(t testing.TB, addr, topic string) *robustRoundTripper {
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	return &robustRoundTripper{topic: topic, prod: prod, cons: cons}
}

// once produces one record with acks=all and waits until the consumer
// has read it back.
func (rt *robustRoundTripper) once(ctx context.Context) error {
	want := fmt.Sprintf("round-trip-%d", rt.produced)
	r := &kgo.Record{Topic: rt.topic, Value: []byte(want)}
	if err := rt.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("produce %q: %w", want, err)
	}
	if r.Offset != int64(rt.produced) {
		return fmt.Errorf("produce %q: offset %d, want %d", want, r.Offset, rt.produced)
	}
	rt.produced++
	for len(rt.pending) == 0 {
		fs := rt.cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume %q: %w", want, err)
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consume %q: %w", want, err)
		}
		rt.pending = append(rt.pending, fs.Records()...)
	}
	got := rt.pending[0]
	rt.pending = rt.pending[1:]
	if string(got.Value) != want || got.Offset != r.Offset {
		return fmt.Errorf("consumed %q at %d, want %q at %d", got.Value, got.Offset, want, r.Offset)
	}
	return nil
}

// TestProtocolAbuse sends malformed, truncated, oversized and unsupported
// requests on raw connections while a franz-go client produces and
// consumes. Design: "unknown or malformed input gets a Kafka error code or
// a closed connection, never a panic or a hung client". Every abusive
// connection must be answered or closed (all reads have deadlines), and
// the well-behaved client must never see an error.
func TestProtocolAbuse(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	crashCreateTopic(t, ctx, b.Addr(), "good", 1)

	rt := newRobustRoundTripper(t, b.Addr(), "good")
	var trips atomic.Int64
	stop := make(chan struct{})
	loopErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				loopErr <- nil
				return
			default:
			}
			if err := rt.once(ctx); err != nil {
				loopErr <- err
				return
			}
			trips.Add(1)
		}
	}()
	// awaitTrip waits until the good client completes another round trip.
	awaitTrip := func() {
		t.Helper()
		from := trips.Load()
		for trips.Load() == from {
			select {
			case err := <-loopErr:
				t.Fatalf("good client: %v", err)
			case <-ctx.Done():
				t.Fatalf("good client made no progress: %v", ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
	}
	awaitTrip()

	addr := b.Addr()
	t.Run("random bytes", func(t *testing.T) {
		seed := rand.Uint64()
		if s := os.Getenv("EDDY_ABUSE_SEED"); s != "" { // to replay a failure
			fmt.Sscan(s, &seed)
		}
		t.Logf("seed %d (EDDY_ABUSE_SEED replays it)", seed)
		rng := rand.New(rand.NewPCG(seed, 0))
		for range 50 {
			nc := robustDial(t, addr)
			junk := make([]byte, 1+rng.IntN(4096))
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			if _, err := nc.Write(junk); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatal(err)
			}
			nc.CloseWrite() // a frame the junk announced never completes
			robustExpectClosed(t, nc)
		}
	})
	t.Run("truncated frame then half-close", func(t *testing.T) {
		full := robustEncode(kmsg.NewPtrMetadataRequest(), 1)
		for _, cut := range []int{2, 4, 10, len(full) - 1} {
			nc := robustDial(t, addr)
			nc.Write(full[:cut])
			nc.CloseWrite()
			if data := robustExpectClosed(t, nc); len(data) > 0 {
				t.Errorf("cut at %d: broker answered %d bytes to an incomplete frame", cut, len(data))
			}
		}
	})
	t.Run("bad length prefix", func(t *testing.T) {
		for _, size := range []uint32{0x7fffffff, 100<<20 + 1, 0xffffffff, 0x80000000, 0, 7} {
			nc := robustDial(t, addr)
			var p [4]byte
			binary.BigEndian.PutUint32(p[:], size)
			nc.Write(p[:])
			// No half-close: the prefix alone must make the broker close.
			if data := robustExpectClosed(t, nc); len(data) > 0 {
				t.Errorf("size %#x: broker answered %d bytes", size, len(data))
			}
		}
	})
	t.Run("unsupported key or version closes", func(t *testing.T) {
		// Kafka closes the connection on an API key or version it does not
		// serve (only ApiVersions gets an answer, below). The cases come
		// from the broker's own table, so they follow it as APIs are added.
		type kv struct{ key, version int16 }
		cases := []kv{
			{9999, 0},
			{-1, 0},
			{int16(kmsg.Produce), apis[int16(kmsg.Produce)].max + 1},
			{int16(kmsg.Produce), 99},
			{int16(kmsg.Fetch), apis[int16(kmsg.Fetch)].min - 1},
		}
		for k := range int16(100) {
			if _, served := apis[k]; !served && kmsg.RequestForKey(k) != nil {
				cases = append(cases, kv{k, 0}) // a Kafka API the broker does not serve
				break
			}
		}
		for _, f := range cases {
			nc := robustDial(t, addr)
			nc.Write(robustFrame(f.key, f.version, 7, robustClientID("robust"), make([]byte, 32)))
			if data := robustExpectClosed(t, nc); len(data) > 0 {
				t.Errorf("%s (key %d) v%d: broker answered %d bytes", kmsg.NameForKey(f.key), f.key, f.version, len(data))
			}
		}
	})
	t.Run("ApiVersions v99 gets v0 UNSUPPORTED_VERSION, then v3 works", func(t *testing.T) {
		// KIP-511: the broker answers an unknown ApiVersions version in v0
		// with error 35 and its ranges, and keeps the connection.
		nc := robustDial(t, addr)
		nc.Write(robustFrame(int16(kmsg.ApiVersions), 99, 41, robustClientID("robust"), []byte{0xde, 0xad}))
		body := robustReadResponse(t, nc, 41)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode v0 ApiVersions response: %v", err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("error code %d, want %d (UNSUPPORTED_VERSION)", resp.ErrorCode, kerr.UnsupportedVersion.Code)
		}
		ranges := make(map[int16][2]int16)
		for _, k := range resp.ApiKeys {
			ranges[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		for key, spec := range apis {
			if got := ranges[key]; got != [2]int16{spec.min, spec.max} {
				t.Errorf("%s: advertised v%d-v%d, serves v%d-v%d", kmsg.NameForKey(key), got[0], got[1], spec.min, spec.max)
			}
		}
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "robust", "1"
		nc.Write(robustEncode(req, 42))
		body = robustReadResponse(t, nc, 42)
		resp = kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(3)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode v3 ApiVersions response: %v", err)
		}
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
			t.Errorf("v3 retry: error %d, %d api keys", resp.ErrorCode, len(resp.ApiKeys))
		}
	})
	t.Run("malformed bodies close", func(t *testing.T) {
		produce := kmsg.NewPtrProduceRequest()
		produce.SetVersion(9)
		produce.Acks = -1
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = "good"
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = make([]byte, 100)
		pt.Partitions = append(pt.Partitions, pp)
		produce.Topics = append(produce.Topics, pt)
		full := robustEncode(produce, 5)
		half := append([]byte(nil), full[:len(full)/2]...)
		binary.BigEndian.PutUint32(half, uint32(len(half)-4))

		hugeArray := binary.BigEndian.AppendUint32(nil, 0x7fffffff) // topics array length, no topics
		frames := map[string][]byte{
			"metadata v12 with 0xff body":      robustFrame(int16(kmsg.Metadata), 12, 5, robustClientID("robust"), append([]byte{0}, bytes.Repeat([]byte{0xff}, 40)...)),
			"produce v9 cut in half":           half,
			"metadata v4 huge topic array":     robustFrame(int16(kmsg.Metadata), 4, 5, robustClientID("robust"), hugeArray),
			"create topics v4 negative array":  robustFrame(int16(kmsg.CreateTopics), 4, 5, robustClientID("robust"), binary.BigEndian.AppendUint32(nil, 0x80000000)),
			"client id length beyond frame":    robustFrame(int16(kmsg.Metadata), 4, 5, []byte{0x7f, 0xff, 'x'}, nil),
			"header without client id":         robustFrame(int16(kmsg.Metadata), 4, 5, nil, nil),
			"flexible header, bad tag count":   robustFrame(int16(kmsg.Metadata), 12, 5, robustClientID("robust"), bytes.Repeat([]byte{0xff}, 11)),
			"flexible header, tag past frame":  robustFrame(int16(kmsg.Metadata), 12, 5, robustClientID("robust"), []byte{1, 0, 100, 1, 2}),
			"fetch v12 with only a header tag": robustFrame(int16(kmsg.Fetch), 12, 5, robustClientID("robust"), []byte{0}),
		}
		for name, f := range frames {
			nc := robustDial(t, addr)
			nc.Write(f)
			if data := robustExpectClosed(t, nc); len(data) > 0 {
				t.Errorf("%s: broker answered %d bytes", name, len(data))
			}
		}
	})
	t.Run("bad records get an error code", func(t *testing.T) {
		nc := robustDial(t, addr)
		for i, records := range [][]byte{make([]byte, 100), bytes.Repeat([]byte{0xff}, 70), {1, 2, 3}} {
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(9)
			req.Acks = -1
			req.TimeoutMillis = 5000
			pt := kmsg.NewProduceRequestTopic()
			pt.Topic = "good"
			pp := kmsg.NewProduceRequestTopicPartition()
			pp.Records = records
			pt.Partitions = append(pt.Partitions, pp)
			req.Topics = append(req.Topics, pt)
			corr := int32(100 + i)
			nc.Write(robustEncode(req, corr))
			resp := kmsg.NewPtrProduceResponse()
			resp.SetVersion(9)
			body := robustReadResponse(t, nc, corr)
			if err := resp.ReadFrom(body[1:]); err != nil { // body[0]: header tags
				t.Fatalf("decode produce response: %v", err)
			}
			if code := resp.Topics[0].Partitions[0].ErrorCode; code == 0 {
				t.Errorf("records %x accepted", records)
			}
		}
	})

	awaitTrip() // the good client got through during and after the abuse
	close(stop)
	if err := <-loopErr; err != nil {
		t.Fatalf("good client: %v", err)
	}
	for i := range 50 {
		if err := rt.once(ctx); err != nil {
			t.Fatalf("round trip %d after the abuse: %v", i, err)
		}
	}
	t.Logf("good client: %d round trips during the abuse, 50 after", trips.Load())
}

// brokerGoroutines counts goroutines running broker code (connections,
// the accept loop, fetches, fsync waits, storage).
func brokerGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var count int
	var sb strings.Builder
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "eddy/broker.(*") || strings.Contains(g, "eddy/broker.handle") ||
			strings.Contains(g, "eddy/broker/storage.") {
			count++
			sb.WriteString(g)
			sb.WriteString("\n\n")
		}
	}
	return count, sb.String()
}

// blockedWriters counts connection writers blocked writing to a socket.
func blockedWriters() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var n int
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "broker.(*conn).writeLoop") && strings.Contains(g, "waitWrite") {
			n++
		}
	}
	return n
}

// robustAwait polls cond until it holds or ctx ends.
func robustAwait(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Millisecond):
		}
	}
	return true
}

// TestAbruptDisconnectsDoNotLeak opens 200 connections that vanish in the
// middle of a request (reset, not a clean close) and checks that the broker
// lets go of every one of them while it runs; then that Close returns even
// with connections whose writers are blocked on clients that never read,
// and that no broker goroutine survives Close.
func TestAbruptDisconnectsDoNotLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := testCtx(t)
	b := startBroker(t)
	crashCreateTopic(t, ctx, b.Addr(), "leak", 2)

	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	produce.TimeoutMillis = 5000
	{
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = "leak"
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = robustBatch([]byte("abrupt"))
		pt.Partitions = append(pt.Partitions, pp)
		produce.Topics = append(produce.Topics, pt)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis = 200
	fetch.MinBytes = 1 << 30 // waits the whole MaxWait
	fetch.MaxBytes = 1 << 20
	{
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "leak"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = 1
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
	}
	metadata := kmsg.NewPtrMetadataRequest()
	frames := [][]byte{
		{0, 0},                         // half a length prefix
		robustEncode(metadata, 1)[:20], // part of a frame
		robustEncode(produce, 1),       // whole acks=all produce, reply never read
		robustEncode(fetch, 1),         // whole long-polling fetch
		append(robustEncode(metadata, 1), robustEncode(produce, 2)...), // pipelined
	}

	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for i := range 200 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			nc.Write(frames[i%len(frames)])
			nc.(*net.TCPConn).SetLinger(0) // close with a reset
			nc.Close()
		}()
	}
	wg.Wait()
	if !robustAwait(ctx, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.conns) == 0
	}) {
		n, stacks := brokerGoroutines()
		t.Fatalf("broker still holds connections after the clients reset them; %d goroutines:\n%s", n, stacks)
	}

	// Connections that pipeline fetches of 1 MiB but never read: their
	// writers block on full socket buffers, their readers on the reply
	// queue.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		r := &kgo.Record{Topic: "leak", Partition: 0, Value: make([]byte, 256<<10)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	bigFetch := kmsg.NewPtrFetchRequest()
	bigFetch.SetVersion(11)
	bigFetch.MaxBytes = 1 << 20
	{
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "leak"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		bigFetch.Topics = append(bigFetch.Topics, ft)
	}
	for range 4 {
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		go func() {
			frame := robustEncode(bigFetch, 1)
			for {
				if _, err := nc.Write(frame); err != nil {
					return
				}
			}
		}()
	}
	if !robustAwait(ctx, func() bool { return blockedWriters() >= 4 }) {
		n, stacks := brokerGoroutines()
		t.Fatalf("connection writers never blocked on the clients that do not read; %d goroutines:\n%s", n, stacks)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-ctx.Done():
		n, stacks := brokerGoroutines()
		t.Fatalf("Close did not return; %d broker goroutines:\n%s", n, stacks)
	}
	if n, stacks := brokerGoroutines(); n > 0 {
		t.Fatalf("%d broker goroutines outlive Close:\n%s", n, stacks)
	}
	if !robustAwait(ctx, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}

// robustBatch encodes one uncompressed v2 record batch with kmsg.
func robustBatch(values ...[]byte) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.Value = v
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the zero Length took one byte
		recs = r.AppendTo(recs)
	}
	batch := kmsg.NewRecordBatch()
	batch.Magic = 2
	batch.PartitionLeaderEpoch = -1
	batch.LastOffsetDelta = int32(len(values) - 1)
	batch.NumRecords = int32(len(values))
	batch.ProducerID = -1
	batch.ProducerEpoch = -1
	batch.FirstSequence = -1
	batch.Records = recs
	raw := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// TestPartitionCreationDoesNotStallOtherClients grows a topic by a few
// hundred partitions and, while the broker is still creating their logs,
// has another client produce and consume on a different topic. Creating a
// partition costs several fsyncs (segment, index, directory, recovery
// point), so a large CreatePartitions or CreateTopics takes seconds to
// minutes. FuzzRequestFrame found a CreatePartitions of 12,291 partitions
// that took 78 s, during which no other client could produce, fetch or
// read metadata: topicRegistry.create and addPartitions held the
// registry's write lock across every openPartition (fixed in "broker:
// create, grow and delete topics without holding the registry lock across
// file I/O").
func TestPartitionCreationDoesNotStallOtherClients(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	crashCreateTopic(t, ctx, b.Addr(), "busy", 1)
	crashCreateTopic(t, ctx, b.Addr(), "grow", 1)
	rt := newRobustRoundTripper(t, b.Addr(), "busy")
	if err := rt.once(ctx); err != nil { // connections and metadata in place
		t.Fatal(err)
	}

	const total = 400
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.SetVersion(3)
	req.TimeoutMillis = 120000
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = "grow", total
	req.Topics = append(req.Topics, ct)
	nc := robustDial(t, b.Addr())
	nc.SetDeadline(time.Now().Add(2 * time.Minute))
	created := make(chan error, 1)
	go func() {
		if _, err := nc.Write(robustEncode(req, 1)); err != nil {
			created <- err
			return
		}
		var size [4]byte
		_, err := io.ReadFull(nc, size[:])
		created <- err
	}()
	growDirs := func() int {
		m, _ := filepath.Glob(filepath.Join(b.cfg.DataDir, "grow-*"))
		return len(m)
	}
	if !robustAwait(ctx, func() bool { return growDirs() > 10 }) {
		t.Fatal("the broker never started creating partitions")
	}
	select {
	case err := <-created:
		t.Fatalf("CreatePartitions of %d partitions finished (%v) before the check could run", total, err)
	default:
	}

	if err := rt.once(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-created:
		t.Fatalf("a produce and fetch on another topic waited until CreatePartitions had finished (%v): "+
			"partition logs are opened under the topic registry's write lock", err)
	default:
		t.Logf("round trip done while %d of %d partition directories existed", growDirs(), total)
	}
	if err := <-created; err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
}
