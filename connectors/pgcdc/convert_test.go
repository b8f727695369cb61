package pgcdc

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// numericTypmod is the type modifier of numeric(precision, scale).
func numericTypmod(precision, scale int32) int32 { return (precision<<16 | scale&0x7ff) + 4 }

func TestDecodeText(t *testing.T) {
	const none = -1
	for _, c := range []struct {
		oid    uint32
		typmod int32
		mode   string
		text   string
		want   string // the value's JSON
	}{
		{pgtype.BoolOID, none, "", "t", `true`},
		{pgtype.BoolOID, none, "", "f", `false`},
		{pgtype.Int2OID, none, "", "-32768", `-32768`},
		{pgtype.Int4OID, none, "", "2147483647", `2147483647`},
		{pgtype.Int8OID, none, "", "-9223372036854775808", `-9223372036854775808`},
		{pgtype.OIDOID, none, "", "4294967295", `4294967295`},
		{pgtype.Float4OID, none, "", "0.1", `0.1`},
		{pgtype.Float4OID, none, "", "-3.4028235e+38", `-3.4028235e+38`},
		{pgtype.Float8OID, none, "", "-2.5e-300", `-2.5e-300`},
		{pgtype.Float8OID, none, "", "NaN", `"NaN"`},
		{pgtype.Float8OID, none, "", "-Infinity", `"-Infinity"`},
		{pgtype.Float4OID, none, "", "Infinity", `"Infinity"`},

		{pgtype.NumericOID, numericTypmod(10, 2), "string", "-12.50", `"-12.50"`},
		{pgtype.NumericOID, none, "string", "NaN", `"NaN"`},
		{pgtype.NumericOID, numericTypmod(10, 2), "double", "-12.50", `-12.5`},
		{pgtype.NumericOID, none, "double", "1e2", `100`},
		{pgtype.NumericOID, none, "double", "NaN", `"NaN"`},
		{pgtype.NumericOID, none, "double", "Infinity", `"Infinity"`},
		// precise: base64 of the unscaled value's two's-complement bytes
		{pgtype.NumericOID, numericTypmod(10, 2), "precise", "-12.50", `"+x4="`}, // -1250 = 0xfb1e
		{pgtype.NumericOID, numericTypmod(10, 2), "precise", "1.28", `"AIA="`},   // 128 = 0x0080
		{pgtype.NumericOID, numericTypmod(10, 2), "precise", "0.00", `"AA=="`},
		{pgtype.NumericOID, numericTypmod(10, 0), "precise", "-1", `"/w=="`},
		{pgtype.NumericOID, numericTypmod(5, -2), "precise", "12300", `"ew=="`}, // 123 at scale -2
		{pgtype.NumericOID, numericTypmod(10, 2), "precise", "NaN", `"NaN"`},
		{pgtype.NumericOID, none, "precise", "-0.001", `{"scale":3,"value":"/w=="}`},
		{pgtype.NumericOID, none, "precise", "123.4500", `{"scale":4,"value":"EtZE"}`},
		{pgtype.NumericOID, none, "precise", "7", `{"scale":0,"value":"Bw=="}`},
		{pgtype.NumericOID, none, "precise", "NaN", `"NaN"`},
		{pgtype.NumericOID, none, "precise", "-Infinity", `"-Infinity"`},

		{pgtype.TextOID, none, "", "héllo", `"héllo"`},
		{pgtype.VarcharOID, none, "", "", `""`},
		{pgtype.BPCharOID, none, "", "ab ", `"ab "`},
		{pgtype.UUIDOID, none, "", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{pgtype.JSONOID, none, "", `{"b": 1,  "a":2}`, `"{\"b\": 1,  \"a\":2}"`},
		{pgtype.JSONBOID, none, "", `{"a": [1, 2.5]}`, `"{\"a\": [1, 2.5]}"`},
		{pgtype.JSONBOID, none, "", `null`, `"null"`},

		{pgtype.DateOID, none, "", "1970-01-01", `0`},
		{pgtype.DateOID, none, "", "1969-12-31", `-1`},
		{pgtype.DateOID, none, "", "2024-02-29", `19782`},
		{pgtype.DateOID, none, "", "0001-01-01 BC", `-719528`},
		{pgtype.DateOID, none, "", "10000-01-01", `2932897`},
		{pgtype.DateOID, none, "", "infinity", `"infinity"`},
		{pgtype.DateOID, none, "", "-infinity", `"-infinity"`},
		{pgtype.TimestampOID, none, "", "2024-02-29 13:45:30.123456", `1709214330123456`},
		{pgtype.TimestampOID, none, "", "1970-01-01 00:00:00", `0`},
		{pgtype.TimestampOID, none, "", "1969-12-31 23:59:59.5", `-500000`},
		{pgtype.TimestampOID, none, "", "infinity", `"infinity"`},
		{pgtype.TimestamptzOID, none, "", "2024-02-29 13:45:30.5+02", `"2024-02-29T11:45:30.5Z"`},
		{pgtype.TimestamptzOID, none, "", "2024-02-29 13:45:30-05:30", `"2024-02-29T19:15:30Z"`},
		{pgtype.TimestamptzOID, none, "", "1883-11-18 12:00:00-04:56:02", `"1883-11-18T16:56:02Z"`},
		{pgtype.TimestamptzOID, none, "", "2024-01-01 00:00:00.000001+00", `"2024-01-01T00:00:00.000001Z"`},
		{pgtype.TimestamptzOID, none, "", "0044-03-15 12:00:00+00 BC", `"0044-03-15 12:00:00+00 BC"`},
		{pgtype.TimestamptzOID, none, "", "-infinity", `"-infinity"`},
		{pgtype.TimeOID, none, "", "00:00:00", `0`},
		{pgtype.TimeOID, none, "", "23:59:59.999999", `86399999999`},
		{pgtype.TimeOID, none, "", "12:00:00.5", `43200500000`},
		{pgtype.TimeOID, none, "", "24:00:00", `86400000000`},

		{pgtype.ByteaOID, none, "", `\xdeadBEEF`, `"3q2+7w=="`},
		{pgtype.ByteaOID, none, "", `\x`, `""`},
		{pgtype.ByteaOID, none, "", `\x0`, `"\\x0"`},

		{pgtype.IntervalOID, none, "", "1 day 02:00:00", `"1 day 02:00:00"`},
		{pgtype.TimetzOID, none, "", "12:00:00+02", `"12:00:00+02"`},
		{pgtype.Int4ArrayOID, none, "", "{1,2}", `"{1,2}"`},
		{pgtype.Int4OID, none, "", "x", `"x"`},
	} {
		got, err := json.Marshal(decodeText(column{oid: c.oid, typmod: c.typmod}, []byte(c.text), c.mode))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("type %d (typmod %d, %s) %q: got %s, want %s", c.oid, c.typmod, c.mode, c.text, got, c.want)
		}
	}
}

func TestTwosComplement(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want []byte
	}{
		{0, []byte{0}}, {1, []byte{1}}, {127, []byte{0x7f}}, {128, []byte{0, 0x80}}, {255, []byte{0, 0xff}},
		{256, []byte{1, 0}}, {-1, []byte{0xff}}, {-128, []byte{0x80}}, {-129, []byte{0xff, 0x7f}},
		{-256, []byte{0xff, 0}}, {-257, []byte{0xfe, 0xff}}, {-32768, []byte{0x80, 0}}, {-32769, []byte{0xff, 0x7f, 0xff}},
	} {
		if got := twosComplement(big.NewInt(c.n)); string(got) != string(c.want) {
			t.Errorf("%d: got %x, want %x", c.n, got, c.want)
		}
		// Round trip, as a reader does it.
		got := twosComplement(big.NewInt(c.n))
		v := new(big.Int).SetBytes(got)
		if got[0]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(got))))
		}
		if v.Int64() != c.n {
			t.Errorf("%d: %x reads back as %d", c.n, got, v)
		}
	}
}

func TestNumericScale(t *testing.T) {
	for _, c := range []struct {
		typmod int32
		scale  int32
		ok     bool
	}{{-1, 0, false}, {numericTypmod(10, 2), 2, true}, {numericTypmod(1000, 1000), 1000, true}, {numericTypmod(5, -2), -2, true},
		{numericTypmod(5, -1000), -1000, true}, {numericTypmod(3, 0), 0, true}} {
		if s, ok := numericScale(c.typmod); s != c.scale || ok != c.ok {
			t.Errorf("typmod %d: %d %v, want %d %v", c.typmod, s, ok, c.scale, c.ok)
		}
	}
}
