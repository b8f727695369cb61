package state

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// backends lists the backends the behaviour suite runs against.
var backends = []struct {
	name string
	open func(t testing.TB) Backend
}{
	{"leveldb", func(t testing.TB) Backend {
		b, err := OpenLevelDB(t.TempDir(), LevelDBOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"memory", func(t testing.TB) Backend {
		b := NewMemory()
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

// forEachBackend runs f once per backend, as a subtest.
func forEachBackend(t *testing.T, f func(t *testing.T, b Backend)) {
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) { f(t, bk.open(t)) })
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func collect(t testing.TB, it Iterator) []string {
	t.Helper()
	var out []string
	for it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	must(t, it.Close())
	return out
}

func TestBackendBasics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		if _, found, err := b.Get([]byte("a")); err != nil || found {
			t.Fatalf("get missing: found=%v err=%v", found, err)
		}
		must(t, b.Put([]byte("a"), []byte("1")))
		must(t, b.Put([]byte("e"), nil))
		v, found, err := b.Get([]byte("a"))
		if err != nil || !found || string(v) != "1" {
			t.Fatalf("get a = %q %v %v", v, found, err)
		}
		v, found, err = b.Get([]byte("e"))
		if err != nil || !found || v == nil || len(v) != 0 {
			t.Fatalf("get empty value = %#v %v %v", v, found, err)
		}
		old, found, err := b.PutIfAbsent([]byte("a"), []byte("2"))
		if err != nil || !found || string(old) != "1" {
			t.Fatalf("put-if-absent existing = %q %v %v", old, found, err)
		}
		if _, found, err = b.PutIfAbsent([]byte("b"), []byte("2")); err != nil || found {
			t.Fatalf("put-if-absent new: found=%v err=%v", found, err)
		}
		must(t, b.Delete([]byte("a")))
		must(t, b.Delete([]byte("never")))
		if _, found, _ := b.Get([]byte("a")); found {
			t.Fatal("a still there after delete")
		}
		if got, want := collect(t, b.Range(nil, nil)), []string{"b=2", "e="}; !slices.Equal(got, want) {
			t.Fatalf("all = %v, want %v", got, want)
		}
		n, err := b.ApproximateCount()
		if err != nil || n != 2 {
			t.Fatalf("count = %d %v, want 2", n, err)
		}
	})
}

func TestBackendOrderingRangesPrefix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		// Insert in a scrambled order; scans must come back sorted.
		keys := []string{"b", "a", "ab", "abc", "b\x00", "c", "\xff", "\xff\xff", "aa", "abd"}
		for i, k := range keys {
			must(t, b.Put([]byte(k), []byte(fmt.Sprint(i))))
		}
		var got []string
		it := b.Range(nil, nil)
		for it.Next() {
			got = append(got, string(it.Key()))
		}
		must(t, it.Close())
		want := slices.Clone(keys)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("order = %q, want %q", got, want)
		}
		keysOf := func(it Iterator) []string {
			var ks []string
			for it.Next() {
				ks = append(ks, string(it.Key()))
			}
			must(t, it.Close())
			return ks
		}
		if got, want := keysOf(b.Range([]byte("ab"), []byte("b\x00"))), []string{"ab", "abc", "abd", "b"}; !slices.Equal(got, want) {
			t.Fatalf("range [ab, b\\0) = %q, want %q", got, want)
		}
		if got, want := keysOf(b.Range([]byte("c"), nil)), []string{"c", "\xff", "\xff\xff"}; !slices.Equal(got, want) {
			t.Fatalf("range [c, end) = %q, want %q", got, want)
		}
		if got, want := keysOf(b.Prefix([]byte("ab"))), []string{"ab", "abc", "abd"}; !slices.Equal(got, want) {
			t.Fatalf("prefix ab = %q, want %q", got, want)
		}
		if got, want := keysOf(b.Prefix([]byte("\xff"))), []string{"\xff", "\xff\xff"}; !slices.Equal(got, want) {
			t.Fatalf("prefix ff = %q, want %q", got, want)
		}
		if got := keysOf(b.Range([]byte("x"), []byte("y"))); len(got) != 0 {
			t.Fatalf("empty range = %q", got)
		}
	})
}

func TestBackendLargeScanAndWriteDuringIteration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		const n = 2000
		for i := n - 1; i >= 0; i-- {
			must(t, b.Put(fmt.Appendf(nil, "k%05d", i), []byte("v")))
		}
		it := b.Prefix([]byte("k"))
		i := 0
		for it.Next() {
			if want := fmt.Sprintf("k%05d", i); string(it.Key()) != want {
				t.Fatalf("key %d = %q, want %q", i, it.Key(), want)
			}
			// The owner may write while iterating.
			must(t, b.Put(fmt.Appendf(nil, "z%05d", i), []byte("w")))
			i++
		}
		must(t, it.Close())
		if i != n {
			t.Fatalf("scanned %d keys, want %d", i, n)
		}
	})
}

func TestBackendBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		must(t, b.Put([]byte("gone"), []byte("x")))
		batch := b.NewBatch()
		batch.Put([]byte("a"), []byte("1"))
		batch.Put([]byte("b"), []byte("2"))
		batch.Delete([]byte("gone"))
		batch.Put([]byte("a"), []byte("3"))
		if batch.Len() != 4 {
			t.Fatalf("batch len = %d", batch.Len())
		}
		must(t, b.Write(batch))
		if got, want := collect(t, b.Range(nil, nil)), []string{"a=3", "b=2"}; !slices.Equal(got, want) {
			t.Fatalf("after batch = %v, want %v", got, want)
		}
		// A batch made by another backend is accepted too.
		other := NewMemory().NewBatch()
		other.Delete([]byte("a"))
		must(t, b.Write(other))
		if got, want := collect(t, b.Range(nil, nil)), []string{"b=2"}; !slices.Equal(got, want) {
			t.Fatalf("after foreign batch = %v, want %v", got, want)
		}
	})
}

func TestBackendClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		must(t, b.Close())
		must(t, b.Close())
		if _, _, err := b.Get([]byte("a")); !errors.Is(err, ErrClosed) {
			t.Fatalf("get after close: %v", err)
		}
		if err := b.Put([]byte("a"), nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("put after close: %v", err)
		}
	})
}

func TestLevelDBLocked(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenLevelDB(dir, LevelDBOptions{})
	must(t, err)
	_, err = OpenLevelDB(dir, LevelDBOptions{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	must(t, a.Close())
	b, err := OpenLevelDB(dir, LevelDBOptions{})
	must(t, err)
	must(t, b.Close())
}

func TestLevelDBPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenLevelDB(dir, LevelDBOptions{})
	must(t, err)
	must(t, a.Put([]byte("k"), []byte("v")))
	must(t, a.Close())
	b, err := OpenLevelDB(dir, LevelDBOptions{})
	must(t, err)
	defer b.Close()
	if v, found, err := b.Get([]byte("k")); err != nil || !found || string(v) != "v" {
		t.Fatalf("after reopen: %q %v %v", v, found, err)
	}
}

func TestKeyValueStoreNumericOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		s := NewKeyValueStore[int64, string](b, Int64{}, String{})
		nums := []int64{5, -1, 0, math.MaxInt64, math.MinInt64, -300, 300, 1 << 40}
		for _, n := range nums {
			must(t, s.Put(n, fmt.Sprint(n)))
		}
		var got []int64
		it := s.All()
		for it.Next() {
			if it.Value() != fmt.Sprint(it.Key()) {
				t.Fatalf("value of %d = %q", it.Key(), it.Value())
			}
			got = append(got, it.Key())
		}
		must(t, it.Close())
		want := slices.Clone(nums)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
		got = got[:0]
		it = s.Range(-300, 6)
		for it.Next() {
			got = append(got, it.Key())
		}
		must(t, it.Close())
		if want := []int64{-300, -1, 0, 5}; !slices.Equal(got, want) {
			t.Fatalf("range [-300, 6) = %v, want %v", got, want)
		}
		if old, found, err := s.PutIfAbsent(5, "x"); err != nil || !found || old != "5" {
			t.Fatalf("put-if-absent = %q %v %v", old, found, err)
		}
		must(t, s.Delete(5))
		if _, found, err := s.Get(5); err != nil || found {
			t.Fatalf("get deleted: %v %v", found, err)
		}
	})
}

func TestKeyValueStoreFloatOrderAndStructs(t *testing.T) {
	type point struct {
		X, Y int
		Name string
	}
	forEachBackend(t, func(t *testing.T, b Backend) {
		s := NewKeyValueStore[float64, point](b, Float64{}, Msgpack[point]{})
		fs := []float64{2.5, -0.5, 0, math.Inf(1), math.Inf(-1), -1e300, 1e-300, -2.5}
		for i, f := range fs {
			must(t, s.Put(f, point{i, -i, fmt.Sprint(f)}))
		}
		var got []float64
		it := s.All()
		for it.Next() {
			if it.Value().Name != fmt.Sprint(it.Key()) {
				t.Fatalf("value of %v = %+v", it.Key(), it.Value())
			}
			got = append(got, it.Key())
		}
		must(t, it.Close())
		want := slices.Clone(fs)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
	})
}

func TestKeyValueStorePrefix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		s := NewKeyValueStore[string, int64](b, String{}, Int64{})
		for i, k := range []string{"user:2", "order:1", "user:10", "user:1", "users"} {
			must(t, s.Put(k, int64(i)))
		}
		var got []string
		it := s.Prefix("user:")
		for it.Next() {
			got = append(got, it.Key())
		}
		must(t, it.Close())
		if want := []string{"user:1", "user:10", "user:2"}; !slices.Equal(got, want) {
			t.Fatalf("prefix = %v, want %v", got, want)
		}
		if n, err := s.ApproximateCount(); err != nil || n != 5 {
			t.Fatalf("count = %d %v", n, err)
		}
	})
}

type windowRow struct {
	key   string
	start int64
	value int64
}

func windowRows(t testing.TB, it *WindowIterator[string, int64]) []windowRow {
	t.Helper()
	var out []windowRow
	for it.Next() {
		out = append(out, windowRow{it.Key(), it.Window().Start, it.Value()})
	}
	must(t, it.Close())
	return out
}

func TestWindowStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		s := NewWindowStore[string, int64](b, String{}, Int64{}, WindowStoreOptions{Size: 10 * time.Millisecond})
		// "a" and "a\x00..." style keys must not bleed into each other.
		for _, r := range []windowRow{
			{"a", 30, 3}, {"a", 10, 1}, {"b", 10, 5}, {"a", 20, 2}, {"ab", 20, 9}, {"a", -10, -1},
		} {
			must(t, s.Put(r.key, r.start, r.value))
		}
		got := windowRows(t, s.Fetch("a", 0, 20))
		if want := []windowRow{{"a", 10, 1}, {"a", 20, 2}}; !slices.Equal(got, want) {
			t.Fatalf("fetch a [0,20] = %v, want %v", got, want)
		}
		got = windowRows(t, s.Fetch("a", math.MinInt64, math.MaxInt64))
		if want := []windowRow{{"a", -10, -1}, {"a", 10, 1}, {"a", 20, 2}, {"a", 30, 3}}; !slices.Equal(got, want) {
			t.Fatalf("fetch a all = %v, want %v", got, want)
		}
		// FetchAll follows the bytes of key+start: "ab"+start sorts before
		// "a"+start because start's first byte is 0x80 or more.
		got = windowRows(t, s.FetchAll(10, 20))
		if want := []windowRow{{"ab", 20, 9}, {"a", 10, 1}, {"a", 20, 2}, {"b", 10, 5}}; !slices.Equal(got, want) {
			t.Fatalf("fetch all [10,20] = %v, want %v", got, want)
		}
		it := s.Fetch("b", 10, 10)
		if !it.Next() || it.Window() != (Window{10, 20}) {
			t.Fatalf("window of b = %+v", it.Window())
		}
		must(t, it.Close())
		if v, found, err := s.Get("a", 20); err != nil || !found || v != 2 {
			t.Fatalf("get a@20 = %d %v %v", v, found, err)
		}
		must(t, s.Delete("a", 20))
		if _, found, _ := s.Get("a", 20); found {
			t.Fatal("a@20 still there")
		}
	})
}

func TestWindowStoreRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		s := NewWindowStore[string, int64](b, String{}, Int64{},
			WindowStoreOptions{Size: 10 * time.Millisecond, Retention: 100 * time.Millisecond})
		for start := int64(0); start <= 300; start += 10 {
			must(t, s.Put("k", start, start))
		}
		if s.StreamTime() != 300 {
			t.Fatalf("stream time = %d", s.StreamTime())
		}
		// Windows starting before 300-100 are expired: never returned...
		got := windowRows(t, s.Fetch("k", 0, 1000))
		if len(got) != 11 || got[0].start != 200 || got[10].start != 300 {
			t.Fatalf("fetch after retention = %v", got)
		}
		if _, found, _ := s.Get("k", 190); found {
			t.Fatal("expired window returned by Get")
		}
		// ...a late put into an expired window is dropped...
		must(t, s.Put("k", 50, 50))
		if s.Dropped() != 1 {
			t.Fatalf("dropped = %d, want 1", s.Dropped())
		}
		// ...and purging deletes them from the backend.
		_, err := s.PurgeExpired()
		must(t, err)
		n, err := b.ApproximateCount()
		must(t, err)
		if n != 11 {
			t.Fatalf("backend holds %d windows after purge, want 11", n)
		}
	})
}

func TestSessionStore(t *testing.T) {
	type row struct {
		key string
		w   Window
		v   string
	}
	rows := func(it *WindowIterator[string, string]) []row {
		var out []row
		for it.Next() {
			out = append(out, row{it.Key(), it.Window(), it.Value()})
		}
		must(t, it.Close())
		return out
	}
	forEachBackend(t, func(t *testing.T, b Backend) {
		s := NewSessionStore[string, string](b, String{}, String{})
		must(t, s.Put("u", Window{0, 10}, "s1"))
		must(t, s.Put("u", Window{20, 25}, "s2"))
		must(t, s.Put("u", Window{40, 60}, "s3"))
		must(t, s.Put("u2", Window{0, 100}, "other"))
		must(t, s.Put("v", Window{5, 30}, "v1"))

		if got, want := rows(s.FindSessions("u", 8, 22)), []row{{"u", Window{0, 10}, "s1"}, {"u", Window{20, 25}, "s2"}}; !slices.Equal(got, want) {
			t.Fatalf("find u [8,22] = %v, want %v", got, want)
		}
		if got, want := rows(s.FindSessions("u", 26, 39)), []row(nil); !slices.Equal(got, want) {
			t.Fatalf("find u [26,39] = %v, want none", got)
		}
		if got := rows(s.Fetch("u")); len(got) != 3 || got[2].v != "s3" {
			t.Fatalf("fetch u = %v", got)
		}
		if got, want := rows(s.FindAll(26, 39)), []row{{"u2", Window{0, 100}, "other"}, {"v", Window{5, 30}, "v1"}}; !slices.Equal(got, want) {
			t.Fatalf("find all [26,39] = %v, want %v", got, want)
		}
		must(t, s.Remove("u", Window{20, 25}))
		if _, found, _ := s.Get("u", Window{20, 25}); found {
			t.Fatal("removed session still there")
		}
		if v, found, err := s.Get("u", Window{40, 60}); err != nil || !found || v != "s3" {
			t.Fatalf("get s3 = %q %v %v", v, found, err)
		}
	})
}

// TestBackendOneWriterManyReaders runs readers against a writer; with -race
// it checks the one-writer, many-readers promise.
func TestBackendOneWriterManyReaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		done := make(chan struct{})
		errs := make(chan error, 3)
		for range 2 {
			go func() {
				for {
					select {
					case <-done:
						errs <- nil
						return
					default:
					}
					it := b.Prefix([]byte("k"))
					var prev []byte
					for it.Next() {
						if prev != nil && string(prev) >= string(it.Key()) {
							errs <- fmt.Errorf("out of order: %q then %q", prev, it.Key())
							it.Close()
							return
						}
						prev = append(prev[:0], it.Key()...)
					}
					if err := it.Close(); err != nil {
						errs <- err
						return
					}
					if _, _, err := b.Get([]byte("k0001")); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for i := range 3000 {
			k := fmt.Appendf(nil, "k%04d", i%500)
			if i%3 == 2 {
				must(t, b.Delete(k))
			} else {
				must(t, b.Put(k, fmt.Append(nil, i)))
			}
		}
		close(done)
		for range 2 {
			must(t, <-errs)
		}
	})
}

// TestLevelDBFlush checks that Flush moves the memtable into a table file
// (so the journal is no longer the only copy), that a store flushed twice in
// a row writes no second table, and that the data reads back after a reopen.
func TestLevelDBFlush(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenLevelDB(dir, LevelDBOptions{})
	must(t, err)
	tables := func() string {
		t.Helper()
		v, err := a.DB().GetProperty("leveldb.num-files-at-level0")
		must(t, err)
		return v
	}
	for i := range 100 {
		must(t, a.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")))
	}
	if n := tables(); n != "0" {
		t.Fatalf("%s level-0 tables before Flush; the writes should still be in the memtable", n)
	}
	must(t, a.Flush())
	if n := tables(); n != "1" {
		t.Fatalf("%s level-0 tables after Flush, want 1", n)
	}
	must(t, a.Flush())
	if n := tables(); n != "1" {
		t.Fatalf("%s level-0 tables after a second Flush with no writes, want still 1", n)
	}
	must(t, a.Close())
	if err := a.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
	b, err := OpenLevelDB(dir, LevelDBOptions{})
	must(t, err)
	defer b.Close()
	if n, err := b.ApproximateCount(); err != nil || n != 100 {
		t.Fatalf("after reopen: %d keys (%v), want 100", n, err)
	}
}
