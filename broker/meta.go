package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// metaFile is Kafka's name for the file that ties a data directory to a
// cluster and a node; keeping it means a directory can't be mixed up with
// another cluster's by accident.
const metaFile = "meta.properties"

// loadOrCreateMeta reads the cluster id from dir/meta.properties, creating
// the file with a fresh id on first start. A file written for another
// node.id is refused, as Kafka refuses it.
func loadOrCreateMeta(dir string, nodeID int32) (clusterID string, err error) {
	path := filepath.Join(dir, metaFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		clusterID = newClusterID()
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "# written by eddy; do not edit\nversion=1\ncluster.id=%s\nnode.id=%d\n", clusterID, nodeID)
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			return "", fmt.Errorf("broker: write %s: %w", path, err)
		}
		return clusterID, nil
	}
	if err != nil {
		return "", fmt.Errorf("broker: read %s: %w", path, err)
	}
	props := parseProperties(data)
	if v := props["version"]; v != "1" {
		return "", fmt.Errorf("broker: %s has version %q; this broker reads version 1: run the Eddy version that wrote it", path, v)
	}
	clusterID = props["cluster.id"]
	if clusterID == "" {
		return "", fmt.Errorf("broker: %s has no cluster.id; restore it or move the data directory away", path)
	}
	if s, ok := props["node.id"]; ok {
		id, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return "", fmt.Errorf("broker: %s: bad node.id %q", path, s)
		}
		if int32(id) != nodeID {
			return "", fmt.Errorf("broker: data directory %s belongs to node.id %d, not %d", dir, id, nodeID)
		}
	}
	return clusterID, nil
}

// parseProperties reads Java-style key=value lines, ignoring comments.
func parseProperties(data []byte) map[string]string {
	props := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return props
}

// newClusterID returns a random id in Kafka's format: a UUID in unpadded
// URL-safe base64 (22 characters).
func newClusterID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(u[:])
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content: write a temporary file, fsync it, rename it over
// path and fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
