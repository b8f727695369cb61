package state

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	cps := []Checkpoint{{"app-store-changelog", 3, 12345}, {"other", 0, -1}}
	must(t, WriteCheckpoint(path, cps))
	got, err := ReadCheckpoint(path)
	must(t, err)
	if !slices.Equal(got, cps) {
		t.Fatalf("read %v, want %v", got, cps)
	}
	if off, ok := LoadCheckpoint(path, "app-store-changelog", 3, nil); !ok || off != 12345 {
		t.Fatalf("load = %d %v", off, ok)
	}
	if _, ok := LoadCheckpoint(path, "app-store-changelog", 4, nil); ok {
		t.Fatal("loaded a partition that is not in the file")
	}
	// Rewriting replaces; no temporary files are left behind.
	must(t, WriteCheckpoint(path, cps[:1]))
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files after rewrite", len(entries))
	}
	must(t, RemoveCheckpoint(path))
	must(t, RemoveCheckpoint(path))
	if _, err := ReadCheckpoint(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read removed: %v", err)
	}
	if err := WriteCheckpoint(path, []Checkpoint{{"bad topic", 0, 1}}); err == nil {
		t.Fatal("wrote a topic name with a space")
	}
}

// TestCheckpointCorruption feeds every truncation and every single-bit flip
// of a valid file to the reader: each must be rejected as corrupt, never read
// as a different offset.
func TestCheckpointCorruption(t *testing.T) {
	good, err := encodeCheckpoints([]Checkpoint{{"t", 0, 987654321}})
	must(t, err)
	check := func(name string, data []byte) {
		cps, err := decodeCheckpoints(data)
		if err == nil {
			if slices.Equal(cps, []Checkpoint{{"t", 0, 987654321}}) {
				return // a flip that changed nothing visible cannot happen, but be exact
			}
			t.Fatalf("%s: accepted %v", name, cps)
		}
		if !errors.Is(err, ErrCorruptCheckpoint) {
			t.Fatalf("%s: error %v is not ErrCorruptCheckpoint", name, err)
		}
	}
	for n := range len(good) {
		check("truncated", good[:n])
	}
	for i := range len(good) {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			if bytes.Equal(b, good) {
				continue
			}
			cps, err := decodeCheckpoints(b)
			if err == nil && !slices.Equal(cps, []Checkpoint{{"t", 0, 987654321}}) {
				t.Fatalf("flip byte %d bit %d: accepted %v", i, bit, cps)
			}
		}
	}
	check("garbage", []byte("hello\n"))
	check("other version", []byte(strings.Replace(string(good), " 1\n", " 2\n", 1)))
}

// TestCorruptCheckpointLeadsToFullRestore: a store whose checkpoint is torn
// must not trust its local content; it logs, empties itself and (with a
// restorer) replays the whole changelog.
func TestCorruptCheckpointLeadsToFullRestore(t *testing.T) {
	dir := t.TempDir()
	log := &fakeChangelog{}
	opts := StoreOptions{Dir: dir, Topic: "chg", Partition: 0, Writer: log}
	s, err := OpenStore(context.Background(), opts)
	must(t, err)
	must(t, s.Backend().Put([]byte("a"), []byte("1")))
	must(t, s.Commit(context.Background()))
	if s.Position() != 0 {
		t.Fatalf("position after one record = %d", s.Position())
	}
	must(t, s.Close())

	// A good checkpoint keeps the local content.
	s, err = OpenStore(context.Background(), opts)
	must(t, err)
	if got := collect(t, s.Backend().Range(nil, nil)); !slices.Equal(got, []string{"a=1"}) {
		t.Fatalf("after reopen with checkpoint: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint still there after open: %v", err)
	}
	must(t, s.Commit(context.Background()))
	must(t, s.Close())

	// Tear the checkpoint: the store is emptied, with a log line.
	ck := filepath.Join(dir, "checkpoint")
	data, err := os.ReadFile(ck)
	must(t, err)
	must(t, os.WriteFile(ck, data[:len(data)-3], 0o644))
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err = OpenStore(context.Background(), opts)
	must(t, err)
	defer s.Close()
	if got := collect(t, s.Backend().Range(nil, nil)); len(got) != 0 {
		t.Fatalf("store kept %q despite a corrupt checkpoint", got)
	}
	if !strings.Contains(logs.String(), "ignoring checkpoint") || !strings.Contains(logs.String(), "corrupt checkpoint") {
		t.Fatalf("no log line about the corrupt checkpoint; logs:\n%s", logs.String())
	}
}

func TestStoreDirectoryLocked(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenStore(context.Background(), StoreOptions{Dir: dir})
	must(t, err)
	defer a.Close()
	_, err = OpenStore(context.Background(), StoreOptions{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the directory", err)
	}
}
