package connectors

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Cast, Flatten, TimestampConverter, InsertHeader, DropHeaders and
// HeaderFrom configured with Kafka Connect's keys.
func TestMoreTransforms(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	cases := []struct {
		name   string
		props  map[string]string
		in     Record
		want   any // the value after
		header []Header
	}{
		{"Cast fields", map[string]string{"transforms": "c", "transforms.c.type": "org.apache.kafka.connect.transforms.Cast$Value",
			"transforms.c.spec": "id:string, price:int32, qty:float64, ok:boolean, big:int8"},
			Record{Value: map[string]any{"id": int64(7), "price": "12", "qty": int64(3), "ok": "TRUE", "big": int64(300), "other": "x"}},
			map[string]any{"id": "7", "price": int64(12), "qty": float64(3), "ok": true, "big": int64(44), "other": "x"}, nil},
		{"Cast whole value", map[string]string{"transforms": "c", "transforms.c.type": "Cast$Value", "transforms.c.spec": "int64"},
			Record{Value: "42"}, int64(42), nil},
		{"Cast float to int truncates", map[string]string{"transforms": "c", "transforms.c.type": "Cast$Value", "transforms.c.spec": "int32"},
			Record{Value: -2.7}, int64(-2), nil},
		{"Flatten", map[string]string{"transforms": "f", "transforms.f.type": "org.apache.kafka.connect.transforms.Flatten$Value",
			"transforms.f.delimiter": "_"},
			Record{Value: map[string]any{"a": int64(1), "b": map[string]any{"c": "x", "d": map[string]any{"e": true}}, "l": []any{int64(1)}}},
			map[string]any{"a": int64(1), "b_c": "x", "b_d_e": true, "l": []any{int64(1)}}, nil},
		{"TimestampConverter unix to string", map[string]string{"transforms": "t",
			"transforms.t.type": "org.apache.kafka.connect.transforms.TimestampConverter$Value", "transforms.t.field": "at",
			"transforms.t.target.type": "string", "transforms.t.format": "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"},
			Record{Value: map[string]any{"at": ts.UnixMilli(), "n": int64(1)}},
			map[string]any{"at": "2026-03-04T05:06:07.891Z", "n": int64(1)}, nil},
		{"TimestampConverter string to unix seconds", map[string]string{"transforms": "t", "transforms.t.type": "TimestampConverter$Value",
			"transforms.t.target.type": "unix", "transforms.t.format": "dd/MM/yyyy HH:mm", "transforms.t.unix.precision": "seconds"},
			Record{Value: "04/03/2026 05:06"}, time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC).Unix(), nil},
		{"TimestampConverter to Date", map[string]string{"transforms": "t", "transforms.t.type": "TimestampConverter$Value",
			"transforms.t.target.type": "Date"},
			Record{Value: ts.UnixMilli()}, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), nil},
		{"InsertHeader", map[string]string{"transforms": "h", "transforms.h.type": "org.apache.kafka.connect.transforms.InsertHeader",
			"transforms.h.header": "source", "transforms.h.value.literal": "eddy"},
			Record{Value: "v", Headers: []Header{{"a", []byte("1")}}}, "v", []Header{{"a", []byte("1")}, {"source", []byte("eddy")}}},
		{"DropHeaders", map[string]string{"transforms": "d", "transforms.d.type": "org.apache.kafka.connect.transforms.DropHeaders",
			"transforms.d.headers": "a,c"},
			Record{Value: "v", Headers: []Header{{"a", nil}, {"b", []byte("2")}, {"c", nil}, {"a", nil}}}, "v", []Header{{"b", []byte("2")}}},
		{"HeaderFrom move", map[string]string{"transforms": "h", "transforms.h.type": "org.apache.kafka.connect.transforms.HeaderFrom$Value",
			"transforms.h.fields": "id,meta", "transforms.h.headers": "record-id,record-meta", "transforms.h.operation": "move"},
			Record{Value: map[string]any{"id": "o-1", "meta": map[string]any{"v": int64(2)}, "n": int64(5)}},
			map[string]any{"n": int64(5)}, []Header{{"record-id", []byte("o-1")}, {"record-meta", []byte(`{"v":2}`)}}},
		{"HeaderFrom copy from key", map[string]string{"transforms": "h", "transforms.h.type": "HeaderFrom$Key",
			"transforms.h.fields": "id", "transforms.h.headers": "k", "transforms.h.operation": "copy"},
			Record{Key: map[string]any{"id": int64(9)}, Value: "v"}, "v", []Header{{"k", []byte("9")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.in
			out, err := mustChain(t, c.props).apply(&r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Value, c.want) {
				t.Errorf("value = %#v, want %#v", out.Value, c.want)
			}
			if c.header != nil && !reflect.DeepEqual(out.Headers, c.header) {
				t.Errorf("headers = %q, want %q", out.Headers, c.header)
			}
		})
	}
}

// Bad configs and values are errors that say what is wrong.
func TestMoreTransformsErrors(t *testing.T) {
	for _, c := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"transforms.x.type": "Cast$Value"}, `"spec"`},
		{map[string]string{"transforms.x.type": "Cast$Value", "transforms.x.spec": "a:decimal"}, "Invalid type found in casting spec: decimal"},
		{map[string]string{"transforms.x.type": "Cast$Value", "transforms.x.spec": "int8,a:int16"}, "only specify a single cast"},
		{map[string]string{"transforms.x.type": "TimestampConverter$Value", "transforms.x.target.type": "string"}, "requires format"},
		{map[string]string{"transforms.x.type": "TimestampConverter$Value", "transforms.x.target.type": "epoch"}, "target.type"},
		{map[string]string{"transforms.x.type": "TimestampConverter$Value", "transforms.x.target.type": "unix", "transforms.x.unix.precision": "days"}, "unix.precision"},
		{map[string]string{"transforms.x.type": "InsertHeader", "transforms.x.header": "h"}, `"value.literal"`},
		{map[string]string{"transforms.x.type": "DropHeaders"}, `"headers"`},
		{map[string]string{"transforms.x.type": "HeaderFrom$Value", "transforms.x.fields": "a,b", "transforms.x.headers": "h", "transforms.x.operation": "copy"}, "same number"},
		{map[string]string{"transforms.x.type": "HeaderFrom$Value", "transforms.x.fields": "a", "transforms.x.headers": "h", "transforms.x.operation": "steal"}, "move, copy"},
	} {
		c.props["transforms"] = "x"
		if _, err := newChain(c.props); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %s", c.props, err, c.want)
		}
	}
	for _, c := range []struct {
		props map[string]string
		value any
		want  string
	}{
		{map[string]string{"transforms.x.type": "Cast$Value", "transforms.x.spec": "int32"}, "twelve", `cannot cast "twelve" to int32`},
		{map[string]string{"transforms.x.type": "Cast$Value", "transforms.x.spec": "int32"}, map[string]any{}, "only primitive types"},
		{map[string]string{"transforms.x.type": "TimestampConverter$Value", "transforms.x.target.type": "unix", "transforms.x.format": "yyyy-MM-dd"}, "March 4", "could not parse"},
		{map[string]string{"transforms.x.type": "Flatten$Value"}, "text", "only a map/struct"},
	} {
		c.props["transforms"] = "x"
		r := Record{Value: c.value}
		if _, err := mustChain(t, c.props).apply(&r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v on %v: error %v, want one mentioning %s", c.props, c.value, err, c.want)
		}
	}
}

func TestJavaLayout(t *testing.T) {
	for p, want := range map[string]string{
		"yyyyMMdd":                     "20060102",
		"yyyy-MM-dd'T'HH:mm:ss.SSSXXX": "2006-01-02T15:04:05.000Z07:00",
		"dd MMM yyyy 'at' h:mm a":      "02 Jan 2006 at 3:04 PM",
		"HH 'o''clock'":                "15 o'clock",
	} {
		if got := javaLayout(p); got != want {
			t.Errorf("javaLayout(%q) = %q, want %q", p, got, want)
		}
	}
}
