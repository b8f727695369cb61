package storage

import (
	"bytes"
	"testing"
)

// FuzzValidateBatches feeds arbitrary bytes to ValidateBatches. It must never panic, and what it
// accepts Append must store and Read return unchanged apart from the baseOffset fields.
func FuzzValidateBatches(f *testing.F) {
	one := makeBatch(3, 10, 1)
	f.Add(one)
	f.Add(append(bytes.Clone(one), makeBatch(1, 0, 2)...))
	f.Add(one[:40])
	f.Add(one[:len(one)-1])
	bad := bytes.Clone(one)
	bad[offMagic] = 1
	f.Add(bad)
	bad = bytes.Clone(one)
	bad[len(bad)-1]++
	f.Add(bad)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		batches, records, err := ValidateBatches(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ValidateBatches modified its input")
		}
		if err != nil {
			return
		}
		l := openT(t, t.TempDir(), Options{})
		defer l.Close()
		res, err := l.Append(data)
		if err != nil {
			t.Fatalf("ValidateBatches accepted what Append rejects: %v", err)
		}
		if res.Batches != batches || res.Records != records || res.Bytes != len(data) || res.BaseOffset != 0 {
			t.Fatalf("AppendResult %+v, validated %d batches %d records", res, batches, records)
		}
		s, err := l.Read(0, len(data))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		got, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(in) {
			t.Fatalf("read %d bytes, appended %d", len(got), len(in))
		}
		for pos := 0; pos < len(got); {
			size, _, _ := checkHeader(got[pos:], int64(len(got)-pos))
			if size == 0 || !bytes.Equal(got[pos+8:pos+int(size)], in[pos+8:pos+int(size)]) {
				t.Fatalf("batch at %d differs", pos)
			}
			pos += int(size)
		}
	})
}
