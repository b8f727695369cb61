package connectors

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ConfigType is a setting's type, named as Kafka's ConfigDef names them
// (they appear in the validate endpoint's answer).
type ConfigType string

const (
	String   ConfigType = "STRING"
	Int      ConfigType = "INT"
	Long     ConfigType = "LONG"
	Double   ConfigType = "DOUBLE"
	Boolean  ConfigType = "BOOLEAN"
	List     ConfigType = "LIST"
	Password ConfigType = "PASSWORD"
	Class    ConfigType = "CLASS"
)

// Importance values, as in Kafka's ConfigDef.
const (
	High   = "HIGH"
	Medium = "MEDIUM"
	Low    = "LOW"
)

// ConfigKey defines one setting.
type ConfigKey struct {
	Name string
	Type ConfigType
	// Default is the value used when the setting is absent, in its string
	// form. A key that is Required has no default.
	Default    string
	Required   bool
	Importance string
	Doc        string
	Group      string
	// Validate, when set, checks the parsed value (string, int, int64,
	// float64, bool or []string by Type) and says what is wrong.
	Validate func(v any) error
	// Recommended values, listed by the validate endpoint.
	Recommended []string
}

// ConfigDef is an ordered set of settings. Its methods may be called
// concurrently once it is built.
type ConfigDef struct {
	keys []ConfigKey
}

// NewConfigDef returns an empty definition.
func NewConfigDef() *ConfigDef { return &ConfigDef{} }

// Define adds a key and returns d, so definitions chain. Redefining a
// name replaces the earlier key.
func (d *ConfigDef) Define(k ConfigKey) *ConfigDef {
	if k.Importance == "" {
		k.Importance = Medium
	}
	for i := range d.keys {
		if d.keys[i].Name == k.Name {
			d.keys[i] = k
			return d
		}
	}
	d.keys = append(d.keys, k)
	return d
}

// Keys returns the defined keys in definition order.
func (d *ConfigDef) Keys() []ConfigKey {
	if d == nil {
		return nil
	}
	return append([]ConfigKey(nil), d.keys...)
}

// Merge returns a new definition with d's keys followed by other's.
func (d *ConfigDef) Merge(other *ConfigDef) *ConfigDef {
	m := NewConfigDef()
	for _, k := range d.Keys() {
		m.Define(k)
	}
	for _, k := range other.Keys() {
		m.Define(k)
	}
	return m
}

// ConfigValue is the validation result of one key.
type ConfigValue struct {
	Key    ConfigKey
	Value  string // the given value, or the default
	Set    bool   // whether the props had it
	Errors []string
}

// ConfigError lists every problem found by Parse.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):\n%s",
		len(e.Problems), strings.Join(e.Problems, "\n"))
}

func (e *ConfigError) Unwrap() error { return ErrBadConfig }

// Validate checks props against d, returning one ConfigValue per key.
func (d *ConfigDef) Validate(props map[string]string) []ConfigValue {
	out := make([]ConfigValue, 0, len(d.keys))
	for _, k := range d.keys {
		v, set := props[k.Name]
		cv := ConfigValue{Key: k, Value: v, Set: set}
		if !set {
			if k.Required {
				cv.Errors = append(cv.Errors, fmt.Sprintf("Missing required configuration %q which has no default value.", k.Name))
				out = append(out, cv)
				continue
			}
			cv.Value = k.Default
		}
		parsed, err := parseValue(k, cv.Value)
		if err == nil && k.Validate != nil && (set || k.Default != "") {
			err = k.Validate(parsed)
		}
		if err != nil {
			cv.Errors = append(cv.Errors, fmt.Sprintf("Invalid value %s for configuration %s: %v", cv.Value, k.Name, err))
		}
		out = append(out, cv)
	}
	return out
}

// Parse validates props and returns the typed configuration, or a
// *ConfigError naming every problem.
func (d *ConfigDef) Parse(props map[string]string) (Config, error) {
	c := Config{props: make(map[string]string, len(props)), values: map[string]any{}}
	for k, v := range props {
		c.props[k] = v
	}
	var problems []string
	for _, cv := range d.Validate(props) {
		problems = append(problems, cv.Errors...)
		if len(cv.Errors) == 0 {
			c.values[cv.Key.Name], _ = parseValue(cv.Key, cv.Value)
		}
	}
	if len(problems) > 0 {
		return Config{}, &ConfigError{Problems: problems}
	}
	return c, nil
}

func parseValue(k ConfigKey, s string) (any, error) {
	s = strings.TrimSpace(s)
	switch k.Type {
	case Int:
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type INT")
		}
		return int(n), nil
	case Long:
		if s == "" {
			return int64(0), nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type LONG")
		}
		return n, nil
	case Double:
		if s == "" {
			return 0.0, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type DOUBLE")
		}
		return f, nil
	case Boolean:
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false", "":
			return false, nil
		}
		return nil, fmt.Errorf("Expected value to be either true or false")
	case List:
		return splitList(s), nil
	default:
		return s, nil
	}
}

// splitList splits Kafka's comma-separated lists, trimming blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Config is a parsed configuration: typed getters for the defined keys and
// the raw properties for everything else. Getters of keys that were not
// defined, or defined with another type, return the zero value.
type Config struct {
	props  map[string]string
	values map[string]any
}

// ParseConfig parses props against def (a convenience for tests and tasks).
func ParseConfig(def *ConfigDef, props map[string]string) (Config, error) {
	return def.Parse(props)
}

func (c Config) String(name string) string {
	if v, ok := c.values[name].(string); ok {
		return v
	}
	return strings.TrimSpace(c.props[name])
}

func (c Config) Int(name string) int {
	v, _ := c.values[name].(int)
	return v
}

func (c Config) Long(name string) int64 {
	v, _ := c.values[name].(int64)
	return v
}

func (c Config) Double(name string) float64 {
	v, _ := c.values[name].(float64)
	return v
}

func (c Config) Bool(name string) bool {
	v, _ := c.values[name].(bool)
	return v
}

func (c Config) List(name string) []string {
	if v, ok := c.values[name].([]string); ok {
		return v
	}
	return splitList(c.props[name])
}

// Millis reads a LONG or INT key holding milliseconds (Kafka's *.ms).
func (c Config) Millis(name string) time.Duration {
	switch v := c.values[name].(type) {
	case int64:
		return time.Duration(v) * time.Millisecond
	case int:
		return time.Duration(v) * time.Millisecond
	}
	return 0
}

// Raw returns the value of any key as given, and whether it was given.
func (c Config) Raw(name string) (string, bool) {
	v, ok := c.props[name]
	return v, ok
}

// Props returns a copy of the properties as given.
func (c Config) Props() map[string]string {
	m := make(map[string]string, len(c.props))
	for k, v := range c.props {
		m[k] = v
	}
	return m
}

// WithPrefix returns the properties whose names start with prefix, with
// the prefix removed (as Kafka's originalsWithPrefix does).
func WithPrefix(props map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		if strings.HasPrefix(k, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

// OneOf returns a validator accepting only the given strings
// (case-insensitively, as Kafka's CaseInsensitiveValidString does).
func OneOf(values ...string) func(any) error {
	return func(v any) error {
		s, _ := v.(string)
		for _, ok := range values {
			if strings.EqualFold(s, ok) {
				return nil
			}
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(values, ", "))
	}
}

// AtLeast returns a validator for INT and LONG keys.
func AtLeast(min int64) func(any) error {
	return func(v any) error {
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		}
		if n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
