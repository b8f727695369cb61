package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// errConnect marks failures of the Kafka Connect REST API.
var errConnect = errors.New("kafka connect")

// connectState is a connector's or task's state in Connect's status payload.
type connectState struct {
	ID       int    `json:"id"`
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// connectorInfo is a connector on the connectors page.
type connectorInfo struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	Class    string         `json:"class"`
	State    string         `json:"state"`
	WorkerID string         `json:"worker_id"`
	Trace    string         `json:"trace,omitempty"`
	Tasks    []connectState `json:"tasks"`
	Topics   string         `json:"topics,omitempty"` // from the config: topics, topic, kafka.topic or topics.regex
}

// connectorsAnswer is GET api/connectors.
type connectorsAnswer struct {
	Configured bool            `json:"configured"`
	URL        string          `json:"url,omitempty"`
	Connectors []connectorInfo `json:"connectors"`
}

// connectCall makes one call to the Connect REST API and decodes a JSON
// answer into out (when out is not nil). Connect's own errors keep its
// message and status.
func (c *Console) connectCall(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.ConnectURL+path, nil)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", errConnect, method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: cannot reach Kafka Connect at %s (is it running? check the Connect URL): %w", errConnect, c.cfg.ConnectURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%w: %s %s: reading the answer: %w", errConnect, method, path, err)
	}
	if resp.StatusCode >= 300 {
		var ce struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &ce) == nil && ce.Message != "" {
			msg = ce.Message
		}
		code := resp.StatusCode
		if code >= 500 {
			code = http.StatusBadGateway
		}
		return &httpError{code, fmt.Errorf("%w: %s %s: %s: %s", errConnect, method, path, resp.Status, msg)}
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%w: %s %s: answer is not the JSON expected: %w", errConnect, method, path, err)
		}
	}
	return nil
}

// PingConnect checks that the Kafka Connect REST API at Config.ConnectURL
// answers. Without a ConnectURL it returns nil.
func (c *Console) PingConnect(ctx context.Context) error {
	if c.cfg.ConnectURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var root struct {
		Version string `json:"version"`
	}
	return c.connectCall(ctx, http.MethodGet, "/", &root)
}

func (c *Console) connectors(ctx context.Context, r *http.Request) (any, error) {
	ans := connectorsAnswer{Connectors: []connectorInfo{}}
	if c.cfg.ConnectURL == "" {
		return ans, nil
	}
	ans.Configured, ans.URL = true, c.cfg.ConnectURL
	var expanded map[string]struct {
		Status struct {
			Connector connectState   `json:"connector"`
			Tasks     []connectState `json:"tasks"`
			Type      string         `json:"type"`
		} `json:"status"`
		Info struct {
			Config map[string]string `json:"config"`
			Type   string            `json:"type"`
		} `json:"info"`
	}
	if err := c.connectCall(ctx, http.MethodGet, "/connectors?expand=status&expand=info", &expanded); err != nil {
		return nil, err
	}
	for name, e := range expanded {
		ci := connectorInfo{
			Name:     name,
			Type:     e.Status.Type,
			Class:    e.Info.Config["connector.class"],
			State:    e.Status.Connector.State,
			WorkerID: e.Status.Connector.WorkerID,
			Trace:    e.Status.Connector.Trace,
			Tasks:    e.Status.Tasks,
			Topics:   e.Info.Config["topics"],
		}
		if ci.Type == "" {
			ci.Type = e.Info.Type
		}
		for _, k := range []string{"topic", "kafka.topic", "topics.regex"} { // sources' and sinks' usual names
			if ci.Topics == "" {
				ci.Topics = e.Info.Config[k]
			}
		}
		if ci.Tasks == nil {
			ci.Tasks = []connectState{}
		}
		slices.SortFunc(ci.Tasks, func(a, b connectState) int { return a.ID - b.ID })
		ans.Connectors = append(ans.Connectors, ci)
	}
	slices.SortFunc(ans.Connectors, func(a, b connectorInfo) int { return strings.Compare(a.Name, b.Name) })
	return ans, nil
}

// connectorAction is POST api/connectors/{name}/{action}: pause, resume or
// restart (the connector and all its tasks), passed on to Connect.
func (c *Console) connectorAction(ctx context.Context, r *http.Request) (any, error) {
	if c.cfg.ConnectURL == "" {
		return nil, &httpError{http.StatusConflict, errors.New("no Kafka Connect URL configured (eddy console --connect URL)")}
	}
	name, action := r.PathValue("name"), r.PathValue("action")
	if name == "" {
		return nil, badRequest("no connector name")
	}
	path := "/connectors/" + url.PathEscape(name)
	var method string
	switch action {
	case "pause", "resume":
		method, path = http.MethodPut, path+"/"+action
	case "restart":
		method, path = http.MethodPost, path+"/restart?includeTasks=true&onlyFailed=false"
	default:
		return nil, badRequest("action %q: want pause, resume or restart", action)
	}
	if err := c.connectCall(ctx, method, path, nil); err != nil {
		return nil, err
	}
	return map[string]string{"connector": name, "action": action, "result": "accepted"}, nil
}
