package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Handler returns the worker's REST API, Kafka Connect's paths and
// payloads:
//
//	GET    /                                     worker version
//	GET    /connectors[?expand=status|info]      names (or expanded)
//	POST   /connectors                           {"name":..,"config":{..}} → 201
//	GET    /connectors/{name}                    info
//	DELETE /connectors/{name}                    204
//	GET    /connectors/{name}/config
//	PUT    /connectors/{name}/config             create (201) or update (200)
//	PATCH  /connectors/{name}/config             change some settings; null removes one (KIP-477)
//	GET    /connectors/{name}/status
//	GET    /connectors/{name}/tasks
//	GET    /connectors/{name}/tasks/{id}/status
//	POST   /connectors/{name}/tasks/{id}/restart 204
//	GET    /connectors/{name}/topics
//	PUT    /connectors/{name}/pause              202
//	PUT    /connectors/{name}/resume             202
//	PUT    /connectors/{name}/stop               202
//	POST   /connectors/{name}/restart[?includeTasks=&onlyFailed=]  204, or 202 with status
//	GET    /connectors/{name}/offsets
//	PATCH  /connectors/{name}/offsets            alter (connector must be STOPPED)
//	DELETE /connectors/{name}/offsets            reset (connector must be STOPPED)
//	GET    /connector-plugins[?connectorsOnly=]
//	GET    /connector-plugins/{class}/config
//	PUT    /connector-plugins/{class}/config/validate
//	GET    /admin/loggers                        log levels (KIP-495)
//	GET    /admin/loggers/{name}
//	PUT    /admin/loggers/{name}[?scope=worker|cluster]  {"level":"DEBUG"}
//	GET    /metrics                              Prometheus metrics (an addition to Kafka Connect's API)
//
// Errors are {"error_code":N,"message":"..."} with N the HTTP status.
//
// In distributed mode, with WorkerConfig.RESTURL set on the workers, the
// requests that change connectors (create, config, delete, stop, restarts,
// offsets) are forwarded to the group's leader when they arrive elsewhere
// (with ?forward=false, so they are not forwarded again), as in Kafka
// Connect.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", w.getRoot)
	mux.HandleFunc("GET /connectors", w.listConnectors)
	mux.HandleFunc("POST /connectors", w.forwarded(w.postConnector))
	mux.HandleFunc("GET /connectors/{name}", w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		info, err := w.Connector(name)
		reply(rw, http.StatusOK, info, err)
	}))
	mux.HandleFunc("DELETE /connectors/{name}", w.forwarded(w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		reply(rw, http.StatusNoContent, nil, w.DeleteConnector(name))
	})))
	mux.HandleFunc("GET /connectors/{name}/config", w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		cfg, err := w.Config(name)
		reply(rw, http.StatusOK, cfg, err)
	}))
	mux.HandleFunc("PUT /connectors/{name}/config", w.forwarded(w.putConfig))
	mux.HandleFunc("PATCH /connectors/{name}/config", w.forwarded(w.patchConfig))
	mux.HandleFunc("GET /connectors/{name}/status", w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		st, err := w.Status(name)
		reply(rw, http.StatusOK, st, err)
	}))
	mux.HandleFunc("GET /connectors/{name}/tasks", w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		ts, err := w.Tasks(name)
		reply(rw, http.StatusOK, ts, err)
	}))
	mux.HandleFunc("GET /connectors/{name}/tasks/{id}/status", w.withTask(func(rw http.ResponseWriter, name string, id int) {
		st, err := w.TaskStatus(name, id)
		reply(rw, http.StatusOK, st, err)
	}))
	mux.HandleFunc("POST /connectors/{name}/tasks/{id}/restart", w.forwarded(w.withTask(func(rw http.ResponseWriter, name string, id int) {
		reply(rw, http.StatusNoContent, nil, w.RestartTask(name, id))
	})))
	mux.HandleFunc("GET /connectors/{name}/topics", w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		ts, err := w.ConnectorTopics(name)
		reply(rw, http.StatusOK, map[string]any{name: map[string]any{"topics": ts}}, err)
	}))
	// Pause and resume write the target state from any worker, as in
	// Kafka Connect; the other changes go through the leader.
	for path, op := range map[string]func(string) error{"pause": w.Pause, "resume": w.Resume, "stop": w.Stop} {
		h := w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
			reply(rw, http.StatusAccepted, nil, op(name))
		})
		if path == "stop" {
			h = w.forwarded(h)
		}
		mux.HandleFunc("PUT /connectors/{name}/"+path, h)
	}
	mux.HandleFunc("POST /connectors/{name}/restart", w.forwarded(w.withName(w.postRestart)))
	mux.HandleFunc("GET /connectors/{name}/offsets", w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		offs, err := w.Offsets(name)
		reply(rw, http.StatusOK, map[string]any{"offsets": offs}, err)
	}))
	mux.HandleFunc("PATCH /connectors/{name}/offsets", w.forwarded(w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		var body struct {
			Offsets []struct {
				Partition map[string]any `json:"partition"`
				Offset    map[string]any `json:"offset"`
			} `json:"offsets"`
		}
		if !decodeBody(rw, r, &body) {
			return
		}
		offs := make([]Offset, 0, len(body.Offsets))
		for _, o := range body.Offsets {
			offs = append(offs, Offset{Partition: numbersMap(o.Partition), Offset: numbersMap(o.Offset)})
		}
		reply(rw, http.StatusOK, map[string]string{"message": "The offsets for this connector have been altered successfully"},
			w.AlterOffsets(name, offs))
	})))
	mux.HandleFunc("DELETE /connectors/{name}/offsets", w.forwarded(w.withName(func(rw http.ResponseWriter, r *http.Request, name string) {
		reply(rw, http.StatusOK, map[string]string{"message": "The offsets for this connector have been reset successfully"},
			w.ResetOffsets(name))
	})))
	mux.HandleFunc("GET /connector-plugins", w.listPlugins)
	mux.HandleFunc("GET /connector-plugins/{class}/config", w.pluginConfig)
	mux.HandleFunc("PUT /connector-plugins/{class}/config/validate", w.validate)
	mux.HandleFunc("GET /admin/loggers", w.getLoggers)
	mux.HandleFunc("GET /admin/loggers/{name}", w.getLogger)
	mux.HandleFunc("PUT /admin/loggers/{name}", w.putLogger)
	mux.Handle("GET /metrics", w.MetricsHandler())
	return jsonErrors(mux)
}

// jsonErrors turns the mux's own plain-text 404 and 405 answers into
// Kafka Connect's JSON error payload.
func jsonErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&errorRewriter{ResponseWriter: rw}, r)
	})
}

type errorRewriter struct {
	http.ResponseWriter
	swallow bool
}

func (e *errorRewriter) WriteHeader(code int) {
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		!strings.HasPrefix(e.Header().Get("Content-Type"), "application/json") {
		e.swallow = true
		e.Header().Set("Content-Type", "application/json")
		e.Header().Del("X-Content-Type-Options")
		e.ResponseWriter.WriteHeader(code)
		_ = json.NewEncoder(e.ResponseWriter).Encode(errorBody{code, fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))})
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.swallow {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

type errorBody struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

// reply writes v as JSON with status, or err as Kafka Connect's error.
func reply(rw http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, ErrAlreadyExists):
			code = http.StatusConflict
		case errors.Is(err, ErrBadConfig):
			code = http.StatusBadRequest
		case errors.Is(err, ErrClosed):
			code = http.StatusServiceUnavailable
		}
		writeJSON(rw, code, errorBody{code, err.Error()})
		return
	}
	if v == nil {
		rw.WriteHeader(status)
		return
	}
	writeJSON(rw, status, v)
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

func badRequest(format string, args ...any) error {
	return newAPIError(ErrBadConfig, format, args...)
}

func (w *Worker) withName(f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) { f(rw, r, r.PathValue("name")) }
}

func (w *Worker) withTask(f func(http.ResponseWriter, string, int)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			reply(rw, 0, nil, newAPIError(ErrNotFound, "Task %s-%s not found", r.PathValue("name"), r.PathValue("id")))
			return
		}
		f(rw, r.PathValue("name"), id)
	}
}

func (w *Worker) getRoot(rw http.ResponseWriter, r *http.Request) {
	writeJSON(rw, http.StatusOK, map[string]string{"version": Version, "commit": "eddy", "kafka_cluster_id": "eddy"})
}

func (w *Worker) listConnectors(rw http.ResponseWriter, r *http.Request) {
	names := w.Connectors()
	expand := r.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(rw, http.StatusOK, names)
		return
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		e := map[string]any{}
		for _, x := range expand {
			switch x {
			case "status":
				if st, err := w.Status(n); err == nil {
					e["status"] = st
				}
			case "info":
				if info, err := w.Connector(n); err == nil {
					e["info"] = info
				}
			}
		}
		out[n] = e
	}
	writeJSON(rw, http.StatusOK, out)
}

// decodeBody reads a JSON body into v, answering 400 itself when it can't.
func decodeBody(rw http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20))
	if err := d.Decode(v); err != nil {
		reply(rw, 0, nil, badRequest("Request body is not valid JSON: %v", err))
		return false
	}
	return true
}

// stringMap decodes a config object whose values may be strings, numbers
// or booleans (Kafka Connect accepts them and stores strings).
func stringMap(raw map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(x)
		case nil:
			// Kafka drops null values.
		default:
			return nil, badRequest("Cannot deserialize value of config %q: %T is not a string", k, v)
		}
	}
	return out, nil
}

func (w *Worker) postConnector(rw http.ResponseWriter, r *http.Request) {
	var body struct {
		Name   string         `json:"name"`
		Config map[string]any `json:"config"`
	}
	if !decodeBody(rw, r, &body) {
		return
	}
	cfg, err := stringMap(body.Config)
	if err != nil {
		reply(rw, 0, nil, err)
		return
	}
	if body.Config == nil {
		reply(rw, 0, nil, badRequest("Connector config is required"))
		return
	}
	name := body.Name
	if name == "" {
		name = cfg[ConfigName]
	}
	if strings.Contains(name, "/") {
		reply(rw, 0, nil, badRequest("connector name should not contain '/'"))
		return
	}
	info, _, err := w.CreateConnector(name, cfg, false)
	if err == nil {
		rw.Header().Set("Location", "/connectors/"+name)
	}
	reply(rw, http.StatusCreated, info, err)
}

func (w *Worker) putConfig(rw http.ResponseWriter, r *http.Request) {
	var raw map[string]any
	if !decodeBody(rw, r, &raw) {
		return
	}
	cfg, err := stringMap(raw)
	if err != nil {
		reply(rw, 0, nil, err)
		return
	}
	name := r.PathValue("name")
	info, created, err := w.CreateConnector(name, cfg, true)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		rw.Header().Set("Location", "/connectors/"+name)
	}
	reply(rw, status, info, err)
}

func (w *Worker) patchConfig(rw http.ResponseWriter, r *http.Request) {
	var raw map[string]any
	if !decodeBody(rw, r, &raw) {
		return
	}
	set := map[string]any{}
	var remove []string
	for k, v := range raw {
		if v == nil {
			remove = append(remove, k)
		} else {
			set[k] = v
		}
	}
	cfg, err := stringMap(set)
	if err != nil {
		reply(rw, 0, nil, err)
		return
	}
	info, err := w.PatchConfig(r.PathValue("name"), cfg, remove)
	reply(rw, http.StatusOK, info, err)
}

// numbersMap turns JSON's float64 integers into int64, as offsets read
// from the offsets topic have them.
func numbersMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	for k, v := range m {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			m[k] = int64(f)
		}
	}
	return m
}

func (w *Worker) postRestart(rw http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	includeTasks, onlyFailed := q.Get("includeTasks") == "true", q.Get("onlyFailed") == "true"
	if err := w.Restart(name, includeTasks, onlyFailed); err != nil {
		reply(rw, 0, nil, err)
		return
	}
	if !includeTasks && !onlyFailed {
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	st, err := w.Status(name)
	reply(rw, http.StatusAccepted, st, err)
}

type pluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

func (w *Worker) listPlugins(rw http.ResponseWriter, r *http.Request) {
	out := []pluginInfo{}
	for _, p := range w.cfg.Plugins.List() {
		out = append(out, pluginInfo{p.Class, string(p.Type), p.Version})
	}
	if r.URL.Query().Get("connectorsOnly") == "false" {
		var extra []string
		for c := range transformClasses {
			if strings.HasPrefix(c, smtPkg) {
				extra = append(extra, c)
			}
		}
		sort.Strings(extra)
		for _, c := range extra {
			out = append(out, pluginInfo{c, "transformation", Version})
		}
		for _, c := range sortedKeys(predicateClasses) {
			if strings.HasPrefix(c, smtPkg) {
				out = append(out, pluginInfo{c, "predicate", Version})
			}
		}
		for _, c := range []string{JSONConverterClass, StringConverterClass, BytesConverterClass, MsgpackConverterClass} {
			out = append(out, pluginInfo{c, "converter", Version})
		}
	}
	writeJSON(rw, http.StatusOK, out)
}

// configKeyInfo is one element of GET /connector-plugins/{class}/config.
type configKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         *string  `json:"group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
	Order         int      `json:"order"`
}

func keyInfo(k ConfigKey, order int) configKeyInfo {
	ki := configKeyInfo{Name: k.Name, Type: string(k.Type), Required: k.Required, Importance: k.Importance,
		Documentation: k.Doc, Width: "NONE", DisplayName: k.Name, Dependents: []string{}, Order: order}
	if !k.Required {
		d := k.Default
		ki.DefaultValue = &d
	}
	if k.Group != "" {
		g := k.Group
		ki.Group = &g
	}
	return ki
}

func (w *Worker) pluginConfig(rw http.ResponseWriter, r *http.Request) {
	p, ok := w.cfg.Plugins.Lookup(r.PathValue("class"))
	if !ok {
		reply(rw, 0, nil, newAPIError(ErrNotFound, "Unknown plugin %s.", r.PathValue("class")))
		return
	}
	out := []configKeyInfo{}
	for i, k := range p.Config.Keys() {
		out = append(out, keyInfo(k, i+1))
	}
	writeJSON(rw, http.StatusOK, out)
}

// ConfigInfos is the validate endpoint's answer.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []configInfo `json:"configs"`
}

type configInfo struct {
	Definition configKeyInfo   `json:"definition"`
	Value      configValueInfo `json:"value"`
}

type configValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// ValidateConfig checks a configuration against a plugin, as PUT
// /connector-plugins/{class}/config/validate does.
func (w *Worker) ValidateConfig(class string, props map[string]string) (ConfigInfos, error) {
	if c := props[ConfigConnectorClass]; c == "" {
		props[ConfigConnectorClass] = class
	}
	p, ok := w.cfg.Plugins.Lookup(props[ConfigConnectorClass])
	if !ok {
		return ConfigInfos{}, badRequest("Failed to find any class that implements Connector and which name matches %s, available connectors are: %s", props[ConfigConnectorClass], w.pluginNames())
	}
	def := commonDef(p.Type).Merge(p.Config)
	simple := p.Class[strings.LastIndex(p.Class, ".")+1:]
	out := ConfigInfos{Name: simple, Groups: []string{}, Configs: []configInfo{}}
	seen := map[string]bool{}
	for i, cv := range def.Validate(props) {
		if g := cv.Key.Group; g != "" && !seen[g] {
			seen[g] = true
			out.Groups = append(out.Groups, g)
		}
		vi := configValueInfo{Name: cv.Key.Name, RecommendedValues: cv.Key.Recommended, Errors: cv.Errors, Visible: true}
		if vi.RecommendedValues == nil {
			vi.RecommendedValues = []string{}
		}
		if vi.Errors == nil {
			vi.Errors = []string{}
		}
		if cv.Set || !cv.Key.Required {
			v := cv.Value
			if cv.Key.Type == Password && cv.Set {
				v = "[hidden]"
			}
			vi.Value = &v
		}
		out.ErrorCount += len(cv.Errors)
		out.Configs = append(out.Configs, configInfo{Definition: keyInfo(cv.Key, i+1), Value: vi})
	}
	// Cross-setting checks (topics vs topics.regex, transforms, converters)
	// are reported against the key they concern.
	if _, err := w.parseConnectorConfig(p, props); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			for _, prob := range ce.Problems {
				if containsError(out.Configs, prob) {
					continue
				}
				key := ConfigTopics
				switch {
				case strings.Contains(prob, "transform"):
					key = ConfigTransforms
				case strings.Contains(prob, "predicate"):
					key = ConfigPredicates
				case strings.Contains(prob, "converter"):
					key = ConfigValueConverter
				}
				for i := range out.Configs {
					if out.Configs[i].Definition.Name == key {
						out.Configs[i].Value.Errors = append(out.Configs[i].Value.Errors, prob)
						out.ErrorCount++
					}
				}
			}
		}
	}
	return out, nil
}

func containsError(cs []configInfo, prob string) bool {
	for _, c := range cs {
		for _, e := range c.Value.Errors {
			if e == prob {
				return true
			}
		}
	}
	return false
}

func (w *Worker) validate(rw http.ResponseWriter, r *http.Request) {
	var raw map[string]any
	if !decodeBody(rw, r, &raw) {
		return
	}
	props, err := stringMap(raw)
	if err != nil {
		reply(rw, 0, nil, err)
		return
	}
	class := r.PathValue("class")
	if c := props[ConfigConnectorClass]; c != "" {
		pc, ok1 := w.cfg.Plugins.Lookup(c)
		pu, ok2 := w.cfg.Plugins.Lookup(class)
		if !ok1 || !ok2 || pc != pu {
			reply(rw, 0, nil, badRequest("Connector class in the URL (%s) doesn't match connector.class in the config (%s)", class, c))
			return
		}
	}
	infos, err := w.ValidateConfig(class, props)
	reply(rw, http.StatusOK, infos, err)
}

// forwardClient sends forwarded requests; the leader answers within its own
// 30s wait for the configs topic.
var forwardClient = &http.Client{Timeout: 45 * time.Second}

// forwarded wraps a handler of a request that changes connectors: in
// distributed mode, on a worker that is not the leader, the request goes
// to the leader's REST URL and its answer comes back as it is.
func (w *Worker) forwarded(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if w.dist == nil || r.URL.Query().Get("forward") == "false" {
			h(rw, r)
			return
		}
		leader, self := w.dist.leader()
		if self || leader == "" || w.cfg.RESTURL == "" {
			h(rw, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 1<<20))
		if err != nil {
			reply(rw, 0, nil, badRequest("Request body: %v", err))
			return
		}
		q := r.URL.Query()
		q.Set("forward", "false")
		target := strings.TrimSuffix(leader, "/") + r.URL.EscapedPath() + "?" + q.Encode()
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
		if err != nil {
			reply(rw, 0, nil, fmt.Errorf("forwarding to the leader %s: %w", leader, err))
			return
		}
		for _, k := range []string{"Content-Type", "Accept"} {
			if v := r.Header.Get(k); v != "" {
				req.Header.Set(k, v)
			}
		}
		resp, err := forwardClient.Do(req)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			// The leader may just have gone (a rebalance will follow): every
			// worker can write the configs topic, so handle it here.
			w.logger.Warn("could not forward a REST request to the leader; handling it here",
				"leader", leader, "path", r.URL.Path, "err", err)
			r.Body = io.NopCloser(bytes.NewReader(body))
			h(rw, r)
			return
		}
		defer resp.Body.Close()
		for _, k := range []string{"Content-Type", "Location"} {
			if v := resp.Header.Get(k); v != "" {
				rw.Header().Set(k, v)
			}
		}
		rw.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(rw, resp.Body)
	}
}
