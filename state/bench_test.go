package state

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
)

// The benchmarks compare Eddy's LevelDB store with raw goleveldb on the same
// keys and values. Numbers are taken by benchmarks/, not asserted here.

const benchKeys = 1 << 16

func benchKey(buf []byte, i int) []byte {
	// Spread keys over the key space, the same sequence for every benchmark.
	x := uint64(i%benchKeys) * 0x9E3779B97F4A7C15
	return binary.BigEndian.AppendUint64(buf[:0], x)
}

var benchValue = make([]byte, 100)

func openBenchLevelDB(b *testing.B) *LevelDB {
	s, err := OpenLevelDB(filepath.Join(b.TempDir(), "db"), LevelDBOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func openBenchRaw(b *testing.B) *leveldb.DB {
	db, err := leveldb.OpenFile(filepath.Join(b.TempDir(), "raw"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkPut(b *testing.B) {
	b.Run("goleveldb", func(b *testing.B) {
		db := openBenchRaw(b)
		var k []byte
		b.SetBytes(int64(8 + len(benchValue)))
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if err := db.Put(k, benchValue, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eddy-leveldb", func(b *testing.B) {
		s := openBenchLevelDB(b)
		var k []byte
		b.SetBytes(int64(8 + len(benchValue)))
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if err := s.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eddy-kv-leveldb", func(b *testing.B) {
		s := NewKeyValueStore[uint64, []byte](openBenchLevelDB(b), Uint64{}, Bytes{})
		b.SetBytes(int64(8 + len(benchValue)))
		for i := 0; b.Loop(); i++ {
			if err := s.Put(uint64(i%benchKeys)*0x9E3779B97F4A7C15, benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eddy-cache-leveldb", func(b *testing.B) {
		c := NewCache(openBenchLevelDB(b), CacheOptions{})
		var k []byte
		b.SetBytes(int64(8 + len(benchValue)))
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if err := c.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
			if i%10000 == 9999 {
				if err := c.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("eddy-memory", func(b *testing.B) {
		m := NewMemory()
		var k []byte
		b.SetBytes(int64(8 + len(benchValue)))
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if err := m.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	b.Run("goleveldb", func(b *testing.B) {
		db := openBenchRaw(b)
		var k []byte
		for i := range benchKeys {
			k = benchKey(k, i)
			if err := db.Put(k, benchValue, nil); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if _, err := db.Get(k, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eddy-leveldb", func(b *testing.B) {
		s := openBenchLevelDB(b)
		var k []byte
		for i := range benchKeys {
			k = benchKey(k, i)
			if err := s.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if _, found, err := s.Get(k); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
	b.Run("eddy-kv-leveldb", func(b *testing.B) {
		s := NewKeyValueStore[uint64, []byte](openBenchLevelDB(b), Uint64{}, Bytes{})
		for i := range benchKeys {
			if err := s.Put(uint64(i)*0x9E3779B97F4A7C15, benchValue); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; b.Loop(); i++ {
			if _, found, err := s.Get(uint64(i%benchKeys) * 0x9E3779B97F4A7C15); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
	b.Run("eddy-memory", func(b *testing.B) {
		m := NewMemory()
		var k []byte
		for i := range benchKeys {
			k = benchKey(k, i)
			if err := m.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, i)
			if _, found, err := m.Get(k); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
}
