// Package state holds the state stores of Eddy's stream processing: typed
// key-value, window and session stores over an ordered byte-level backend,
// with changelogging to a compacted Kafka topic, a write cache, checkpoints
// and restoration. It knows nothing of topologies; the streams task that owns
// a store drives it.
//
// # Layers
//
// From the bottom up:
//
//   - A Backend stores bytes in key order. LevelDB (OpenLevelDB, over
//     github.com/syndtr/goleveldb) is the default and persists in a
//     directory that it locks while open (a second open fails with
//     ErrLocked). Memory (NewMemory) is an ordered skip list with nothing on
//     disk and nothing to lock.
//   - Logged (NewLogged) sends every write to a ChangelogWriter after
//     applying it.
//   - Cache (NewCache) keeps the latest write per key until Flush, so that a
//     key updated many times between commits costs one changelog record;
//     Cache.Saved counts the records saved.
//   - KeyValueStore, WindowStore and SessionStore give typed access to any
//     of these through Serdes.
//
// Store (OpenStore) puts the layers together for one changelog partition and
// runs their lifecycle: open and lock, restore, commit, close.
//
// # Serdes and key order
//
// Stores order entries by their encoded keys, bytewise. The number serdes
// encode in 8 big-endian bytes chosen so that bytes order as numbers do:
// Int64 flips the sign bit, so negative numbers come first; Uint64 is plain
// big-endian; Float64 sets the sign bit of positive numbers and flips every
// bit of negative ones. String and Bytes order bytewise and support prefix
// scans. Msgpack (the default for structs) and JSON keys can be looked up
// but their order means nothing. SerdeFuncs wraps a user's own pair of
// functions.
//
// Windowed keys append 8-byte order-preserving timestamps (milliseconds) to
// the encoded key: key+start for WindowStore, key+end+start for
// SessionStore. A key's windows are therefore contiguous and in time order,
// and fetching them over a time range is one range scan; scans check the key
// length so that key "a" never picks up entries of key "ab".
//
// # Changelog contract
//
// The owner provides a ChangelogWriter for the store's changelog topic
// partition (the package has SaramaChangelogWriter, which produces through
// github.com/IBM/sarama). Send is called with every write that reaches the
// local store; a nil value is a tombstone. Flush returns the offset of the
// last record written once everything sent is acknowledged. The topic should
// be compacted (cleanup.policy=compact): its compacted content is the
// store's content.
//
// # Checkpoint contract
//
// A checkpoint file (Dir/checkpoint) says "the local store reflects the
// changelog up to and including offset N, and nothing else". It is written
// by Store.Commit after the cache is flushed and the changelog has
// acknowledged every write, atomically: temporary file, fsync, rename, fsync
// of the directory. It carries a CRC-32C; a torn, truncated or edited file is
// ignored with a log line.
//
// To keep the promise, OpenStore deletes the checkpoint as soon as it has read
// it, and the first write to the local store after a commit deletes that
// commit's checkpoint before writing. So after a crash at any point there is
// either a checkpoint that is true, and restoration replays only the records
// after it, or none, and OpenStore empties the local store and replays the
// whole changelog. Either way the store ends equal to the changelog's
// compacted content, never ahead of it.
//
// # Restoration
//
// A Restorer reads the changelog partition through sarama from the
// checkpoint (or the start) to the end offset it sees when it begins, and
// applies the records to the local backend in large batches (a tombstone
// deletes), reading the next batch while the previous one is written. Each
// batch is sorted by key and keeps only the last record of each key, which
// leaves the store as applying every record in order would, with less for
// LevelDB to do. It reports records, bytes, rate and ETA through a
// callback and log/slog. NewRestoreConfig gives a sarama configuration
// tuned for it.
//
// # Concurrency
//
// Backends and typed stores are safe for one writer and many readers.
// Iterators are not safe for concurrent use and must be closed; the slices
// they return are valid until the next call to Next.
package state
