package connectors

import (
	"fmt"
	"regexp"
	"strings"
)

// Transformation is a single message transform (Kafka Connect's SMT).
// Apply returns the record to pass on, or nil to drop it. It may modify r.
type Transformation interface {
	Configure(props map[string]string) error
	Apply(r *Record) (*Record, error)
}

// Predicate decides whether a transform applies to a record.
type Predicate interface {
	Configure(props map[string]string) error
	Test(r *Record) bool
}

const smtPkg = "org.apache.kafka.connect.transforms."

// transformClasses maps Kafka's class names (and simple names) to
// constructors. $Key and $Value variants pick the record part.
var transformClasses = map[string]func() Transformation{
	smtPkg + "InsertField$Value":  func() Transformation { return &insertField{} },
	smtPkg + "InsertField$Key":    func() Transformation { return &insertField{key: true} },
	smtPkg + "ReplaceField$Value": func() Transformation { return &replaceField{} },
	smtPkg + "ReplaceField$Key":   func() Transformation { return &replaceField{key: true} },
	smtPkg + "MaskField$Value":    func() Transformation { return &maskField{} },
	smtPkg + "MaskField$Key":      func() Transformation { return &maskField{key: true} },
	smtPkg + "ValueToKey":         func() Transformation { return &valueToKey{} },
	smtPkg + "ExtractField$Value": func() Transformation { return &extractField{} },
	smtPkg + "ExtractField$Key":   func() Transformation { return &extractField{key: true} },
	smtPkg + "HoistField$Value":   func() Transformation { return &hoistField{} },
	smtPkg + "HoistField$Key":     func() Transformation { return &hoistField{key: true} },
	smtPkg + "TimestampRouter":    func() Transformation { return &timestampRouter{} },
	smtPkg + "RegexRouter":        func() Transformation { return &regexRouter{} },
	smtPkg + "Filter":             func() Transformation { return filter{} },
}

var predicateClasses = map[string]func() Predicate{
	smtPkg + "predicates.TopicNameMatches":  func() Predicate { return &topicNameMatches{} },
	smtPkg + "predicates.HasHeaderKey":      func() Predicate { return &hasHeaderKey{} },
	smtPkg + "predicates.RecordIsTombstone": func() Predicate { return recordIsTombstone{} },
}

func init() {
	// Accept simple names too ("InsertField$Value", "Filter").
	for k, v := range transformClasses {
		transformClasses[strings.TrimPrefix(k, smtPkg)] = v
	}
	for k, v := range predicateClasses {
		predicateClasses[strings.TrimPrefix(k, smtPkg+"predicates.")] = v
	}
}

// chain is a connector's configured transforms, in order.
type chain []chainLink

type chainLink struct {
	alias  string
	t      Transformation
	pred   Predicate
	negate bool
}

// newChain builds the transforms named by props' "transforms" list.
func newChain(props map[string]string) (chain, error) {
	preds := map[string]Predicate{}
	for _, alias := range splitList(props[ConfigPredicates]) {
		prefix := "predicates." + alias + "."
		class := strings.TrimSpace(props[prefix+"type"])
		mk, ok := predicateClasses[class]
		if !ok {
			return nil, fmt.Errorf("Invalid value %s for configuration %stype: Class %s could not be found.", class, prefix, class)
		}
		p := mk()
		if err := p.Configure(WithPrefix(props, prefix)); err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		preds[alias] = p
	}
	var c chain
	for _, alias := range splitList(props[ConfigTransforms]) {
		prefix := "transforms." + alias + "."
		class := strings.TrimSpace(props[prefix+"type"])
		mk, ok := transformClasses[class]
		if !ok {
			return nil, fmt.Errorf("Invalid value %s for configuration %stype: Class %s could not be found.", class, prefix, class)
		}
		t := mk()
		if err := t.Configure(WithPrefix(props, prefix)); err != nil {
			return nil, fmt.Errorf("transform %s: %w", alias, err)
		}
		link := chainLink{alias: alias, t: t}
		if pn := strings.TrimSpace(props[prefix+"predicate"]); pn != "" {
			p, ok := preds[pn]
			if !ok {
				return nil, fmt.Errorf("transform %s: predicate %q is not in %q", alias, pn, ConfigPredicates)
			}
			link.pred = p
			link.negate = strings.EqualFold(strings.TrimSpace(props[prefix+"negate"]), "true")
		}
		c = append(c, link)
	}
	return c, nil
}

// apply runs r through the chain; nil means dropped.
func (c chain) apply(r *Record) (*Record, error) {
	for _, l := range c {
		if l.pred != nil && l.pred.Test(r) == l.negate {
			continue
		}
		var err error
		if r, err = l.t.Apply(r); err != nil {
			return nil, fmt.Errorf("transform %s: %w", l.alias, err)
		}
		if r == nil {
			return nil, nil
		}
	}
	return r, nil
}

// part returns a pointer to the key or the value.
func part(r *Record, key bool) *any {
	if key {
		return &r.Key
	}
	return &r.Value
}

// asMap returns v as a map, or an error naming the transform; nil stays nil.
func asMap(name string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("%s: only a map/struct can be transformed, got %T", name, v)
	}
	return m, nil
}

type insertField struct {
	key                                              bool
	staticField, staticValue                         string
	topicField, partitionField, offsetField, tsField string
}

func (t *insertField) Configure(p map[string]string) error {
	t.staticField, t.staticValue = p["static.field"], p["static.value"]
	t.topicField, t.partitionField = p["topic.field"], p["partition.field"]
	t.offsetField, t.tsField = p["offset.field"], p["timestamp.field"]
	return nil
}

// trimOptional drops the "!" (required) and "?" (optional) suffixes Kafka
// allows on field names.
func trimOptional(s string) string { return strings.TrimRight(strings.TrimSpace(s), "!?") }

func (t *insertField) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	if *p == nil {
		return r, nil // tombstones pass through
	}
	m, err := asMap("InsertField", *p)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	if t.staticField != "" {
		out[trimOptional(t.staticField)] = t.staticValue
	}
	if t.topicField != "" {
		out[trimOptional(t.topicField)] = r.Topic
	}
	if t.partitionField != "" {
		out[trimOptional(t.partitionField)] = int64(r.Partition)
	}
	if t.offsetField != "" {
		out[trimOptional(t.offsetField)] = r.Offset
	}
	if t.tsField != "" {
		out[trimOptional(t.tsField)] = r.Timestamp.UnixMilli()
	}
	*p = out
	return r, nil
}

type replaceField struct {
	key     bool
	include map[string]bool
	exclude map[string]bool
	renames map[string]string
}

func (t *replaceField) Configure(p map[string]string) error {
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			for _, f := range splitList(p[n]) {
				m[f] = true
			}
		}
		return m
	}
	t.include = set("include", "whitelist")
	t.exclude = set("exclude", "blacklist")
	t.renames = map[string]string{}
	for _, pair := range splitList(p["renames"]) {
		from, to, ok := strings.Cut(pair, ":")
		if !ok || from == "" || to == "" {
			return fmt.Errorf("Invalid value %s for configuration renames: Invalid rename mapping: %s", p["renames"], pair)
		}
		t.renames[from] = to
	}
	return nil
}

func (t *replaceField) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	m, err := asMap("ReplaceField", *p)
	if err != nil || m == nil {
		return r, err
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if t.exclude[k] || len(t.include) > 0 && !t.include[k] {
			continue
		}
		if to, ok := t.renames[k]; ok {
			k = to
		}
		out[k] = v
	}
	*p = out
	return r, nil
}

type maskField struct {
	key         bool
	fields      []string
	replacement string
	hasRepl     bool
}

func (t *maskField) Configure(p map[string]string) error {
	t.fields = splitList(p["fields"])
	if len(t.fields) == 0 {
		return fmt.Errorf("Missing required configuration \"fields\" which has no default value.")
	}
	t.replacement, t.hasRepl = p["replacement"]
	return nil
}

func (t *maskField) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	m, err := asMap("MaskField", *p)
	if err != nil || m == nil {
		return r, err
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, f := range t.fields {
		v, ok := out[f]
		if !ok {
			continue
		}
		if t.hasRepl {
			out[f] = t.replacement
			continue
		}
		// Kafka's masks: the type's empty value.
		switch v.(type) {
		case string:
			out[f] = ""
		case int64, int, float64:
			out[f] = int64(0)
		case bool:
			out[f] = false
		case map[string]any:
			out[f] = map[string]any{}
		case []any:
			out[f] = []any{}
		default:
			out[f] = nil
		}
	}
	*p = out
	return r, nil
}

type valueToKey struct{ fields []string }

func (t *valueToKey) Configure(p map[string]string) error {
	t.fields = splitList(p["fields"])
	if len(t.fields) == 0 {
		return fmt.Errorf("Missing required configuration \"fields\" which has no default value.")
	}
	return nil
}

func (t *valueToKey) Apply(r *Record) (*Record, error) {
	m, err := asMap("ValueToKey", r.Value)
	if err != nil {
		return nil, err
	}
	k := make(map[string]any, len(t.fields))
	for _, f := range t.fields {
		k[f] = m[f]
	}
	r.Key = k
	return r, nil
}

type extractField struct {
	key   bool
	field string
}

func (t *extractField) Configure(p map[string]string) error {
	t.field = strings.TrimSpace(p["field"])
	if t.field == "" {
		return fmt.Errorf("Missing required configuration \"field\" which has no default value.")
	}
	return nil
}

func (t *extractField) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	m, err := asMap("ExtractField", *p)
	if err != nil {
		return nil, err
	}
	*p = m[t.field]
	return r, nil
}

type hoistField struct {
	key   bool
	field string
}

func (t *hoistField) Configure(p map[string]string) error {
	t.field = strings.TrimSpace(p["field"])
	if t.field == "" {
		return fmt.Errorf("Missing required configuration \"field\" which has no default value.")
	}
	return nil
}

func (t *hoistField) Apply(r *Record) (*Record, error) {
	p := part(r, t.key)
	*p = map[string]any{t.field: *p}
	return r, nil
}

type timestampRouter struct {
	format string // topic.format with ${topic} and ${timestamp}
	layout string // Go layout from timestamp.format
}

func (t *timestampRouter) Configure(p map[string]string) error {
	t.format = p["topic.format"]
	if t.format == "" {
		t.format = "${topic}-${timestamp}"
	}
	tf := p["timestamp.format"]
	if tf == "" {
		tf = "yyyyMMdd"
	}
	t.layout = javaLayout(tf)
	return nil
}

func (t *timestampRouter) Apply(r *Record) (*Record, error) {
	if r.Timestamp.IsZero() {
		return nil, fmt.Errorf("TimestampRouter: record has no timestamp")
	}
	s := strings.ReplaceAll(t.format, "${topic}", r.Topic)
	r.Topic = strings.ReplaceAll(s, "${timestamp}", r.Timestamp.UTC().Format(t.layout))
	return r, nil
}

// javaLayout converts a Java SimpleDateFormat pattern to a Go time
// layout: the common letters (yyyy yy MMMM MMM MM M dd d HH H hh h mm m ss
// s SSS a EEEE EEE z Z X XX XXX) and quoted literals ('T', ” for a
// quote). Other letters are copied as they are.
func javaLayout(p string) string {
	letters := map[string]string{
		"yyyy": "2006", "yy": "06", "y": "2006", "MMMM": "January", "MMM": "Jan", "MM": "01", "M": "1",
		"dd": "02", "d": "2", "HH": "15", "H": "15", "hh": "03", "h": "3", "mm": "04", "m": "4",
		"ss": "05", "s": "5", "SSS": "000", "SS": "00", "S": "0", "a": "PM", "EEEE": "Monday", "EEE": "Mon",
		"z": "MST", "Z": "-0700", "X": "Z07", "XX": "Z0700", "XXX": "Z07:00",
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			if i+1 < len(p) && p[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			// Quoted text up to the closing quote; '' inside is a quote.
			for i++; i < len(p); i++ {
				if p[i] == '\'' {
					if i+1 < len(p) && p[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					i++
					break
				}
				b.WriteByte(p[i])
			}
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			run := p[i:j]
			if g, ok := letters[run]; ok {
				b.WriteString(g)
			} else {
				b.WriteString(run)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

type regexRouter struct {
	re   *regexp.Regexp
	repl string
}

func (t *regexRouter) Configure(p map[string]string) error {
	re, err := regexp.Compile("^(?:" + p["regex"] + ")$")
	if err != nil {
		return fmt.Errorf("regex: %w", err)
	}
	t.re = re
	// Java's $1 is Go's ${1}.
	t.repl = regexp.MustCompile(`\$(\d+)`).ReplaceAllString(p["replacement"], "$${$1}")
	return nil
}

func (t *regexRouter) Apply(r *Record) (*Record, error) {
	if t.re.MatchString(r.Topic) {
		r.Topic = t.re.ReplaceAllString(r.Topic, t.repl)
	}
	return r, nil
}

// filter drops every record it is applied to; with a predicate it drops
// the records the predicate matches (or, with negate, those it does not).
type filter struct{}

func (filter) Configure(map[string]string) error { return nil }
func (filter) Apply(r *Record) (*Record, error)  { return nil, nil }

type topicNameMatches struct{ re *regexp.Regexp }

func (p *topicNameMatches) Configure(props map[string]string) error {
	pat := props["pattern"]
	if pat == "" {
		return fmt.Errorf("Missing required configuration \"pattern\" which has no default value.")
	}
	re, err := regexp.Compile("^(?:" + pat + ")$")
	if err != nil {
		return fmt.Errorf("pattern: %w", err)
	}
	p.re = re
	return nil
}

func (p *topicNameMatches) Test(r *Record) bool { return p.re.MatchString(r.Topic) }

type hasHeaderKey struct{ name string }

func (p *hasHeaderKey) Configure(props map[string]string) error {
	p.name = props["name"]
	if p.name == "" {
		return fmt.Errorf("Missing required configuration \"name\" which has no default value.")
	}
	return nil
}

func (p *hasHeaderKey) Test(r *Record) bool { _, ok := r.Header(p.name); return ok }

type recordIsTombstone struct{}

func (recordIsTombstone) Configure(map[string]string) error { return nil }
func (recordIsTombstone) Test(r *Record) bool               { return r.Value == nil }
