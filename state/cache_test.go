package state

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// fakeChangelog is a ChangelogWriter that keeps records in memory.
type fakeChangelog struct {
	mu      sync.Mutex
	records []fakeRecord
}

type fakeRecord struct {
	key, value []byte // value nil: tombstone
}

func (f *fakeChangelog) Send(key, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := fakeRecord{key: bytes.Clone(key)}
	if value != nil {
		r.value = append([]byte{}, value...)
	}
	f.records = append(f.records, r)
	return nil
}

func (f *fakeChangelog) Flush(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.records)) - 1, nil
}

// compacted is the changelog's content after compaction, as "k=v" lines.
func (f *fakeChangelog) compacted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string][]byte{}
	for _, r := range f.records {
		if r.value == nil {
			delete(m, string(r.key))
		} else {
			m[string(r.key)] = r.value
		}
	}
	var out []string
	for k, v := range m {
		out = append(out, k+"="+string(v))
	}
	slices.Sort(out)
	return out
}

func TestCacheDedupesBetweenFlushes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		log := &fakeChangelog{}
		c := NewCache(NewLogged(b, log), CacheOptions{})
		s := NewKeyValueStore[string, int64](c, String{}, Int64{})
		for i := range 100 {
			must(t, s.Put(fmt.Sprint("k", i%10), int64(i)))
		}
		must(t, s.Delete("k0"))
		must(t, s.Put("k0", 7))
		if len(log.records) != 0 {
			t.Fatalf("changelog got %d records before the flush", len(log.records))
		}
		// 102 writes to 10 keys: 92 absorbed.
		if c.Saved() != 92 {
			t.Fatalf("saved = %d, want 92", c.Saved())
		}
		// Reads see cached writes.
		if v, found, err := s.Get("k3"); err != nil || !found || v != 93 {
			t.Fatalf("get k3 = %d %v %v", v, found, err)
		}
		must(t, c.Flush())
		if len(log.records) != 10 || c.Flushed() != 10 {
			t.Fatalf("changelog got %d records, flushed %d, want 10", len(log.records), c.Flushed())
		}
		if got, want := log.compacted(), collect(t, b.Range(nil, nil)); !slices.Equal(got, want) {
			t.Fatalf("changelog %q != store %q", got, want)
		}
		must(t, c.Flush()) // nothing to do
		if len(log.records) != 10 {
			t.Fatalf("empty flush sent records")
		}
	})
}

func TestCacheReadsMergeWithBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		for _, k := range []string{"a", "c", "e", "g"} {
			must(t, b.Put([]byte(k), []byte("old")))
		}
		c := NewCache(b, CacheOptions{})
		must(t, c.Put([]byte("b"), []byte("new"))) // only in cache
		must(t, c.Put([]byte("c"), []byte("new"))) // shadows the backend
		must(t, c.Delete([]byte("e")))             // hides the backend's
		must(t, c.Delete([]byte("f")))             // deletes nothing
		must(t, c.Put([]byte("h"), []byte("new"))) // after the backend's last
		want := []string{"a=old", "b=new", "c=new", "g=old", "h=new"}
		if got := collect(t, c.Range(nil, nil)); !slices.Equal(got, want) {
			t.Fatalf("merged scan = %q, want %q", got, want)
		}
		if got, want := collect(t, c.Range([]byte("b"), []byte("g"))), []string{"b=new", "c=new"}; !slices.Equal(got, want) {
			t.Fatalf("merged range = %q, want %q", got, want)
		}
		if _, found, _ := c.Get([]byte("e")); found {
			t.Fatal("deleted key visible through the cache")
		}
		if _, found, err := c.PutIfAbsent([]byte("e"), []byte("again")); err != nil || found {
			t.Fatalf("put-if-absent over a cached delete: found=%v err=%v", found, err)
		}
		if old, found, _ := c.PutIfAbsent([]byte("a"), []byte("x")); !found || string(old) != "old" {
			t.Fatalf("put-if-absent over a backend key = %q %v", old, found)
		}
		must(t, c.Flush())
		want = []string{"a=old", "b=new", "c=new", "e=again", "g=old", "h=new"}
		if got := collect(t, b.Range(nil, nil)); !slices.Equal(got, want) {
			t.Fatalf("backend after flush = %q, want %q", got, want)
		}
	})
}

func TestCacheFlushesWhenFull(t *testing.T) {
	log := &fakeChangelog{}
	c := NewCache(NewLogged(NewMemory(), log), CacheOptions{MaxBytes: 1000})
	for i := range 200 {
		must(t, c.Put(fmt.Appendf(nil, "key%03d", i), make([]byte, 10)))
	}
	if len(log.records) == 0 {
		t.Fatal("a full cache did not flush")
	}
	must(t, c.Flush())
	if len(log.records) != 200 {
		t.Fatalf("changelog has %d records, want 200", len(log.records))
	}
}

func TestLoggedSendsEveryWrite(t *testing.T) {
	log := &fakeChangelog{}
	l := NewLogged(NewMemory(), log)
	must(t, l.Put([]byte("a"), nil))
	must(t, l.Delete([]byte("a")))
	if _, found, err := l.PutIfAbsent([]byte("b"), []byte("1")); err != nil || found {
		t.Fatal(found, err)
	}
	if _, found, err := l.PutIfAbsent([]byte("b"), []byte("2")); err != nil || !found {
		t.Fatal(found, err)
	}
	batch := l.NewBatch()
	batch.Put([]byte("c"), []byte("3"))
	batch.Delete([]byte("b"))
	must(t, l.Write(batch))
	got := fmt.Sprintf("%q", log.records)
	want := `[{"a" ""} {"a" ""} {"b" "1"} {"c" "3"} {"b" ""}]`
	if got != want {
		t.Fatalf("records = %s, want %s", got, want)
	}
	// Put(nil) is an empty value, Delete a tombstone.
	if log.records[0].value == nil || log.records[1].value != nil || log.records[4].value != nil {
		t.Fatalf("tombstones wrong: %#v", log.records)
	}
}
