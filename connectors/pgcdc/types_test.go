package pgcdc_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// typesTable has a column of every type the connector maps, and a few it
// leaves as text.
const typesTable = `(id INTEGER PRIMARY KEY, i2 SMALLINT, i4 INTEGER, i8 BIGINT, f4 REAL, f8 DOUBLE PRECISION, b BOOLEAN,
	n NUMERIC(10,3), nv NUMERIC, t TEXT, vc VARCHAR(10), c CHAR(3), u UUID, j JSON, jb JSONB,
	d DATE, ts TIMESTAMP, tstz TIMESTAMPTZ, tm TIME, by BYTEA, iv INTERVAL, big TEXT)`

const typesRow1 = `(1, -32768, -2147483648, -9223372036854775808, 1.5, -2.25, true,
	-12.345, 123.4500, 'héllo "q"', 'vc', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1,  "a":2}', '{"b": 1, "a": [1, 2.5]}',
	'1969-12-31', '2024-02-29 13:45:30.123456', '2024-02-29 13:45:30.5+02', '23:59:59.999999', '\xdeadbeef', '1 day 02:00:00',
	(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i))`

// The JSON of rows 1 to 3 (less big) by decimal.handling.mode.
var typesWant = map[string][3]string{
	"string": {
		`{"b":true,"by":"3q2+7w==","c":"ab ","d":-1,"f4":1.5,"f8":-2.25,"i2":-32768,"i4":-2147483648,"i8":-9223372036854775808,` +
			`"id":1,"iv":"1 day 02:00:00","j":"{\"b\": 1,  \"a\":2}","jb":"{\"a\": [1, 2.5], \"b\": 1}","n":"-12.345","nv":"123.4500",` +
			`"t":"héllo \"q\"","tm":86399999999,"ts":1709214330123456,"tstz":"2024-02-29T11:45:30.5Z",` +
			`"u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","vc":"vc"}`,
		`{"b":null,"by":null,"c":null,"d":null,"f4":null,"f8":null,"i2":null,"i4":null,"i8":null,"id":2,"iv":null,"j":null,"jb":null,` +
			`"n":null,"nv":null,"t":null,"tm":null,"ts":null,"tstz":null,"u":null,"vc":null}`,
		`{"b":false,"by":"","c":null,"d":"infinity","f4":"Infinity","f8":"NaN","i2":0,"i4":7,"i8":1,"id":3,"iv":null,"j":null,"jb":"[]",` +
			`"n":"0.000","nv":"NaN","t":"","tm":0,"ts":"-infinity","tstz":"1970-01-01T00:00:00Z","u":null,"vc":null}`,
	},
	"double": {
		`"n":-12.345,"nv":123.45,`,
		`"n":null,"nv":null,`,
		`"n":0,"nv":"NaN",`,
	},
	"precise": {
		// -12345 is 0xcfc7; 1234500 is 0x12d644, at scale 4
		`"n":"z8c=","nv":{"scale":4,"value":"EtZE"},`,
		`"n":null,"nv":null,`,
		`"n":"AA==","nv":"NaN",`,
	},
}

// Every mapped type, NULLs, negative numbers, NaN and infinities, inserted,
// updated and deleted, as the JSON the records' before and after become,
// for each decimal.handling.mode. An unchanged TOASTed value in an update
// is Debezium's placeholder.
func TestColumnTypes(t *testing.T) {
	for _, mode := range []string{"string", "double", "precise"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			f.exec(t, "DROP TABLE "+f.table)
			f.exec(t, "CREATE TABLE "+f.table+" "+typesTable)
			f.exec(t, "ALTER TABLE "+f.table+" REPLICA IDENTITY FULL")
			// Row 1 is read by the snapshot, rows 2 and 3 are inserted after.
			f.exec(t, "INSERT INTO "+f.table+" VALUES "+typesRow1)
			props := f.props()
			props["decimal.handling.mode"] = mode
			task := startTask(t, props, &taskOffsets{})
			f.exec(t, "INSERT INTO "+f.table+" (id) VALUES (2)")
			f.exec(t, "INSERT INTO "+f.table+` VALUES (3, 0, 7, 1, 'Infinity', 'NaN', false, 0, 'NaN', '', NULL, NULL, NULL, NULL, '[]',
				'infinity', '-infinity', '1970-01-01 01:00:00+01', '00:00:00', '', NULL, NULL)`)
			f.exec(t, "UPDATE "+f.table+" SET i4 = -1 WHERE id = 1")
			f.exec(t, "DELETE FROM "+f.table+" WHERE id = 3")
			recs := pollN(t, task, 6)
			if got := ids(recs); got != "r(1) c(2) c(3) u(1) d(3) tombstone(3)" {
				t.Fatalf("records %s", got)
			}
			want := typesWant["string"]
			if mode != "string" {
				for i := range want {
					// Swap the numeric columns' values.
					s := typesWant[mode][i]
					want[i] = want[i][:strings.Index(want[i], `"n":`)] + s + want[i][strings.Index(want[i], `"t":`):]
				}
			}
			row := func(i int, which string) map[string]any {
				t.Helper()
				r, ok := recs[i].Value.(map[string]any)[which].(map[string]any)
				if !ok {
					t.Fatalf("record %d has no %s: %v", i, which, recs[i].Value)
				}
				return r
			}
			check := func(what string, r map[string]any, want string, big any) {
				t.Helper()
				if r["big"] != big {
					t.Errorf("%s: big = %.40v, want %.40v", what, r["big"], big)
				}
				delete(r, "big")
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != want {
					t.Errorf("%s:\n got %s\nwant %s", what, b, want)
				}
			}
			var bigText string
			if err := f.conn.QueryRow(t.Context(), "SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i").Scan(&bigText); err != nil {
				t.Fatal(err)
			}
			check("snapshot", row(0, "after"), want[0], bigText)
			check("insert 2", row(1, "after"), want[1], nil)
			check("insert 3", row(2, "after"), want[2], nil)
			check("update before", row(3, "before"), want[0], bigText)
			check("update after", row(3, "after"), strings.Replace(want[0], `"i4":-2147483648`, `"i4":-1`, 1), "__debezium_unavailable_value")
			check("delete before", row(4, "before"), want[2], nil)
			for i, r := range recs {
				if v, ok := r.Value.(map[string]any); ok && (v["op"] == "r" || v["op"] == "c") && v["before"] != nil {
					t.Errorf("record %d: before %v", i, v["before"])
				}
			}
			if v := recs[4].Value.(map[string]any); v["after"] != nil {
				t.Errorf("delete: after %v", v["after"])
			}
		})
	}
}
