package connectors

import (
	"reflect"
	"testing"
	"time"
)

func mustChain(t *testing.T, props map[string]string) chain {
	t.Helper()
	c, err := newChain(props)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each SMT configured as Kafka Connect configures it.
func TestTransforms(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := func() *Record {
		return &Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: "k",
			Value: map[string]any{"id": int64(1), "card": "4111", "name": "ann", "tmp": true}}
	}
	cases := []struct {
		name  string
		props map[string]string
		want  *Record // nil: dropped
	}{
		{"InsertField", map[string]string{
			"transforms": "ins", "transforms.ins.type": "org.apache.kafka.connect.transforms.InsertField$Value",
			"transforms.ins.static.field": "src", "transforms.ins.static.value": "eddy",
			"transforms.ins.topic.field": "topic", "transforms.ins.offset.field": "off"},
			&Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: map[string]any{
				"id": int64(1), "card": "4111", "name": "ann", "tmp": true, "src": "eddy", "topic": "orders", "off": int64(9)}}},
		{"ReplaceField drop and rename", map[string]string{
			"transforms": "r", "transforms.r.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
			"transforms.r.exclude": "tmp", "transforms.r.renames": "name:customer"},
			&Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: map[string]any{
				"id": int64(1), "card": "4111", "customer": "ann"}}},
		{"ReplaceField include", map[string]string{
			"transforms": "r", "transforms.r.type": "ReplaceField$Value", "transforms.r.include": "id"},
			&Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: map[string]any{"id": int64(1)}}},
		{"MaskField", map[string]string{
			"transforms": "m", "transforms.m.type": "org.apache.kafka.connect.transforms.MaskField$Value",
			"transforms.m.fields": "card,id"},
			&Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: map[string]any{
				"id": int64(0), "card": "", "name": "ann", "tmp": true}}},
		{"MaskField replacement", map[string]string{
			"transforms": "m", "transforms.m.type": "MaskField$Value", "transforms.m.fields": "card", "transforms.m.replacement": "****"},
			&Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: map[string]any{
				"id": int64(1), "card": "****", "name": "ann", "tmp": true}}},
		{"TimestampRouter", map[string]string{
			"transforms": "tr", "transforms.tr.type": "org.apache.kafka.connect.transforms.TimestampRouter",
			"transforms.tr.topic.format": "${topic}-${timestamp}", "transforms.tr.timestamp.format": "yyyy.MM.dd"},
			&Record{Topic: "orders-2026.03.04", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: rec().Value}},
		{"RegexRouter", map[string]string{
			"transforms": "rr", "transforms.rr.type": "org.apache.kafka.connect.transforms.RegexRouter",
			"transforms.rr.regex": "(.*)ers", "transforms.rr.replacement": "$1-v2"},
			&Record{Topic: "ord-v2", Partition: 2, Offset: 9, Timestamp: ts, Key: "k", Value: rec().Value}},
		{"ValueToKey then ExtractField$Key", map[string]string{
			"transforms": "vk,ex", "transforms.vk.type": "ValueToKey", "transforms.vk.fields": "id",
			"transforms.ex.type": "ExtractField$Key", "transforms.ex.field": "id"},
			&Record{Topic: "orders", Partition: 2, Offset: 9, Timestamp: ts, Key: int64(1), Value: rec().Value}},
		{"Filter with matching predicate", map[string]string{
			"transforms": "f", "transforms.f.type": "org.apache.kafka.connect.transforms.Filter", "transforms.f.predicate": "isOrders",
			"predicates": "isOrders", "predicates.isOrders.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
			"predicates.isOrders.pattern": "ord.*"},
			nil},
		{"Filter with negated predicate", map[string]string{
			"transforms": "f", "transforms.f.type": "Filter", "transforms.f.predicate": "isOrders", "transforms.f.negate": "true",
			"predicates": "isOrders", "predicates.isOrders.type": "TopicNameMatches", "predicates.isOrders.pattern": "ord.*"},
			rec()},
		{"predicate gates another transform", map[string]string{
			"transforms": "m", "transforms.m.type": "MaskField$Value", "transforms.m.fields": "card", "transforms.m.predicate": "h",
			"predicates": "h", "predicates.h.type": "HasHeaderKey", "predicates.h.name": "pii"},
			rec()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustChain(t, tc.props).apply(rec())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTransformConfigErrors(t *testing.T) {
	for _, props := range []map[string]string{
		{"transforms": "x", "transforms.x.type": "NoSuch"},
		{"transforms": "x", "transforms.x.type": "MaskField$Value"},
		{"transforms": "x", "transforms.x.type": "ReplaceField$Value", "transforms.x.renames": "a"},
		{"transforms": "x", "transforms.x.type": "Filter", "transforms.x.predicate": "p"},
		{"predicates": "p", "predicates.p.type": "TopicNameMatches"},
	} {
		if _, err := newChain(props); err == nil {
			t.Errorf("%v: no error", props)
		}
	}
}

func TestConverters(t *testing.T) {
	v := map[string]any{"a": int64(1), "b": "x", "c": []any{true, 2.5}, "d": nil}
	for _, class := range []string{JSONConverterClass, "msgpack"} {
		c, err := NewConverter(class, map[string]string{"schemas.enable": "false"}, false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.FromConnect("t", v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ToConnect("t", b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("%s: round trip gave %#v, %v", class, got, err)
		}
	}
	// schemas.enable=true writes Kafka's envelope and reads it back.
	c, _ := NewConverter(JSONConverterClass, nil, false)
	b, _ := c.FromConnect("t", "hello")
	if string(b) != `{"payload":"hello","schema":{"optional":false,"type":"string"}}` {
		t.Fatalf("envelope = %s", b)
	}
	if got, _ := c.ToConnect("t", b); got != "hello" {
		t.Fatalf("read envelope = %v", got)
	}
	if _, err := c.ToConnect("t", []byte("not json")); err == nil {
		t.Fatal("bad JSON converted")
	}
	s, _ := NewConverter(StringConverterClass, nil, false)
	if b, _ := s.FromConnect("t", "x"); string(b) != "x" {
		t.Fatal("string converter")
	}
	by, _ := NewConverter(BytesConverterClass, nil, false)
	if b, _ := by.FromConnect("t", []byte{1, 2}); !reflect.DeepEqual(b, []byte{1, 2}) {
		t.Fatal("bytes converter")
	}
	if _, err := NewConverter("com.example.Nope", nil, false); err == nil {
		t.Fatal("unknown converter accepted")
	}
}

func TestConfigDef(t *testing.T) {
	d := NewConfigDef().
		Define(ConfigKey{Name: "n", Type: Int, Default: "3", Validate: AtLeast(1)}).
		Define(ConfigKey{Name: "mode", Type: String, Default: "a", Validate: OneOf("a", "b")}).
		Define(ConfigKey{Name: "req", Type: String, Required: true}).
		Define(ConfigKey{Name: "l", Type: List}).
		Define(ConfigKey{Name: "flag", Type: Boolean, Default: "false"})
	cfg, err := d.Parse(map[string]string{"req": "x", "l": "a, b,,c", "flag": "TRUE"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Int("n") != 3 || cfg.String("mode") != "a" || !reflect.DeepEqual(cfg.List("l"), []string{"a", "b", "c"}) || !cfg.Bool("flag") {
		t.Fatalf("parsed %+v", cfg)
	}
	_, err = d.Parse(map[string]string{"n": "0", "mode": "c", "flag": "maybe"})
	ce, ok := err.(*ConfigError)
	if !ok || len(ce.Problems) != 4 {
		t.Fatalf("err = %v", err)
	}
}

// Kafka's quickstart connect-standalone.properties is understood.
func TestWorkerConfigFromProperties(t *testing.T) {
	cfg, rest, ignored, err := WorkerConfigFromProperties(WorkerConfig{}, map[string]string{
		"bootstrap.servers":              "localhost:9092",
		"key.converter":                  "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable":   "true",
		"value.converter.schemas.enable": "false",
		"offset.storage.file.filename":   "/tmp/connect.offsets",
		"offset.flush.interval.ms":       "10000",
		"listeners":                      "HTTP://:8083",
		"plugin.path":                    "libs/connect-file-4.0.0.jar",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Brokers) != 1 || cfg.Brokers[0] != "localhost:9092" || cfg.OffsetFlushInterval != 10*time.Second ||
		cfg.ValueConverterProps["schemas.enable"] != "false" || cfg.KeyConverter != JSONConverterClass || rest != ":8083" {
		t.Fatalf("cfg %+v, rest %q", cfg, rest)
	}
	if len(ignored) != 2 {
		t.Fatalf("ignored = %v", ignored)
	}
}
