package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The broker's HTTP listener (Config.HTTPListen) is separate from the Kafka
// listener. It serves /metrics, and Config.HTTPHandler (the web console,
// with "eddy broker --http") on every other path. A program that runs its
// own HTTP server mounts MetricsHandler instead.

// Metrics is the broker's metrics registry as a Gatherer, for a program
// that serves them together with its own, e.g. with
// promhttp.HandlerFor(prometheus.Gatherers{b.Metrics(), myRegistry}, ...).
func (b *Broker) Metrics() prometheus.Gatherer { return b.metrics.reg }

// MetricsHandler serves the broker's metrics in the Prometheus exposition
// format (text, or protobuf/OpenMetrics when the scraper asks). The metrics
// are on a registry of this broker's own, not the global one.
func (b *Broker) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelError),
		Registry:          b.metrics.reg, // counts promhttp's own scrapes and errors
		EnableOpenMetrics: true,
	})
}

// HTTPAddr is the address the HTTP listener is bound to, or "" if
// Config.HTTPListen is unset.
func (b *Broker) HTTPAddr() string {
	if b.httpLn == nil {
		return ""
	}
	return b.httpLn.Addr().String()
}

// startHTTP binds Config.HTTPListen, if set, and serves it until Close.
func (b *Broker) startHTTP(ctx context.Context) error {
	if b.cfg.HTTPListen == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("broker: HTTP listen on %s: %w", b.cfg.HTTPListen, err)
	}
	b.httpLn = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", b.MetricsHandler())
	if h := b.cfg.HTTPHandler; h != nil {
		mux.Handle("/", h)
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "Eddy broker %s (cluster %s)\n\n/metrics  Prometheus metrics\n", b.Addr(), b.clusterID)
		})
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("HTTP listener failed", "listen", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		<-b.ctx.Done()
		srv.Close()
	}()
	b.log.Info("serving HTTP", "listen", ln.Addr().String(), "metrics", "http://"+ln.Addr().String()+"/metrics")
	return nil
}
