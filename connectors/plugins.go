package connectors

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Plugins is a set of connector plugins, looked up by class or alias
// (case-sensitively for classes, as Kafka Connect does, and by simple name
// with or without the "Connector" suffix).
type Plugins struct {
	mu      sync.RWMutex
	plugins map[string]*Plugin // by class
}

// NewPlugins returns an empty set.
func NewPlugins() *Plugins { return &Plugins{plugins: map[string]*Plugin{}} }

var defaultPlugins = NewPlugins()

// Register adds p to the default set, which a Worker uses unless its
// config names another. Built-in connector packages register themselves
// from init, so importing them (even as _) makes them available.
func Register(p *Plugin) { defaultPlugins.Add(p) }

// DefaultPlugins returns the set Register adds to.
func DefaultPlugins() *Plugins { return defaultPlugins }

// Add adds p; a second plugin with the same class replaces the first.
func (ps *Plugins) Add(p *Plugin) {
	if p.Class == "" || (p.Type != TypeSource && p.Type != TypeSink) || p.NewConnector == nil {
		panic(fmt.Sprintf("connectors: incomplete plugin %q", p.Class))
	}
	if p.Type == TypeSource && p.NewSourceTask == nil || p.Type == TypeSink && p.NewSinkTask == nil {
		panic(fmt.Sprintf("connectors: plugin %q has no task constructor", p.Class))
	}
	if p.Version == "" {
		p.Version = Version
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.plugins[p.Class] = p
}

// Lookup finds a plugin by class, alias or simple class name.
func (ps *Plugins) Lookup(name string) (*Plugin, bool) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if p, ok := ps.plugins[name]; ok {
		return p, true
	}
	for _, p := range ps.plugins {
		simple := p.Class[strings.LastIndex(p.Class, ".")+1:]
		if name == simple || name == strings.TrimSuffix(simple, "Connector") {
			return p, true
		}
		for _, a := range p.Aliases {
			if name == a {
				return p, true
			}
		}
	}
	return nil, false
}

// List returns the plugins sorted by class.
func (ps *Plugins) List() []*Plugin {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]*Plugin, 0, len(ps.plugins))
	for _, p := range ps.plugins {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

// Version is the version the REST API reports for Eddy's worker and
// built-in plugins.
const Version = "0.1.0-eddy"

// Settings every connector has (Kafka's ConnectorConfig, SinkConnectorConfig).
const (
	ConfigName           = "name"
	ConfigConnectorClass = "connector.class"
	ConfigTasksMax       = "tasks.max"
	ConfigKeyConverter   = "key.converter"
	ConfigValueConverter = "value.converter"
	ConfigTransforms     = "transforms"
	ConfigPredicates     = "predicates"
	ConfigTopics         = "topics"
	ConfigTopicsRegex    = "topics.regex"

	ConfigErrorsRetryTimeout  = "errors.retry.timeout"
	ConfigErrorsRetryDelayMax = "errors.retry.delay.max.ms"
	ConfigErrorsTolerance     = "errors.tolerance"
	ConfigErrorsLogEnable     = "errors.log.enable"
	ConfigErrorsLogMessages   = "errors.log.include.messages"
	ConfigDLQTopic            = "errors.deadletterqueue.topic.name"
	ConfigDLQReplication      = "errors.deadletterqueue.topic.replication.factor"
	ConfigDLQContextHeaders   = "errors.deadletterqueue.context.headers.enable"
)

// commonDef returns the settings of every connector of type t, in
// Kafka Connect's groups ("Common", "Transforms", "Error Handling").
func commonDef(t Type) *ConfigDef {
	d := NewConfigDef().
		Define(ConfigKey{Name: ConfigName, Type: String, Required: true, Importance: High, Group: "Common",
			Doc: "Globally unique name to use for this connector."}).
		Define(ConfigKey{Name: ConfigConnectorClass, Type: String, Required: true, Importance: High, Group: "Common",
			Doc: "Name or alias of the class for this connector."}).
		Define(ConfigKey{Name: ConfigTasksMax, Type: Int, Default: "1", Importance: High, Group: "Common",
			Validate: AtLeast(1), Doc: "Maximum number of tasks to use for this connector."}).
		Define(ConfigKey{Name: ConfigKeyConverter, Type: Class, Importance: Low, Group: "Common",
			Doc: "Converter for record keys; the worker's when unset."}).
		Define(ConfigKey{Name: ConfigValueConverter, Type: Class, Importance: Low, Group: "Common",
			Doc: "Converter for record values; the worker's when unset."}).
		Define(ConfigKey{Name: ConfigTransforms, Type: List, Importance: Low, Group: "Transforms",
			Doc: "Aliases for the transformations to be applied to records, in order."}).
		Define(ConfigKey{Name: ConfigPredicates, Type: List, Importance: Low, Group: "Predicates",
			Doc: "Aliases for the predicates used by transformations."}).
		Define(ConfigKey{Name: ConfigErrorsRetryTimeout, Type: Long, Default: "0", Importance: Medium, Group: "Error Handling",
			Doc: "Maximum duration in milliseconds that a failed operation will be reattempted; 0 means none, -1 infinite."}).
		Define(ConfigKey{Name: ConfigErrorsRetryDelayMax, Type: Long, Default: "60000", Importance: Medium, Group: "Error Handling",
			Doc: "Maximum duration in milliseconds between consecutive retry attempts."}).
		Define(ConfigKey{Name: ConfigErrorsTolerance, Type: String, Default: "none", Importance: Medium, Group: "Error Handling",
			Validate: OneOf("none", "all"), Recommended: []string{"none", "all"},
			Doc: "Behavior for tolerating errors: 'none' fails the task, 'all' skips problematic records."}).
		Define(ConfigKey{Name: ConfigErrorsLogEnable, Type: Boolean, Default: "false", Importance: Medium, Group: "Error Handling",
			Doc: "Log each error and the details of the failed operation."}).
		Define(ConfigKey{Name: ConfigErrorsLogMessages, Type: Boolean, Default: "false", Importance: Medium, Group: "Error Handling",
			Doc: "Include the failed record in the log."})
	if t == TypeSink {
		d.Define(ConfigKey{Name: ConfigTopics, Type: List, Importance: High, Group: "Common",
			Doc: "List of topics to consume, separated by commas."}).
			Define(ConfigKey{Name: ConfigTopicsRegex, Type: String, Importance: High, Group: "Common",
				Doc: "Regular expression giving topics to consume."}).
			Define(ConfigKey{Name: ConfigDLQTopic, Type: String, Importance: Medium, Group: "Error Handling",
				Doc: "Topic that receives records that failed (dead-letter queue); none when empty."}).
			Define(ConfigKey{Name: ConfigDLQReplication, Type: Int, Default: "1", Importance: Medium, Group: "Error Handling",
				Doc: "Replication factor used to create the dead letter queue topic."}).
			Define(ConfigKey{Name: ConfigDLQContextHeaders, Type: Boolean, Default: "false", Importance: Medium, Group: "Error Handling",
				Doc: "Add headers with the error context to records written to the dead letter queue."})
	}
	return d
}
