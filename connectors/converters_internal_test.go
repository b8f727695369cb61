package connectors

import "testing"

// Every Go number kind a connector or transform may hand over gets the
// Connect schema type that holds it, not a string schema.
func TestInferSchemaNumberKinds(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{int8(-3), "int8"}, {int16(-300), "int16"}, {int32(-70000), "int32"}, {int64(1) << 40, "int64"}, {7, "int64"},
		{uint8(200), "int16"}, {uint16(60000), "int32"}, {uint32(1) << 31, "int64"}, {uint64(1), "int64"}, {uint(1), "int64"},
		{float32(1.5), "float"}, {2.5, "double"},
	} {
		if got := inferSchema(c.v)["type"]; got != c.want {
			t.Errorf("inferSchema(%T %v) type = %v, want %s", c.v, c.v, got, c.want)
		}
	}
	s := inferSchema(map[string]any{"small": int16(1), "big": int64(2)})
	fields := s["fields"].([]any)
	if len(fields) != 2 || fields[0].(map[string]any)["type"] != "int64" || fields[1].(map[string]any)["type"] != "int16" {
		t.Errorf("struct fields %v, want big int64 and small int16", fields)
	}
}
