package state

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint records that a local store reflects its changelog partition up
// to and including Offset.
type Checkpoint struct {
	Topic     string
	Partition int32
	Offset    int64
}

// ErrCorruptCheckpoint marks a checkpoint file that cannot be trusted: torn,
// truncated, edited, or from an unknown version.
var ErrCorruptCheckpoint = errors.New("state: corrupt checkpoint")

const checkpointHeader = "eddy-state-checkpoint 1"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encodeCheckpoints renders the checkpoint file:
//
//	eddy-state-checkpoint 1
//	<topic> <partition> <offset>     (one line per checkpoint)
//	crc32c <8 hex digits>            (over every byte above this line)
func encodeCheckpoints(cps []Checkpoint) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(checkpointHeader + "\n")
	for _, cp := range cps {
		if cp.Topic == "" || strings.ContainsAny(cp.Topic, " \t\r\n") {
			return nil, fmt.Errorf("state: checkpoint: bad topic name %q", cp.Topic)
		}
		fmt.Fprintf(&b, "%s %d %d\n", cp.Topic, cp.Partition, cp.Offset)
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), crcTable))
	return b.Bytes(), nil
}

func decodeCheckpoints(data []byte) ([]Checkpoint, error) {
	corrupt := func(why string) ([]Checkpoint, error) {
		return nil, fmt.Errorf("%w: %s", ErrCorruptCheckpoint, why)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return corrupt("truncated")
	}
	body := data[:len(data)-1]
	i := bytes.LastIndexByte(body, '\n')
	if i < 0 {
		return corrupt("no checksum line")
	}
	sum, ok := strings.CutPrefix(string(body[i+1:]), "crc32c ")
	if !ok {
		return corrupt("no checksum line")
	}
	want, err := strconv.ParseUint(sum, 16, 32)
	if err != nil || len(sum) != 8 {
		return corrupt("bad checksum line")
	}
	if got := crc32.Checksum(data[:i+1], crcTable); got != uint32(want) {
		return corrupt(fmt.Sprintf("checksum %08x, file says %08x", got, want))
	}
	sc := bufio.NewScanner(bytes.NewReader(data[:i+1]))
	if !sc.Scan() || sc.Text() != checkpointHeader {
		return corrupt("unknown header")
	}
	var cps []Checkpoint
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return corrupt("bad line")
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return corrupt("bad number")
		}
		cps = append(cps, Checkpoint{Topic: f[0], Partition: int32(p), Offset: o})
	}
	return cps, nil
}

// WriteCheckpoint replaces the checkpoint file at path atomically: it
// writes a temporary file beside it, fsyncs it, renames it over path and
// fsyncs the directory, so after a crash path holds either the old
// checkpoints or the new ones, never a mix.
func WriteCheckpoint(path string, cps []Checkpoint) error {
	data, err := encodeCheckpoints(cps)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("state: checkpoint: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state: checkpoint: %w", err)
	}
	return syncDir(dir)
}

// RemoveCheckpoint deletes the checkpoint file at path, durably. A missing
// file is not an error.
func RemoveCheckpoint(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: checkpoint: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state: sync dir: %w", err)
	}
	return nil
}

// ReadCheckpoint reads the checkpoint file at path. A missing file gives an
// error that matches os.ErrNotExist; a file that is not exactly as
// WriteCheckpoint wrote it gives one that matches ErrCorruptCheckpoint.
func ReadCheckpoint(path string) ([]Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cps, err := decodeCheckpoints(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cps, nil
}

// LoadCheckpoint reads the checkpoint file at path and returns its entry for
// topic and partition, with ok=false when there is none. A missing file is
// normal; a corrupt one, or one that cannot be read, is logged and treated as
// missing, which leads to a full restoration rather than to wrong state.
func LoadCheckpoint(path, topic string, partition int32, log *slog.Logger) (offset int64, ok bool) {
	if log == nil {
		log = slog.Default()
	}
	cps, err := ReadCheckpoint(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("state: ignoring checkpoint; the store will be restored from the start of its changelog",
				"path", path, "err", err)
		}
		return -1, false
	}
	for _, cp := range cps {
		if cp.Topic == topic && cp.Partition == partition {
			return cp.Offset, true
		}
	}
	return -1, false
}
