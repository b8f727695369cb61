package connectors

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// More of Kafka Connect's SMTs: Cast, Flatten, TimestampConverter,
// InsertHeader, DropHeaders and HeaderFrom, with Kafka's class names and
// config keys. Records here are schemaless (Kafka Connect's behaviour
// without a schema): values are nil, bool, int64, float64, string,
// []byte, []any, map[string]any, and time.Time from TimestampConverter.

func init() {
	more := map[string]func() Transformation{
		smtPkg + "Cast$Value":               func() Transformation { return &cast{} },
		smtPkg + "Cast$Key":                 func() Transformation { return &cast{key: true} },
		smtPkg + "Flatten$Value":            func() Transformation { return &flatten{} },
		smtPkg + "Flatten$Key":              func() Transformation { return &flatten{key: true} },
		smtPkg + "TimestampConverter$Value": func() Transformation { return &timestampConverter{} },
		smtPkg + "TimestampConverter$Key":   func() Transformation { return &timestampConverter{key: true} },
		smtPkg + "InsertHeader":             func() Transformation { return &insertHeader{} },
		smtPkg + "DropHeaders":              func() Transformation { return &dropHeaders{} },
		smtPkg + "HeaderFrom$Value":         func() Transformation { return &headerFrom{} },
		smtPkg + "HeaderFrom$Key":           func() Transformation { return &headerFrom{key: true} },
	}
	for k, v := range more {
		transformClasses[k] = v
		transformClasses[strings.TrimPrefix(k, smtPkg)] = v
	}
}

func missing(key string) error {
	return fmt.Errorf("Missing required configuration \"%s\" which has no default value.", key)
}

// cast is Cast: spec is either one type for the whole key/value, or
// field:type pairs for fields of a map.
type cast struct {
	key    bool
	whole  string            // type for the whole value, or ""
	fields map[string]string // field → type
}

var castTypes = map[string]bool{"int8": true, "int16": true, "int32": true, "int64": true,
	"float32": true, "float64": true, "boolean": true, "string": true}

func (t *cast) Configure(p map[string]string) error {
	spec := strings.TrimSpace(p["spec"])
	if spec == "" {
		return missing("spec")
	}
	t.fields = map[string]string{}
	for _, item := range splitList(spec) {
		field, typ, ok := strings.Cut(item, ":")
		if !ok {
			if len(splitList(spec)) != 1 {
				return fmt.Errorf("Invalid value %s for configuration spec: Cast transformations that specify a type to cast the entire value to may only specify a single cast in their spec", spec)
			}
			field, typ = "", item
		}
		typ = strings.ToLower(strings.TrimSpace(typ))
		if !castTypes[typ] {
			return fmt.Errorf("Invalid value %s for configuration spec: Invalid type found in casting spec: %s", spec, typ)
		}
		if field == "" {
			t.whole = typ
		} else {
			t.fields[strings.TrimSpace(field)] = typ
		}
	}
	return nil
}

func (t *cast) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	if *p == nil {
		return r, nil
	}
	if t.whole != "" {
		v, err := castValue(*p, t.whole)
		if err != nil {
			return nil, fmt.Errorf("Cast: %w", err)
		}
		*p = v
		return r, nil
	}
	m, err := asMap("Cast", *p)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if typ, ok := t.fields[k]; ok && v != nil {
			if v, err = castValue(v, typ); err != nil {
				return nil, fmt.Errorf("Cast: field %s: %w", k, err)
			}
		}
		out[k] = v
	}
	*p = out
	return r, nil
}

// castValue converts a primitive as Kafka's Cast does: numbers narrow as
// Java's casts do, booleans are 1/0, strings are parsed.
func castValue(v any, typ string) (any, error) {
	var f float64
	var isInt bool
	var i int64
	switch x := v.(type) {
	case int64:
		i, f, isInt = x, float64(x), true
	case int:
		i, f, isInt = int64(x), float64(x), true
	case float64:
		f = x
	case bool:
		if x {
			i, f = 1, 1
		}
		isInt = true
	case string:
		s := strings.TrimSpace(x)
		switch typ {
		case "string":
			return x, nil
		case "boolean":
			return strings.EqualFold(s, "true"), nil // Java's Boolean.parseBoolean
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			i, f, isInt = n, float64(n), true
		} else if g, err := strconv.ParseFloat(s, 64); err == nil {
			f = g
		} else {
			return nil, fmt.Errorf("cannot cast %q to %s", x, typ)
		}
	default:
		return nil, fmt.Errorf("cannot cast a %T to %s: only primitive types can be cast", v, typ)
	}
	if !isInt {
		i = int64(f) // Java truncates toward zero (NaN → 0)
		if math.IsNaN(f) {
			i = 0
		}
	}
	switch typ {
	case "int8":
		return int64(int8(i)), nil
	case "int16":
		return int64(int16(i)), nil
	case "int32":
		return int64(int32(i)), nil
	case "int64":
		return i, nil
	case "float32":
		return float64(float32(f)), nil
	case "float64":
		return f, nil
	case "boolean":
		return f != 0, nil
	case "string":
		if isInt {
			if _, ok := v.(bool); ok {
				return strconv.FormatBool(i == 1), nil
			}
			return strconv.FormatInt(i, 10), nil
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("unknown type %s", typ)
}

// flatten is Flatten: nested maps become top-level fields named by their
// path joined with delimiter (default "."). Arrays stay as they are.
type flatten struct {
	key       bool
	delimiter string
}

func (t *flatten) Configure(p map[string]string) error {
	t.delimiter = "."
	if d, ok := p["delimiter"]; ok {
		t.delimiter = d
	}
	return nil
}

func (t *flatten) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	m, err := asMap("Flatten", *p)
	if err != nil || m == nil {
		return r, err
	}
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := k
			if prefix != "" {
				name = prefix + t.delimiter + k
			}
			if sub, ok := v.(map[string]any); ok {
				walk(name, sub)
				continue
			}
			out[name] = v
		}
	}
	walk("", m)
	*p = out
	return r, nil
}

// timestampConverter is TimestampConverter: field (or the whole value)
// converted between Unix time, a formatted string and a timestamp.
type timestampConverter struct {
	key       bool
	field     string
	target    string // string, unix, Date, Time, Timestamp
	layout    string // Go layout of format
	format    string
	precision time.Duration
}

func (t *timestampConverter) Configure(p map[string]string) error {
	t.field = strings.TrimSpace(p["field"])
	t.target = strings.TrimSpace(p["target.type"])
	switch t.target {
	case "string", "unix", "Date", "Time", "Timestamp":
	case "":
		return missing("target.type")
	default:
		return fmt.Errorf("Invalid value %s for configuration target.type: String must be one of: string, unix, Date, Time, Timestamp", t.target)
	}
	t.format = p["format"]
	if t.format != "" {
		t.layout = javaLayout(t.format)
	} else if t.target == "string" {
		return fmt.Errorf("TimestampConverter requires format option to be specified when using string timestamps")
	}
	switch prec := strings.TrimSpace(p["unix.precision"]); prec {
	case "", "milliseconds":
		t.precision = time.Millisecond
	case "seconds":
		t.precision = time.Second
	case "microseconds":
		t.precision = time.Microsecond
	case "nanoseconds":
		t.precision = time.Nanosecond
	default:
		return fmt.Errorf("Invalid value %s for configuration unix.precision: String must be one of: nanoseconds, microseconds, milliseconds, seconds", prec)
	}
	return nil
}

func (t *timestampConverter) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	if *p == nil {
		return r, nil
	}
	if t.field == "" {
		v, err := t.convert(*p)
		if err != nil {
			return nil, err
		}
		*p = v
		return r, nil
	}
	m, err := asMap("TimestampConverter", *p)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if v, ok := out[t.field]; ok && v != nil {
		if out[t.field], err = t.convert(v); err != nil {
			return nil, err
		}
	}
	*p = out
	return r, nil
}

func (t *timestampConverter) convert(v any) (any, error) {
	var ts time.Time
	switch x := v.(type) {
	case time.Time:
		ts = x
	case int64:
		ts = time.Unix(0, 0).Add(time.Duration(x) * t.precision)
	case int:
		ts = time.Unix(0, 0).Add(time.Duration(x) * t.precision)
	case float64:
		ts = time.Unix(0, 0).Add(time.Duration(x) * t.precision)
	case string:
		if t.layout == "" {
			return nil, fmt.Errorf("TimestampConverter: a string timestamp needs the format option")
		}
		parsed, err := time.Parse(t.layout, x)
		if err != nil {
			return nil, fmt.Errorf("TimestampConverter: could not parse timestamp %q with format %q: %w", x, t.format, err)
		}
		ts = parsed
	default:
		return nil, fmt.Errorf("TimestampConverter: cannot convert a %T", v)
	}
	ts = ts.UTC()
	switch t.target {
	case "string":
		return ts.Format(t.layout), nil
	case "unix":
		return ts.UnixNano() / int64(t.precision), nil
	case "Date":
		y, m, d := ts.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case "Time":
		h, mi, s := ts.Clock()
		return time.Date(1970, 1, 1, h, mi, s, ts.Nanosecond()/1e6*1e6, time.UTC), nil
	default: // Timestamp
		return ts, nil
	}
}

// insertHeader is InsertHeader: header with the literal value.literal.
type insertHeader struct {
	header string
	value  []byte
}

func (t *insertHeader) Configure(p map[string]string) error {
	t.header = p["header"]
	if t.header == "" {
		return missing("header")
	}
	v, ok := p["value.literal"]
	if !ok {
		return missing("value.literal")
	}
	t.value = []byte(v)
	return nil
}

func (t *insertHeader) Apply(r *Record) (*Record, error) {
	r.Headers = append(append([]Header(nil), r.Headers...), Header{Key: t.header, Value: t.value})
	return r, nil
}

// dropHeaders is DropHeaders: removes every header named in headers.
type dropHeaders struct{ names map[string]bool }

func (t *dropHeaders) Configure(p map[string]string) error {
	names := splitList(p["headers"])
	if len(names) == 0 {
		return missing("headers")
	}
	t.names = map[string]bool{}
	for _, n := range names {
		t.names[n] = true
	}
	return nil
}

func (t *dropHeaders) Apply(r *Record) (*Record, error) {
	kept := make([]Header, 0, len(r.Headers))
	for _, h := range r.Headers {
		if !t.names[h.Key] {
			kept = append(kept, h)
		}
	}
	r.Headers = kept
	return r, nil
}

// headerFrom is HeaderFrom: fields of the key or value copied or moved
// into headers. Header values are the field's text: strings and bytes as
// they are, other values in JSON (Kafka's SimpleHeaderConverter form).
type headerFrom struct {
	key     bool
	fields  []string
	headers []string
	move    bool
}

func (t *headerFrom) Configure(p map[string]string) error {
	t.fields, t.headers = splitList(p["fields"]), splitList(p["headers"])
	if len(t.fields) == 0 {
		return missing("fields")
	}
	if len(t.headers) == 0 {
		return missing("headers")
	}
	if len(t.fields) != len(t.headers) {
		return fmt.Errorf("'fields' config must have the same number of elements as 'headers' config.")
	}
	switch op := strings.TrimSpace(p["operation"]); op {
	case "move":
		t.move = true
	case "copy":
	case "":
		return missing("operation")
	default:
		return fmt.Errorf("Invalid value %s for configuration operation: String must be one of: move, copy", op)
	}
	return nil
}

func (t *headerFrom) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	m, err := asMap("HeaderFrom", *p)
	if err != nil || m == nil {
		return r, err
	}
	headers := append([]Header(nil), r.Headers...)
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i, f := range t.fields {
		v := m[f]
		var b []byte
		switch x := v.(type) {
		case nil:
		case string:
			b = []byte(x)
		case []byte:
			b = x
		case time.Time:
			b = []byte(x.UTC().Format(time.RFC3339Nano))
		default:
			if b, err = json.Marshal(x); err != nil {
				return nil, fmt.Errorf("HeaderFrom: field %s: %w", f, err)
			}
		}
		headers = append(headers, Header{Key: t.headers[i], Value: b})
		if t.move {
			delete(out, f)
		}
	}
	r.Headers = headers
	*p = out
	return r, nil
}
