package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// apiError is the body of every failed API call.
type apiError struct {
	Error string `json:"error"`
}

// httpError is an error with the HTTP status it should be answered with.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Errorf(format, args...)}
}

// actionHeader must be set on requests that change something; browsers do
// not let another site's page set it without the console's consent.
const actionHeader = "X-Eddy-Console"

// api wraps a JSON handler: it bounds the request by RequestTimeout,
// encodes the answer and turns errors into {"error": ...}.
func (c *Console) api(f func(ctx context.Context, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(actionHeader) == "" {
			writeJSON(w, http.StatusForbidden, apiError{Error: "requests that change something need the header " + actionHeader + ": 1"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), c.cfg.RequestTimeout)
		defer cancel()
		v, err := f(ctx, r)
		if err != nil {
			code := http.StatusBadGateway // the cluster or Connect failed
			var he *httpError
			if errors.As(err, &he) {
				code = he.code
			} else {
				err = c.explain(ctx, err)
			}
			if code >= 500 {
				c.log.Warn("API call failed", "path", r.URL.Path, "err", err)
			}
			writeJSON(w, code, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// explain adds to an error from the cluster what the user can do when the
// cluster did not answer; other errors (a Kafka error code, an ACL denial,
// a failed Connect call) say enough themselves.
func (c *Console) explain(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(err, errConnect) {
		return err
	}
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return c.reachErr(ctx, err)
	}
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v) //nolint:errcheck // the client went away
}

// isInternal reports whether a topic is internal: flagged so by the
// cluster, or named with Kafka's "__" prefix for internal topics.
func isInternal(td kadm.TopicDetail) bool {
	return td.IsInternal || strings.HasPrefix(td.Topic, "__")
}

// errString is err's message, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
