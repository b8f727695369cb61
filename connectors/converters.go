package connectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// Converter turns the runtime's record values into bytes for Kafka and
// back (Kafka Connect's Converter). Configure is called once, before any
// other method; after that a converter may be used from several
// goroutines.
type Converter interface {
	// Configure receives the converter's settings (key.converter.* or
	// value.converter.* with the prefix removed).
	Configure(props map[string]string, isKey bool) error
	FromConnect(topic string, v any) ([]byte, error)
	ToConnect(topic string, b []byte) (any, error)
}

// Converter classes, with the short aliases Eddy also accepts.
const (
	JSONConverterClass    = "org.apache.kafka.connect.json.JsonConverter"
	StringConverterClass  = "org.apache.kafka.connect.storage.StringConverter"
	BytesConverterClass   = "org.apache.kafka.connect.converters.ByteArrayConverter"
	MsgpackConverterClass = "io.eddystreams.connect.converters.MsgpackConverter"
)

var converterClasses = map[string]func() Converter{
	JSONConverterClass:    func() Converter { return &JSONConverter{} },
	"json":                func() Converter { return &JSONConverter{} },
	StringConverterClass:  func() Converter { return StringConverter{} },
	"string":              func() Converter { return StringConverter{} },
	BytesConverterClass:   func() Converter { return BytesConverter{} },
	"bytes":               func() Converter { return BytesConverter{} },
	MsgpackConverterClass: func() Converter { return MsgpackConverter{} },
	"msgpack":             func() Converter { return MsgpackConverter{} },
}

// NewConverter makes and configures the converter named by class.
func NewConverter(class string, props map[string]string, isKey bool) (Converter, error) {
	mk, ok := converterClasses[strings.TrimSpace(class)]
	if !ok {
		return nil, fmt.Errorf("unknown converter class %q (want one of %s)", class, strings.Join(sortedKeys(converterClasses), ", "))
	}
	c := mk()
	if err := c.Configure(props, isKey); err != nil {
		return nil, fmt.Errorf("converter %s: %w", class, err)
	}
	return c, nil
}

// JSONConverter is Kafka's JsonConverter. With schemas.enable=true (Kafka's
// default, and the worker's unless configured otherwise) values are written
// in the {"schema":...,"payload":...} envelope with a schema inferred from
// the value; reading accepts both forms.
type JSONConverter struct {
	Schemas bool
}

func (c *JSONConverter) Configure(props map[string]string, isKey bool) error {
	c.Schemas = true
	if v, ok := props["schemas.enable"]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("schemas.enable: %q is not true or false", v)
		}
		c.Schemas = b
	}
	return nil
}

func (c *JSONConverter) FromConnect(topic string, v any) ([]byte, error) {
	if v == nil && !c.Schemas {
		return nil, nil
	}
	if c.Schemas {
		return json.Marshal(map[string]any{"schema": inferSchema(v), "payload": v})
	}
	return json.Marshal(v)
}

func (c *JSONConverter) ToConnect(topic string, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	if m, ok := v.(map[string]any); ok && len(m) == 2 {
		if _, ok := m["schema"]; ok {
			if p, ok := m["payload"]; ok {
				return p, nil
			}
		}
	}
	return v, nil
}

// decodeJSON decodes b keeping integers as int64.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return JSONNumbers(v), nil
}

// JSONNumbers turns the json.Numbers in v, a value decoded with
// json.Decoder.UseNumber, into int64 where they are integers and float64
// otherwise, in place through maps and slices, and returns v: Kafka
// Connect's JSON converter gives INT64 and FLOAT64 for them.
func JSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = JSONNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = JSONNumbers(e)
		}
	}
	return v
}

// inferSchema gives a Kafka Connect schema for a value.
func inferSchema(v any) map[string]any {
	switch x := v.(type) {
	case nil:
		return map[string]any{"type": "string", "optional": true}
	case string:
		return map[string]any{"type": "string", "optional": false}
	case bool:
		return map[string]any{"type": "boolean", "optional": false}
	case int8:
		return map[string]any{"type": "int8", "optional": false}
	case int16, uint8:
		return map[string]any{"type": "int16", "optional": false}
	case int32, uint16:
		return map[string]any{"type": "int32", "optional": false}
	case int, int64, uint, uint32, uint64:
		// Connect has no unsigned types: each unsigned kind takes the
		// smallest signed type that holds all its values (uint and uint64
		// as int64, as Kafka's own converters treat a long).
		return map[string]any{"type": "int64", "optional": false}
	case float32:
		return map[string]any{"type": "float", "optional": false}
	case float64:
		return map[string]any{"type": "double", "optional": false}
	case []byte:
		return map[string]any{"type": "bytes", "optional": false}
	case []any:
		var items map[string]any
		if len(x) > 0 {
			items = inferSchema(x[0])
		} else {
			items = map[string]any{"type": "string", "optional": true}
		}
		return map[string]any{"type": "array", "items": items, "optional": false}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := make([]any, 0, len(keys))
		for _, k := range keys {
			f := inferSchema(x[k])
			f["field"] = k
			f["optional"] = true
			fields = append(fields, f)
		}
		return map[string]any{"type": "struct", "fields": fields, "optional": false}
	}
	return map[string]any{"type": "string", "optional": true}
}

// StringConverter is Kafka's StringConverter: UTF-8 text. Values that are
// not strings are written in their JSON form.
type StringConverter struct{}

func (StringConverter) Configure(map[string]string, bool) error { return nil }

func (StringConverter) FromConnect(topic string, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	}
	return json.Marshal(v)
}

func (StringConverter) ToConnect(topic string, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	return string(b), nil
}

// BytesConverter is Kafka's ByteArrayConverter: bytes pass through.
type BytesConverter struct{}

func (BytesConverter) Configure(map[string]string, bool) error { return nil }

func (BytesConverter) FromConnect(topic string, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", v)
}

func (BytesConverter) ToConnect(topic string, b []byte) (any, error) { return b, nil }

// MsgpackConverter encodes values with msgpack, Eddy's default codec for
// structs, so streams applications can read them with their default serde.
type MsgpackConverter struct{}

func (MsgpackConverter) Configure(map[string]string, bool) error { return nil }

func (MsgpackConverter) FromConnect(topic string, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return msgpack.Marshal(v)
}

func (MsgpackConverter) ToConnect(topic string, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	var v any
	if err := msgpack.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize maps msgpack's decoded types onto the runtime's data model.
func normalize(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}
