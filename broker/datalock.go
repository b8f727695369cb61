package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// dataLockFile is locked (flock) by the broker that owns a data directory,
// as Kafka locks each log directory's .lock: two brokers appending to one
// set of segment files would corrupt them. The kernel drops the lock when
// the process exits, however it exits, so a crash leaves nothing to clean.
const dataLockFile = ".lock"

// lockDataDir takes the data directory's lock, or explains who holds it.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, dataLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("broker: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("broker: data directory %s is in use by another broker (it holds %s); stop it or choose another --data-dir: %w",
				dir, path, ErrDataDirLocked)
		}
		return nil, fmt.Errorf("broker: lock %s: %w", path, err)
	}
	return f, nil
}

// ErrDataDirLocked is returned by Start when another broker, in this
// process or another, has the data directory open.
var ErrDataDirLocked = errors.New("data directory locked")
