package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirLocked: a second broker on a data directory in use is refused
// with ErrDataDirLocked and a message naming the directory; once the first
// broker closes, the directory can be opened again. (A killed broker's lock
// goes with its process: the SIGKILL tests restart on the same directory.)
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	first := startBroker(t, func(c *Config) { c.DataDir = dir })
	ctx := testCtx(t)
	second, err := Start(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err == nil {
		second.Close()
		t.Fatal("a second broker opened a data directory in use")
	}
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second broker: %v, want ErrDataDirLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatalf("start after the first broker closed: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirVersions: a data directory whose meta.properties or
// topics.json has a format version this broker does not know is refused at
// start with a message naming the file, never misread.
func TestDataDirVersions(t *testing.T) {
	for _, c := range []struct{ file, from, to string }{
		{metaFile, "version=1", "version=2"},
		{topicsFile, `"version": 1`, `"version": 2`},
	} {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			b := startBroker(t, func(cfg *Config) { cfg.DataDir = dir })
			createTopic(t, testCtx(t), newKgoClient(t, b.Addr()), "kept", 1)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), c.from) {
				t.Fatalf("%s does not contain %s:\n%s", c.file, c.from, data)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(data), c.from, c.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			b2, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger()})
			if err == nil {
				b2.Close()
				t.Fatalf("a broker started on a %s of an unknown version", c.file)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "version") {
				t.Errorf("error %q does not name %s and its version", err, path)
			}
		})
	}
}
