// Package console is Eddy's web console: a small web application that shows
// a Kafka cluster's topics (partitions, offsets, record counts, sizes and
// live throughput), browses their records, lists consumer groups with their
// lag, manages Kafka Connect connectors and draws the topologies of Eddy
// streams apps.
//
// It talks to the cluster only through the Kafka protocol (franz-go), so it
// works against Eddy's broker and against Apache Kafka or Redpanda alike,
// and to connectors through Kafka Connect's REST API. Its pages are plain
// HTML, CSS and JavaScript embedded in the binary: it needs no internet and
// no build step.
//
// A Console is an http.Handler. Mount it at the root of a server, or under a
// prefix with http.StripPrefix (the pages use relative URLs):
//
//	c, err := console.New(console.Config{Brokers: []string{"127.0.0.1:9092"}})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	http.ListenAndServe("127.0.0.1:8080", c)
//
// The JSON API under /api/ that the pages use is documented on Console.
//
// The console has no authentication: anyone who can reach it can read every
// record and pause, resume or restart connectors. Serve it on a loopback or
// otherwise trusted address. Requests that change something must carry the
// header X-Eddy-Console: 1 (the pages send it), so that another web site
// cannot make a visitor's browser send them.
package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Console. Brokers is required; everything else has a
// default.
type Config struct {
	// Brokers are the host:port addresses to bootstrap from.
	Brokers []string
	// ConnectURL is the base URL of a Kafka Connect REST API (Eddy's
	// "eddy connect" or Apache Kafka Connect), e.g. http://127.0.0.1:8083.
	// Empty: the connectors page says none is configured.
	ConnectURL string
	// ClientOpts are added to the franz-go client options, e.g. kgo.DialTLSConfig
	// or kgo.SASL for a secured cluster.
	ClientOpts []kgo.Opt
	// Logger receives the console's errors; default slog.Default().
	Logger *slog.Logger
	// SampleInterval is how often the end offsets of every topic are sampled
	// to compute throughput; default 5s.
	SampleInterval time.Duration
	// History is how much throughput history is kept; default 5 minutes.
	History time.Duration
	// RequestTimeout bounds each call to the cluster or to Connect; default 10s.
	RequestTimeout time.Duration
	// HTTPClient is used for the Connect REST API; default a client with
	// RequestTimeout.
	HTTPClient *http.Client
}

// StreamsAppsTopic is the compacted topic Eddy streams apps describe
// themselves in: key the application id, value the JSON of StreamsApp.
const StreamsAppsTopic = "__eddy_streams_apps"

// Console serves the web console and its JSON API. Create it with New,
// stop it with Close.
//
// The JSON API (all answers are JSON; errors are {"error":"..."} with a 4xx
// or 5xx status):
//
//	GET  api/overview                       cluster id, brokers, totals
//	GET  api/topics[?internal=true]         topics with offsets, records, sizes, rates
//	GET  api/topics/{topic}                 partitions and non-default settings
//	GET  api/topics/{topic}/records?partition=P&from=beginning|end|offset|timestamp&offset=N&timestamp=MS&limit=N
//	GET  api/throughput[?topic=T]           records/s history per topic
//	GET  api/groups                         consumer groups with state and total lag
//	GET  api/groups/{group}                 members and lag per partition
//	GET  api/connectors                     connectors with connector and task states
//	POST api/connectors/{name}/pause|resume|restart
//	GET  api/streams                        registered streams apps, topology and lag
type Console struct {
	cfg    Config
	log    *slog.Logger
	cl     *kgo.Client
	adm    *kadm.Client
	mux    *http.ServeMux
	httpc  *http.Client
	tp     *throughput
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New creates a console for the cluster at cfg.Brokers and starts sampling
// its throughput in the background. It does not wait for the cluster: pages
// show an error while it cannot be reached (Ping checks it).
func New(cfg Config) (*Console, error) {
	var seeds []string
	for _, b := range cfg.Brokers {
		for s := range strings.SplitSeq(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				seeds = append(seeds, s)
			}
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("console: no brokers: give the host:port of at least one broker")
	}
	cfg.Brokers = seeds
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = 5 * time.Second
	}
	if cfg.History <= 0 {
		cfg.History = 5 * time.Minute
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	cfg.ConnectURL = strings.TrimRight(strings.TrimSpace(cfg.ConnectURL), "/")
	if cfg.ConnectURL != "" && !strings.HasPrefix(cfg.ConnectURL, "http://") && !strings.HasPrefix(cfg.ConnectURL, "https://") {
		return nil, fmt.Errorf("console: Connect URL %q: want http://HOST:PORT or https://HOST:PORT", cfg.ConnectURL)
	}
	httpc := cfg.HTTPClient
	if httpc == nil {
		httpc = &http.Client{Timeout: cfg.RequestTimeout}
	}
	// kadm answers from cached metadata up to MetadataMinAge old; a console
	// should show a new topic at the next refresh.
	cl, err := kgo.NewClient(cfg.clientOpts(kgo.MetadataMinAge(250 * time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("console: client for %s: %w", strings.Join(seeds, ","), err)
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(cfg.RequestTimeout.Milliseconds()))
	ctx, cancel := context.WithCancel(context.Background())
	c := &Console{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "console"),
		cl:     cl,
		adm:    adm,
		httpc:  httpc,
		tp:     newThroughput(cfg.History),
		cancel: cancel,
	}
	c.routes()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.sample(ctx)
	}()
	return c, nil
}

// clientOpts are the options of every client the console creates.
func (cfg Config) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("eddy-console"),
		kgo.RequestTimeoutOverhead(cfg.RequestTimeout),
		kgo.RetryTimeout(cfg.RequestTimeout),
	}
	opts = append(opts, cfg.ClientOpts...)
	return append(opts, extra...)
}

// Close stops the background sampling and closes the console's clients.
// Requests still being served get errors.
func (c *Console) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.cl.Close()
	})
	return nil
}

// Ping asks the cluster for its metadata and explains, in the error, what
// to do when it cannot be reached.
func (c *Console) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	if _, err := c.adm.BrokerMetadata(ctx); err != nil {
		return c.reachErr(ctx, err)
	}
	return nil
}

// reachErr says which cluster did not answer and what to check.
func (c *Console) reachErr(ctx context.Context, err error) error {
	brokers := strings.Join(c.cfg.Brokers, ",")
	var ke *kerr.Error
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ke):
		return fmt.Errorf("the Kafka cluster at %s refused the console (check its credentials and permissions): %w", brokers, err)
	case errors.As(err, &cv):
		return fmt.Errorf("the Kafka cluster at %s has a certificate the console does not trust (check the CA): %w", brokers, err)
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer from the Kafka cluster at %s within %s (is a broker running there? check the broker addresses): %w",
			brokers, c.cfg.RequestTimeout, err)
	}
	return fmt.Errorf("cannot reach the Kafka cluster at %s (is a broker running there? check the broker addresses): %w", brokers, err)
}

// ServeHTTP serves the pages and the JSON API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	mux := http.NewServeMux()
	pages, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	static, err := fs.Sub(pages, "static")
	if err != nil {
		panic(err)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, pages, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static", noCache(http.FileServerFS(static))))
	mux.HandleFunc("GET /api/overview", c.api(c.overview))
	mux.HandleFunc("GET /api/topics", c.api(c.topics))
	mux.HandleFunc("GET /api/topics/{topic}", c.api(c.topic))
	mux.HandleFunc("GET /api/topics/{topic}/records", c.api(c.records))
	mux.HandleFunc("GET /api/throughput", c.api(c.throughputAPI))
	mux.HandleFunc("GET /api/groups", c.api(c.groups))
	mux.HandleFunc("GET /api/groups/{group}", c.api(c.group))
	mux.HandleFunc("GET /api/connectors", c.api(c.connectors))
	mux.HandleFunc("POST /api/connectors/{name}/{action}", c.api(c.connectorAction))
	mux.HandleFunc("GET /api/streams", c.api(c.streamsApps))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no such API: %s %s", r.Method, r.URL.Path)})
	})
	c.mux = mux
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
