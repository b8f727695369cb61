// Package http provides an HTTP source, which receives webhooks, and an
// HTTP sink, which POSTs batches of records to an endpoint.
//
// Source (connector.class=HttpSource): listens on http.listen and turns
// each request body sent to http.path into a record on topic. A JSON body
// (Content-Type application/json) becomes a structured value, any other
// body a string; the X-Record-Key header, when present, is the key; other
// X-Header-NAME headers become record headers. The request is answered
// 200 only after the record was acknowledged by the broker, so a sender
// that retries on errors loses nothing; 503 while the connector is paused
// or stopping. Webhooks cannot be replayed, so the source keeps no offsets.
//
//	connector.class=HttpSource
//	http.listen=127.0.0.1:8090
//	http.path=/webhook
//	topic=webhooks
//
// Sink (connector.class=HttpSink): buffers records and, on every flush or
// once batch.max.size records are waiting, sends them as one JSON array
// (the values) with request.method to http.api.url. 5xx, 429 and network
// errors are retried max.retries times with retry.backoff.ms doubling;
// then, and for other 4xx answers, the batch fails the task — or, with
// errors.tolerance=all, goes record by record to the dead-letter topic.
//
//	connector.class=HttpSink
//	topics=orders
//	http.api.url=https://example.com/ingest
//	headers=Authorization:Bearer xyz|X-Source:eddy
//
// Importing the package registers both connectors.
package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

// Classes of the two connectors.
const (
	SourceClass = "io.eddystreams.connect.http.HttpSourceConnector"
	SinkClass   = "io.eddystreams.connect.http.HttpSinkConnector"
)

// SourceConfig defines the source's settings.
var SourceConfig = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "http.listen", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "host:port to receive webhooks on."}).
	Define(connectors.ConfigKey{Name: "http.path", Type: connectors.String, Default: "/", Importance: connectors.Medium,
		Doc: "Path accepting requests (POST or PUT)."}).
	Define(connectors.ConfigKey{Name: "topic", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "Topic to write the received bodies to."})

// SinkConfig defines the sink's settings.
var SinkConfig = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "http.api.url", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "URL to send batches to."}).
	Define(connectors.ConfigKey{Name: "request.method", Type: connectors.String, Default: "POST", Importance: connectors.Medium,
		Validate: connectors.OneOf("POST", "PUT", "PATCH"), Doc: "HTTP method."}).
	Define(connectors.ConfigKey{Name: "headers", Type: connectors.String, Importance: connectors.Low,
		Doc: "Request headers, NAME:VALUE separated by |."}).
	Define(connectors.ConfigKey{Name: "batch.max.size", Type: connectors.Int, Default: "500", Importance: connectors.Medium,
		Validate: connectors.AtLeast(1), Doc: "Most records per request."}).
	Define(connectors.ConfigKey{Name: "max.retries", Type: connectors.Int, Default: "5", Importance: connectors.Medium,
		Validate: connectors.AtLeast(0), Doc: "Retries of a request that failed transiently."}).
	Define(connectors.ConfigKey{Name: "retry.backoff.ms", Type: connectors.Long, Default: "100", Importance: connectors.Medium,
		Validate: connectors.AtLeast(0), Doc: "First wait between retries; doubles each time."}).
	Define(connectors.ConfigKey{Name: "request.timeout.ms", Type: connectors.Long, Default: "30000", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "Timeout of one request."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: SourceClass, Aliases: []string{"HttpSource"}, Type: connectors.TypeSource, Config: SourceConfig,
		NewConnector: func() connectors.Connector { return oneTask{} }, NewSourceTask: func() connectors.SourceTask { return &SourceTask{} },
	})
	connectors.Register(&connectors.Plugin{
		Class: SinkClass, Aliases: []string{"HttpSink"}, Type: connectors.TypeSink, Config: SinkConfig,
		NewConnector: func() connectors.Connector { return oneTask{} }, NewSinkTask: func() connectors.SinkTask { return &SinkTask{} },
	})
}

type oneTask struct{}

func (oneTask) Start(context.Context, connectors.Config) error { return nil }
func (oneTask) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{}}, nil
}
func (oneTask) Stop() error { return nil }

// webhook is one request waiting to be acknowledged.
type webhook struct {
	rec  connectors.SourceRecord
	done chan struct{} // closed once acknowledged
}

// SourceTask serves webhooks.
type SourceTask struct {
	topic  string
	srv    *nethttp.Server
	in     chan *webhook
	mu     sync.Mutex
	polled []*webhook // handed out by the last Poll, waiting for Ack
	closed chan struct{}
}

func (t *SourceTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.topic = cfg.String("topic")
	t.in = make(chan *webhook)
	t.closed = make(chan struct{})
	ln, err := net.Listen("tcp", cfg.String("http.listen"))
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	mux := nethttp.NewServeMux()
	mux.HandleFunc(cfg.String("http.path"), t.serve)
	t.srv = &nethttp.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go t.srv.Serve(ln)
	return nil
}

func (t *SourceTask) serve(rw nethttp.ResponseWriter, r *nethttp.Request) {
	if r.Method != nethttp.MethodPost && r.Method != nethttp.MethodPut {
		nethttp.Error(rw, "use POST or PUT", nethttp.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(nethttp.MaxBytesReader(rw, r.Body, 1<<20))
	if err != nil {
		nethttp.Error(rw, err.Error(), nethttp.StatusRequestEntityTooLarge)
		return
	}
	rec := connectors.SourceRecord{Record: connectors.Record{Topic: t.topic, Value: string(body), Timestamp: time.Now()}}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var v any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			nethttp.Error(rw, "body is not JSON: "+err.Error(), nethttp.StatusBadRequest)
			return
		}
		rec.Value = connectors.JSONNumbers(v)
	}
	if k := r.Header.Get("X-Record-Key"); k != "" {
		rec.Key = k
	}
	for name, vs := range r.Header {
		if h, ok := strings.CutPrefix(name, "X-Header-"); ok {
			for _, v := range vs {
				rec.Headers = append(rec.Headers, connectors.Header{Key: h, Value: []byte(v)})
			}
		}
	}
	w := &webhook{rec: rec, done: make(chan struct{})}
	select {
	case t.in <- w:
	case <-t.closed:
		nethttp.Error(rw, "connector stopping", nethttp.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		return
	case <-time.After(5 * time.Second): // paused: nobody polls
		nethttp.Error(rw, "connector paused", nethttp.StatusServiceUnavailable)
		return
	}
	select {
	case <-w.done:
		rw.WriteHeader(nethttp.StatusOK)
	case <-t.closed:
		nethttp.Error(rw, "connector stopping; the record may or may not be stored", nethttp.StatusServiceUnavailable)
	}
}

func (t *SourceTask) Poll(ctx context.Context) ([]connectors.SourceRecord, error) {
	var batch []*webhook
	timer := time.NewTimer(500 * time.Millisecond)
	defer timer.Stop()
	select {
	case w := <-t.in:
		batch = append(batch, w)
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	}
	for len(batch) < 500 {
		select {
		case w := <-t.in:
			batch = append(batch, w)
			continue
		default:
		}
		break
	}
	t.mu.Lock()
	t.polled = batch
	t.mu.Unlock()
	recs := make([]connectors.SourceRecord, len(batch))
	for i, w := range batch {
		recs[i] = w.rec
	}
	return recs, nil
}

// Ack answers the requests of the last Poll.
func (t *SourceTask) Ack([]connectors.SourceRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.polled {
		close(w.done)
	}
	t.polled = nil
}

func (t *SourceTask) Stop() error {
	close(t.closed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.srv.Shutdown(ctx)
}

// SinkTask sends records to an HTTP endpoint in batches.
type SinkTask struct {
	url, method string
	headers     nethttp.Header
	batchMax    int
	retries     int
	backoff     time.Duration
	client      *nethttp.Client
	tc          *connectors.TaskContext
	buf         []connectors.Record
}

func (t *SinkTask) Start(ctx context.Context, cfg connectors.Config, tc *connectors.TaskContext) error {
	t.url, t.method = cfg.String("http.api.url"), strings.ToUpper(cfg.String("request.method"))
	t.headers = nethttp.Header{"Content-Type": {"application/json"}}
	for _, h := range strings.Split(cfg.String("headers"), "|") {
		if k, v, ok := strings.Cut(h, ":"); ok {
			t.headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	t.batchMax, t.retries, t.backoff = cfg.Int("batch.max.size"), cfg.Int("max.retries"), cfg.Millis("retry.backoff.ms")
	t.client = &nethttp.Client{Timeout: cfg.Millis("request.timeout.ms")}
	t.tc = tc
	return nil
}

func (t *SinkTask) Put(ctx context.Context, records []connectors.Record) error {
	t.buf = append(t.buf, records...)
	for len(t.buf) >= t.batchMax {
		if err := t.send(ctx, t.buf[:t.batchMax]); err != nil {
			return err
		}
		t.buf = t.buf[t.batchMax:]
	}
	return nil
}

func (t *SinkTask) Flush(ctx context.Context) error {
	for len(t.buf) > 0 {
		n := min(len(t.buf), t.batchMax)
		if err := t.send(ctx, t.buf[:n]); err != nil {
			return err
		}
		t.buf = t.buf[n:]
	}
	return nil
}

// errPermanent marks an answer retrying will not change.
var errPermanent = errors.New("permanent")

// send delivers one batch, retrying transient failures; a batch that
// cannot be delivered goes to the error handler record by record.
func (t *SinkTask) send(ctx context.Context, batch []connectors.Record) error {
	values := make([]any, len(batch))
	for i, r := range batch {
		values[i] = r.Value
	}
	body, err := json.Marshal(values)
	if err != nil {
		return err
	}
	delay := t.backoff
	for attempt := 0; ; attempt++ {
		err = t.post(ctx, body)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) || attempt >= t.retries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay *= 2
	}
	for _, r := range batch {
		if rerr := t.tc.Report(ctx, r, err); rerr != nil {
			return fmt.Errorf("sending to %s: %w", t.url, err)
		}
	}
	return nil
}

func (t *SinkTask) post(ctx context.Context, body []byte) error {
	req, err := nethttp.NewRequestWithContext(ctx, t.method, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header = t.headers.Clone()
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == nethttp.StatusTooManyRequests:
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%w: HTTP %d: %s", errPermanent, resp.StatusCode, bytes.TrimSpace(msg))
	}
}

func (t *SinkTask) Stop() error { return nil }
