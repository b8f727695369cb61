package broker

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eddy-streams/eddy/broker/storage"
)

// topicsFile records every topic's name, id, partition count and configs.
// It is the source of truth for which partition directories are live:
// a directory it does not name is a leftover of an interrupted create or
// delete and is removed at start-up.
const topicsFile = "topics.json"

// maxTopicNameLen is Kafka's limit (249) on topic names.
const maxTopicNameLen = 249

var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validateTopicName applies Kafka's rules for topic names.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return errors.New("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("topic name is %d characters long, more than the %d allowed", len(name), maxTopicNameLen)
	case !legalTopicName.MatchString(name):
		return fmt.Errorf("topic name %q contains characters other than ASCII letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

type topicID = [16]byte

// topic is one topic's metadata and partitions.
type topic struct {
	name       string
	id         topicID
	configs    map[string]string // replaced, never mutated, under topicRegistry.mu (setConfigs)
	partitions []*partition      // replaced, never mutated, under topicRegistry.mu

	// live is the effective configuration (configs over broker defaults), recomputed by
	// topicRegistry.onChange whenever configs or partitions change.
	live atomic.Pointer[logConfig]
}

// partition is one partition of a topic: its log, and the fetches waiting
// for it to grow.
type partition struct {
	topic string
	index int32
	log   *storage.Log

	producers producerState

	// waitMu guards waiters: one channel (buffer 1) per long-polling
	// fetch, signalled without blocking after every append.
	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{}
}

// appended wakes the fetches waiting for new data in p.
func (p *partition) appended() {
	p.waitMu.Lock()
	for w := range p.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

// addWaiter makes appended signal w until removeWaiter.
func (p *partition) addWaiter(w chan struct{}) {
	p.waitMu.Lock()
	if p.waiters == nil {
		p.waiters = make(map[chan struct{}]struct{})
	}
	p.waiters[w] = struct{}{}
	p.waitMu.Unlock()
}

func (p *partition) removeWaiter(w chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, w)
	p.waitMu.Unlock()
}

// topicRegistry owns the topics and their partition logs.
type topicRegistry struct {
	dir  string
	opts storage.Options
	log  *slog.Logger

	// mu guards byName and byID, the partitions slices of the topics
	// in them, and writes of topicsFile.
	mu     sync.RWMutex
	byName map[string]*topic
	byID   map[topicID]*topic

	// busy names the topics being created, grown or deleted. Those
	// operations open or remove files without holding mu, so produce and
	// fetch never wait behind them; busy keeps two of them on one name
	// apart.
	busy map[string]bool

	// onChange, set once by the broker before serving, is called with mu held whenever a
	// topic's configs or partitions change, to apply live settings to its logs.
	onChange func(t *topic)
}

type topicRecord struct {
	Name       string            `json:"name"`
	ID         []byte            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// topicsVersion is the format of topics.json this broker writes and reads;
// a file of another version is refused rather than misread.
const topicsVersion = 1

type topicsDoc struct {
	Version int           `json:"version"`
	Topics  []topicRecord `json:"topics"`
}

func partitionDir(dataDir, topic string, p int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(p)))
}

func openTopicRegistry(dir string, opts storage.Options, log *slog.Logger) (*topicRegistry, error) {
	r := &topicRegistry{
		dir:    dir,
		opts:   opts,
		log:    log,
		byName: make(map[string]*topic),
		byID:   make(map[topicID]*topic),
		busy:   make(map[string]bool),
	}
	path := filepath.Join(dir, topicsFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("broker: read %s: %w", path, err)
	default:
		var doc topicsDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("broker: %s is corrupt (%v); restore it from a backup or move the data directory away", path, err)
		}
		if doc.Version != topicsVersion {
			return nil, fmt.Errorf("broker: %s has format version %d; this broker reads version %d: run the Eddy version that wrote it",
				path, doc.Version, topicsVersion)
		}
		for _, rec := range doc.Topics {
			if len(rec.ID) != 16 || validateTopicName(rec.Name) != nil || rec.Partitions <= 0 {
				return nil, fmt.Errorf("broker: %s: bad entry for topic %q", path, rec.Name)
			}
			t := &topic{name: rec.Name, configs: rec.Configs}
			copy(t.id[:], rec.ID)
			for i := range rec.Partitions {
				p, err := r.openPartition(rec.Name, i)
				if err != nil {
					r.close()
					return nil, err
				}
				t.partitions = append(t.partitions, p)
			}
			r.byName[t.name] = t
			r.byID[t.id] = t
		}
	}
	r.removeOrphans()
	return r, nil
}

func (r *topicRegistry) openPartition(topic string, index int32) (*partition, error) {
	opts := r.opts
	opts.Logger = r.log.With("topic", topic, "partition", index)
	l, err := storage.Open(partitionDir(r.dir, topic, index), opts)
	if err != nil {
		return nil, fmt.Errorf("broker: open partition %s-%d: %w", topic, index, err)
	}
	p := &partition{topic: topic, index: index, log: l}
	if err := p.loadProducerState(); err != nil {
		l.Close()
		return nil, fmt.Errorf("broker: open partition %s-%d: %w", topic, index, err)
	}
	return p, nil
}

var partitionDirName = regexp.MustCompile(`^(.+)-([0-9]+)$`)

// removeOrphans deletes partition directories that topicsFile does not
// name: leftovers of a create that crashed before it was recorded, or of a
// delete that crashed before its directories were gone. Keeping them would
// let a re-created topic inherit old records.
func (r *topicRegistry) removeOrphans() {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		r.log.Warn("cannot list data directory for leftovers", "dir", r.dir, "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if strings.HasSuffix(name, deleteSuffix) {
			r.removeDir(filepath.Join(r.dir, name), "deleted topic")
			continue
		}
		m := partitionDirName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		idx, err := strconv.Atoi(m[2])
		if t := r.byName[m[1]]; t != nil && err == nil && idx < len(t.partitions) {
			continue
		}
		r.removeDir(filepath.Join(r.dir, name), "partition directory of no known topic")
	}
}

const deleteSuffix = ".eddy-delete"

func (r *topicRegistry) removeDir(path, why string) {
	r.log.Warn("removing leftover directory", "dir", path, "reason", why)
	if err := os.RemoveAll(path); err != nil {
		r.log.Error("remove leftover directory", "dir", path, "err", err)
	}
}

// persistLocked writes topicsFile. REQUIRES: r.mu held for writing.
func (r *topicRegistry) persistLocked() error {
	doc := topicsDoc{Version: topicsVersion}
	for _, t := range r.byName {
		doc.Topics = append(doc.Topics, topicRecord{
			Name: t.name, ID: t.id[:], Partitions: int32(len(t.partitions)), Configs: t.configs,
		})
	}
	sort.Slice(doc.Topics, func(i, j int) bool { return doc.Topics[i].Name < doc.Topics[j].Name })
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(r.dir, topicsFile), data); err != nil {
		return fmt.Errorf("broker: record topics: %w", err)
	}
	return nil
}

var (
	errTopicExists  = errors.New("topic already exists")
	errUnknownTopic = errors.New("unknown topic")
)

// create makes a topic with n partitions. It returns errTopicExists, with
// the topic, if it is already there (with a nil topic if it is still being
// created or deleted).
func (r *topicRegistry) create(name string, n int32, configs map[string]string) (*topic, error) {
	r.mu.Lock()
	if t, ok := r.byName[name]; ok {
		r.mu.Unlock()
		return t, errTopicExists
	}
	if r.busy[name] {
		r.mu.Unlock()
		return nil, errTopicExists
	}
	r.busy[name] = true
	r.mu.Unlock()

	t := &topic{name: name, configs: configs}
	rand.Read(t.id[:])
	parts, err := r.openPartitions(name, 0, n)

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.busy, name)
	if err != nil {
		return nil, err
	}
	t.partitions = parts
	if r.onChange != nil {
		r.onChange(t)
	}
	r.byName[name] = t
	r.byID[t.id] = t
	if err := r.persistLocked(); err != nil {
		delete(r.byName, name)
		delete(r.byID, t.id)
		deletePartitions(parts)
		return nil, err
	}
	r.log.Info("topic created", "topic", name, "partitions", n)
	return t, nil
}

// openPartitions opens partitions [from, to) of topic; on error it removes
// the ones it opened.
func (r *topicRegistry) openPartitions(topic string, from, to int32) ([]*partition, error) {
	var parts []*partition
	for i := from; i < to; i++ {
		p, err := r.openPartition(topic, i)
		if err != nil {
			deletePartitions(parts)
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func deletePartitions(parts []*partition) {
	for _, p := range parts {
		p.log.Delete()
	}
}

var errTopicBusy = errors.New("topic is being created, changed or deleted; retry")

// addPartitions grows topic name to total partitions.
func (r *topicRegistry) addPartitions(name string, total int32) error {
	r.mu.Lock()
	t, ok := r.byName[name]
	switch {
	case !ok:
		r.mu.Unlock()
		return errUnknownTopic
	case r.busy[name]:
		r.mu.Unlock()
		return errTopicBusy
	}
	r.busy[name] = true
	have := int32(len(t.partitions))
	r.mu.Unlock()

	added, err := r.openPartitions(name, have, total)

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.busy, name)
	if err != nil {
		return err
	}
	old := t.partitions
	t.partitions = append(append([]*partition(nil), old...), added...)
	if r.onChange != nil {
		r.onChange(t)
	}
	if err := r.persistLocked(); err != nil {
		t.partitions = old
		deletePartitions(added)
		return err
	}
	r.log.Info("partitions added", "topic", name, "from", len(old), "to", total)
	return nil
}

// delete removes a topic: first from topicsFile (so a crash afterwards
// cannot bring it back; removeOrphans finishes the job), then its
// partition directories.
func (r *topicRegistry) delete(name string) error {
	r.mu.Lock()
	t, ok := r.byName[name]
	switch {
	case !ok:
		r.mu.Unlock()
		return errUnknownTopic
	case r.busy[name]:
		r.mu.Unlock()
		return errTopicBusy
	}
	delete(r.byName, name)
	delete(r.byID, t.id)
	if err := r.persistLocked(); err != nil {
		r.byName[name] = t
		r.byID[t.id] = t
		r.mu.Unlock()
		return err
	}
	// busy keeps a create of the same name from opening the directories
	// while they are being removed.
	r.busy[name] = true
	r.mu.Unlock()
	for _, p := range t.partitions {
		if err := p.log.Delete(); err != nil {
			r.log.Warn("delete partition log", "topic", name, "partition", p.index, "err", err)
		}
		p.appended() // wake fetches so they notice the topic is gone
	}
	r.mu.Lock()
	delete(r.busy, name)
	r.mu.Unlock()
	r.log.Info("topic deleted", "topic", name)
	return nil
}

// setConfigs replaces topic name's configs (AlterConfigs), persists them and applies them live.
func (r *topicRegistry) setConfigs(name string, configs map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.byName[name]
	if !ok {
		return errUnknownTopic
	}
	old := t.configs
	t.configs = configs
	if err := r.persistLocked(); err != nil {
		t.configs = old
		return err
	}
	if r.onChange != nil {
		r.onChange(t)
	}
	r.log.Info("topic configs changed", "topic", name, "configs", configs)
	return nil
}

// configsOf returns t's configs (a map the caller must not modify).
func (r *topicRegistry) configsOf(t *topic) map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return t.configs
}

// setOnChange installs the broker's hook and applies it to every topic already open.
func (r *topicRegistry) setOnChange(f func(t *topic)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onChange = f
	for _, t := range r.byName {
		f(t)
	}
}

func (r *topicRegistry) get(name string) *topic {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

func (r *topicRegistry) getByID(id topicID) *topic {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[id]
}

// partition returns partition idx of topic name, or nil.
func (r *topicRegistry) partition(name string, idx int32) *partition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t := r.byName[name]
	if t == nil || idx < 0 || int(idx) >= len(t.partitions) {
		return nil
	}
	return t.partitions[idx]
}

// partitionsOf returns a snapshot of t's partitions.
func (r *topicRegistry) partitionsOf(t *topic) []*partition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return t.partitions
}

// all returns a snapshot of every topic, sorted by name.
func (r *topicRegistry) all() []*topic {
	r.mu.RLock()
	ts := make([]*topic, 0, len(r.byName))
	for _, t := range r.byName {
		ts = append(ts, t)
	}
	r.mu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	return ts
}

func (r *topicRegistry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byName)
}

// close closes every partition log (fsyncing it).
func (r *topicRegistry) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, t := range r.byName {
		for _, p := range t.partitions {
			if err := p.saveProducerState(); err != nil {
				errs = append(errs, fmt.Errorf("save producer state of %s-%d: %w", t.name, p.index, err))
			}
			if err := p.log.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s-%d: %w", t.name, p.index, err))
			}
		}
	}
	return errors.Join(errs...)
}
