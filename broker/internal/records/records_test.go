package records

import (
	"bytes"
	"testing"

	"github.com/eddy-streams/eddy/broker/storage"
)

func TestRoundTrip(t *testing.T) {
	in := []Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b")}, {Key: []byte("c"), Value: []byte{}}}
	b := AppendBatch(nil, 1700000000000, in...)
	if n, recs, err := storage.ValidateBatches(b); err != nil || n != 1 || recs != 3 {
		t.Fatalf("storage rejects the batch: %d batches, %d records, %v", n, recs, err)
	}
	b = append(b, AppendBatch(nil, 1, Record{Key: []byte("d"), Value: []byte("4")})...)
	var got []Record
	var offsets []int64
	if err := Each(b, func(o int64, r Record) error {
		got = append(got, r)
		offsets = append(offsets, o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d records", len(got))
	}
	for i, r := range in {
		if !bytes.Equal(got[i].Key, r.Key) || !bytes.Equal(got[i].Value, r.Value) || (got[i].Value == nil) != (r.Value == nil) {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], r)
		}
	}
	if offsets[1] != 1 || offsets[3] != 0 {
		t.Errorf("offsets %v", offsets)
	}
	if err := Each(b[:len(b)-3], func(int64, Record) error { return nil }); err == nil {
		t.Error("truncated input accepted")
	}
}

func TestMarkerAndBatchInfo(t *testing.T) {
	m := AppendMarker(nil, 42, 3, true, 0, 5)
	if _, _, err := storage.ValidateBatches(m); err != nil {
		t.Fatalf("storage rejects the marker: %v", err)
	}
	info, ok := ReadInfo(m)
	if !ok || !info.Control || !info.Transactional || info.ProducerID != 42 || info.ProducerEpoch != 3 {
		t.Fatalf("info %+v", info)
	}
	if typ, ok := ControlType(m); !ok || typ != ControlCommit {
		t.Errorf("control type %d %v", typ, ok)
	}
	if typ, _ := ControlType(AppendMarker(nil, 1, 0, false, 0, 5)); typ != ControlAbort {
		t.Errorf("abort marker reads as %d", typ)
	}
	var n int
	Each(append(m, AppendBatch(nil, 1, Record{Key: []byte("k")})...), func(int64, Record) error { n++; return nil })
	if n != 1 {
		t.Errorf("Each saw %d records, want the data record only", n)
	}
}
