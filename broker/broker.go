package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/eddy-streams/eddy/broker/storage"
)

// Broker is a running single-node Kafka-compatible broker. It is safe for
// concurrent use; Close stops it.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	dataLock  *os.File    // holds the data directory's lock (lockDataDir) until Close
	listeners []*listener // listener.go; the first is Addr's
	clusterID string

	// Security (docs/security.md): SASL credentials (scram.go), the ACL
	// authorizer (acl.go; nil when none is configured, so nothing is
	// checked) and the rules that name TLS client certificates.
	creds          *credentialStore
	authz          *authorizer
	principalRules principalRules

	topics   *topicRegistry
	sessions *fetchSessions
	groups   *groupCoordinator
	txns     *txnCoordinator
	cleaner  *cleaner // retention and compaction (cleaner.go)

	producerIDs *producerIDs

	metrics *metrics     // Prometheus metrics (metrics.go)
	httpLn  net.Listener // Config.HTTPListen's listener, or nil (http.go)

	// ctx is cancelled by Close; every goroutine the broker starts
	// watches it and is counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards conns and closed.
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
}

// Start opens the data directory (recovering any partition logs left by an
// unclean stop), binds the listener and starts serving. The broker runs
// until Close is called; ctx only bounds start-up.
func Start(ctx context.Context, cfg Config) (_ *Broker, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	listeners, err := cfg.effectiveListeners()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: create data dir: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// undo holds what a failed start must release, last first.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { lock.Close() })
	b := &Broker{
		cfg:      cfg,
		log:      cfg.Logger,
		conns:    make(map[*conn]struct{}),
		dataLock: lock,
	}
	b.metrics = newMetrics(b)
	b.clusterID, err = loadOrCreateMeta(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	b.topics, err = openTopicRegistry(cfg.DataDir, b.logOptions(), b.log)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { b.topics.close() })
	b.topics.setOnChange(b.applyLogConfig)
	b.cleaner = newCleaner()
	b.sessions = newFetchSessions(cfg.FetchSessionCacheSlots)
	if b.producerIDs, err = openProducerIDs(cfg.DataDir); err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	undo = append(undo, b.cancel)
	b.groups = newGroupCoordinator(b)
	if err := b.groups.load(); err != nil {
		return nil, fmt.Errorf("broker: load consumer groups: %w", err)
	}
	undo = append(undo, b.groups.stop)
	b.txns = newTxnCoordinator(b)
	if err := b.txns.load(ctx); err != nil {
		return nil, fmt.Errorf("broker: load transactions: %w", err)
	}
	if err := b.openSecurity(listeners); err != nil {
		return nil, err
	}
	if err := b.bindListeners(ctx, listeners); err != nil {
		return nil, err
	}
	if err := b.startHTTP(ctx); err != nil {
		b.closeListeners()
		return nil, err
	}
	b.wg.Add(1)
	go b.runCleaner()
	for _, l := range b.listeners {
		b.wg.Add(1)
		go b.acceptLoop(l)
	}
	b.goTracked(b.txns.run)
	b.log.Info("broker started",
		"listen", b.Addr(),
		"advertised", b.listeners[0].advertisedAddr(),
		"listeners", len(b.listeners),
		"data_dir", cfg.DataDir,
		"node_id", cfg.NodeID,
		"cluster_id", b.clusterID,
		"topics", b.topics.count(),
		"startup", time.Since(start).Round(time.Microsecond))
	return b, nil
}

// Addr is the address the broker listens on, e.g. "127.0.0.1:41234"; with
// several listeners, the first one's (see ListenerAddr).
func (b *Broker) Addr() string { return b.listeners[0].ln.Addr().String() }

// ClusterID is the cluster id persisted in the data directory.
func (b *Broker) ClusterID() string { return b.clusterID }

// Close stops accepting connections, closes every open connection, waits
// for the broker's goroutines to finish and then closes the partition logs,
// which fsyncs them and marks them cleanly shut down.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for c := range b.conns {
		c.nc.Close()
	}
	b.mu.Unlock()

	b.cancel()
	b.closeListeners()
	b.groups.stop()
	b.wg.Wait()
	err := b.topics.close()
	b.dataLock.Close() // after the logs: the next broker may open them now
	b.log.Info("broker stopped", "listen", b.Addr())
	return err
}

func (b *Broker) acceptLoop(l *listener) {
	defer b.wg.Done()
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures such as EMFILE: back off rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-b.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		c := newConn(b, nc, l)
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			nc.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.wg.Done()
			c.serve()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}

// logOptions are the storage options every partition log gets.
func (b *Broker) logOptions() storage.Options {
	return storage.Options{SegmentBytes: b.cfg.SegmentBytes, Now: b.cfg.Now, CleanerHook: cleanerHook}
}

// goTracked runs f in a goroutine counted in the broker's WaitGroup, unless
// the broker is closing; f's context is cancelled by Close.
func (b *Broker) goTracked(f func(ctx context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f(b.ctx)
	}()
}
