package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Log levels per logger, changed at run time through the REST API as in
// Kafka Connect (KIP-495): GET /admin/loggers, GET and PUT
// /admin/loggers/{name}. Kafka's loggers are Java class names; a worker's
// are:
//
//	root                           everything not set otherwise
//	eddy.connect.runtime           the worker itself
//	eddy.connect.connector.NAME    the tasks of connector NAME
//
// Setting a logger sets its descendants too (PUT
// /admin/loggers/eddy.connect sets every one of them), as Kafka does.
// With ?scope=cluster (KIP-976) the level goes through the configs topic
// to every worker of the cluster, and to workers that start later.
// Levels are Kafka's (log4j) names mapped onto slog's: TRACE (debug-4),
// DEBUG, INFO, WARN, ERROR, FATAL (error+4) and OFF. A level set here
// overrides the level of WorkerConfig.Logger's handler, for this worker.
const (
	LoggerRoot          = "root"
	LoggerRuntime       = "eddy.connect.runtime"
	LoggerConnectorBase = "eddy.connect.connector."
)

var logLevels = []struct {
	name  string
	level slog.Level
}{
	{"TRACE", slog.LevelDebug - 4}, {"DEBUG", slog.LevelDebug}, {"INFO", slog.LevelInfo},
	{"WARN", slog.LevelWarn}, {"ERROR", slog.LevelError}, {"FATAL", slog.LevelError + 4},
	{"OFF", slog.Level(1 << 20)},
}

func parseLevel(s string) (slog.Level, bool) {
	for _, l := range logLevels {
		if strings.EqualFold(s, l.name) {
			return l.level, true
		}
	}
	return 0, false
}

func levelName(lv slog.Level) string {
	name := logLevels[0].name
	for _, l := range logLevels {
		if lv >= l.level {
			name = l.name
		}
	}
	return name
}

// loggerLevels holds the levels set through the API.
type loggerLevels struct {
	inner slog.Handler

	mu       sync.Mutex
	root     slog.Level
	set      map[string]slog.Level // explicitly set, by logger name
	modified map[string]time.Time
}

func newLoggerLevels(inner slog.Handler) *loggerLevels {
	l := &loggerLevels{inner: inner, set: map[string]slog.Level{}, modified: map[string]time.Time{}}
	// The root level starts as the lowest one the handler lets through.
	l.root = slog.LevelError + 4
	for _, lv := range logLevels[:len(logLevels)-1] {
		if inner.Enabled(context.Background(), lv.level) {
			l.root = lv.level
			break
		}
	}
	return l
}

// effective returns name's level: its own, else its nearest ancestor's,
// else root's.
func (l *loggerLevels) effective(name string) slog.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := name; n != ""; {
		if lv, ok := l.set[n]; ok {
			return lv
		}
		i := strings.LastIndex(n, ".")
		if i < 0 {
			break
		}
		n = n[:i]
	}
	return l.root
}

// setLevel sets name and its descendants among known, returning the
// names changed, sorted.
func (l *loggerLevels) setLevel(name string, lv slog.Level, known []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if name == LoggerRoot {
		l.root = lv
		l.modified[LoggerRoot] = now
		for n := range l.set {
			l.set[n] = lv
			l.modified[n] = now
		}
		out := append([]string{LoggerRoot}, known...)
		sort.Strings(out)
		return out
	}
	changed := map[string]bool{name: true}
	for _, n := range known {
		if strings.HasPrefix(n, name+".") {
			changed[n] = true
		}
	}
	for n := range l.set {
		if strings.HasPrefix(n, name+".") {
			changed[n] = true
		}
	}
	out := make([]string, 0, len(changed))
	for n := range changed {
		l.set[n] = lv
		l.modified[n] = now
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (l *loggerLevels) handler(name string) slog.Handler {
	return &levelHandler{inner: l.inner, name: name, levels: l}
}

// levelHandler lets records through by its logger's level and hands them
// to the worker's handler.
type levelHandler struct {
	inner  slog.Handler
	name   string
	levels *loggerLevels
}

func (h *levelHandler) Enabled(_ context.Context, lv slog.Level) bool {
	return lv >= h.levels.effective(h.name)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{inner: h.inner.WithAttrs(as), name: h.name, levels: h.levels}
}

func (h *levelHandler) WithGroup(g string) slog.Handler {
	return &levelHandler{inner: h.inner.WithGroup(g), name: h.name, levels: h.levels}
}

// connectorLogger names the logger of a connector's tasks.
func connectorLogger(name string) string { return LoggerConnectorBase + name }

// LoggerLevel is one logger's level in GET /admin/loggers.
type LoggerLevel struct {
	Level string `json:"level"`
	// LastModified is when the level was last set through the API, in
	// milliseconds since the epoch (KIP-976); absent when never.
	LastModified *int64 `json:"last_modified,omitempty"`
}

// knownLoggers are the loggers of this worker: the runtime and one per
// connector.
func (w *Worker) knownLoggers() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.knownLoggersLocked()
}

// knownLoggersLocked is knownLoggers. REQUIRES: w.mu.
func (w *Worker) knownLoggersLocked() []string {
	names := []string{LoggerRuntime}
	for _, c := range sortedKeys(w.connectors) {
		names = append(names, connectorLogger(c))
	}
	return names
}

// loggerRecordPrefix keys a cluster-wide level in the configs topic
// (KIP-976's key), followed by the logger name.
const loggerRecordPrefix = "logger-cluster-"

// applyLoggerRecord applies a level read from the configs topic.
func (w *Worker) applyLoggerRecord(name string, value []byte, known []string) {
	var v struct {
		Level string `json:"level"`
	}
	if value == nil || json.Unmarshal(value, &v) != nil {
		return
	}
	if lv, ok := parseLevel(v.Level); ok && name != "" {
		w.logs.setLevel(name, lv, known)
	}
}

// Loggers returns the level of every logger of the worker, and of those
// set through the API, by name.
func (w *Worker) Loggers() map[string]LoggerLevel {
	out := map[string]LoggerLevel{}
	names := append(w.knownLoggers(), LoggerRoot)
	w.logs.mu.Lock()
	for n := range w.logs.set {
		names = append(names, n)
	}
	w.logs.mu.Unlock()
	for _, n := range names {
		out[n] = w.loggerLevel(n)
	}
	return out
}

func (w *Worker) loggerLevel(name string) LoggerLevel {
	var lv slog.Level
	if name == LoggerRoot {
		w.logs.mu.Lock()
		lv = w.logs.root
		w.logs.mu.Unlock()
	} else {
		lv = w.logs.effective(name)
	}
	ll := LoggerLevel{Level: levelName(lv)}
	w.logs.mu.Lock()
	if t, ok := w.logs.modified[name]; ok {
		ms := t.UnixMilli()
		ll.LastModified = &ms
	}
	w.logs.mu.Unlock()
	return ll
}

// Logger returns one logger's level; unknown names are ErrNotFound.
func (w *Worker) Logger(name string) (LoggerLevel, error) {
	if _, ok := w.Loggers()[name]; !ok {
		return LoggerLevel{}, newAPIError(ErrNotFound, "Logger %s not found.", name)
	}
	return w.loggerLevel(name), nil
}

// SetLoggerLevel sets a logger's level and its descendants' (PUT
// /admin/loggers/{name}), returning the loggers changed. The level is one
// of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF.
func (w *Worker) SetLoggerLevel(name, level string) ([]string, error) {
	lv, ok := parseLevel(strings.TrimSpace(level))
	if !ok {
		return nil, newAPIError(ErrBadConfig, "Invalid log level '%s'.", level)
	}
	if strings.TrimSpace(name) == "" {
		return nil, newAPIError(ErrBadConfig, "Logger name is required")
	}
	return w.logs.setLevel(name, lv, w.knownLoggers()), nil
}

// SetClusterLoggerLevel sets a logger's level on every worker of the
// cluster (PUT /admin/loggers/{name}?scope=cluster, KIP-976): the level is
// written to the configs topic, which every worker of the group follows
// and which workers read when they start. In standalone mode it applies
// here at once (and again after a restart).
func (w *Worker) SetClusterLoggerLevel(name, level string) error {
	if _, ok := parseLevel(strings.TrimSpace(level)); !ok {
		return newAPIError(ErrBadConfig, "Invalid log level '%s'.", level)
	}
	if strings.TrimSpace(name) == "" {
		return newAPIError(ErrBadConfig, "Logger name is required")
	}
	value := mustJSON(map[string]string{"level": strings.ToUpper(strings.TrimSpace(level))})
	if err := write(w.producer, w.cfg.ConfigTopic, loggerRecordPrefix+name, value); err != nil {
		return fmt.Errorf("writing the level of %s to %s: %w", name, w.cfg.ConfigTopic, err)
	}
	if w.dist == nil {
		w.applyLoggerRecord(name, value, w.knownLoggers())
	}
	return nil
}

func (w *Worker) getLoggers(rw http.ResponseWriter, r *http.Request) {
	writeJSON(rw, http.StatusOK, w.Loggers())
}

func (w *Worker) getLogger(rw http.ResponseWriter, r *http.Request) {
	ll, err := w.Logger(r.PathValue("name"))
	reply(rw, http.StatusOK, ll, err)
}

func (w *Worker) putLogger(rw http.ResponseWriter, r *http.Request) {
	var body struct {
		Level string `json:"level"`
	}
	if !decodeBody(rw, r, &body) {
		return
	}
	if body.Level == "" {
		reply(rw, 0, nil, badRequest("Desired 'level' parameter was not specified in request."))
		return
	}
	switch scope := r.URL.Query().Get("scope"); strings.ToLower(scope) {
	case "", "worker":
	case "cluster":
		reply(rw, http.StatusNoContent, nil, w.SetClusterLoggerLevel(r.PathValue("name"), body.Level))
		return
	default:
		reply(rw, 0, nil, badRequest("Invalid scope '%s'; must be 'worker' or 'cluster'", scope))
		return
	}
	changed, err := w.SetLoggerLevel(r.PathValue("name"), body.Level)
	reply(rw, http.StatusOK, changed, err)
}
