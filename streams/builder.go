package streams

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/eddy-streams/eddy/state"
)

type nodeKind int

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

// topicRef names a topic. An internal topic (repartition, changelog) is
// named relative to the application: at run time its name is
// "<application id>-<name>".
type topicRef struct {
	name     string
	internal bool
}

func (r topicRef) resolve(app string) string {
	if r.internal {
		return app + "-" + r.name
	}
	return r.name
}

// node is one source, processor or sink of the topology graph. Its build
// function instantiates it inside a task: it creates the node's output
// emitter (t.outs[id]) and attaches itself to its parents' emitters, which
// exist already because parents always have smaller ids.
type node struct {
	id       int
	name     string
	kind     nodeKind
	parents  []*node
	children []*node
	// linked are nodes that must run in the same task although no record
	// flows between them: a join and the table it looks up.
	linked []*node
	source topicRef // kindSource
	sink   topicRef // kindSink
	stores []string
	// globalStores are the global tables' stores a processor reads.
	globalStores []string
	build        func(t *task) error
	// window is set on windowed aggregations, for Suppress.
	window *windowInfo
}

// storeSpec is a named state store of the topology. open wraps the task's
// backend in the store's typed view (a *state.KeyValueStore[K, V]).
type storeSpec struct {
	name string
	open func(b state.Backend) any
}

// repartitionSpec is an internal topic written by one sub-topology and read
// by another.
type repartitionSpec struct {
	ref        topicRef
	partitions int32 // 0: as many as the writing sub-topology's tasks
}

// Builder collects the streams, tables and processors of a topology. Build
// compiles it. A Builder is not safe for concurrent use.
type Builder struct {
	nodes        []*node
	counter      int
	stores       map[string]*storeSpec
	sources      map[topicRef]*node
	repartitions []*repartitionSpec
	globals      []*globalSpec
	names        map[string]bool
	errs         []error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{
		stores:  map[string]*storeSpec{},
		sources: map[topicRef]*node{},
		names:   map[string]bool{},
	}
}

// newName returns prefix-NNNNNNNNNN with the builder's shared counter, as
// Kafka Streams names its nodes and stores.
func (b *Builder) newName(prefix string) string {
	n := fmt.Sprintf("%s-%010d", prefix, b.counter)
	b.counter++
	return n
}

func (b *Builder) nameOr(name, prefix string) string {
	if name != "" {
		b.counter++
		return name
	}
	return b.newName(prefix)
}

// storeNameOr is name, or a name generated from prefix for a store its
// user did not name (unlike nameOr, a given name takes no number: stores
// are numbered only when generated).
func (b *Builder) storeNameOr(name, prefix string) string {
	if name != "" {
		return name
	}
	return b.newName(prefix)
}

func (b *Builder) fail(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf("streams: "+format, args...))
}

func (b *Builder) addNode(kind nodeKind, name string, parents []*node, build func(t *task) error) *node {
	if b.names[name] {
		b.fail("two nodes named %q", name)
	}
	b.names[name] = true
	n := &node{id: len(b.nodes), name: name, kind: kind, parents: parents, build: build}
	for _, p := range parents {
		p.children = append(p.children, n)
	}
	b.nodes = append(b.nodes, n)
	return n
}

func (b *Builder) addSource(name string, ref topicRef, build func(t *task) error) *node {
	if prev, dup := b.sources[ref]; dup {
		b.fail("topic %q is read by two sources (%s and %s)", ref.name, prev.name, name)
	}
	n := b.addNode(kindSource, name, nil, build)
	n.source = ref
	b.sources[ref] = n
	return n
}

func (b *Builder) addStore(spec *storeSpec) {
	if _, dup := b.stores[spec.name]; dup {
		b.fail("two stores named %q", spec.name)
	}
	b.stores[spec.name] = spec
}

// Build compiles the topology: it splits the graph into sub-topologies at
// repartition topics and checks it.
func (b *Builder) Build() (*Topology, error) {
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	if len(b.sources) == 0 {
		return nil, errors.New("streams: the topology has no source")
	}
	for _, g := range b.globals {
		if n := b.sources[topicRef{name: g.topic}]; n != nil {
			return nil, fmt.Errorf("streams: topic %q is read both by the global table %s and by %s", g.topic, g.name, n.name)
		}
	}
	// Union-find over nodes: records flowing between nodes, joins and
	// shared stores put nodes in the same sub-topology.
	parent := make([]int, len(b.nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, c int) {
		ra, rc := find(a), find(c)
		if ra < rc {
			parent[rc] = ra
		} else if rc < ra {
			parent[ra] = rc
		}
	}
	storeOwner := map[string]int{}
	for _, n := range b.nodes {
		for _, p := range n.parents {
			union(n.id, p.id)
		}
		for _, l := range n.linked {
			union(n.id, l.id)
		}
		for _, s := range n.stores {
			if o, ok := storeOwner[s]; ok {
				union(n.id, o)
			} else {
				storeOwner[s] = n.id
			}
		}
	}
	t := &Topology{b: b, bySource: map[topicRef]*SubTopology{}}
	byRoot := map[int]*SubTopology{}
	for _, n := range b.nodes {
		r := find(n.id)
		st := byRoot[r]
		if st == nil {
			st = &SubTopology{ID: len(t.subs)}
			byRoot[r] = st
			t.subs = append(t.subs, st)
		}
		st.nodes = append(st.nodes, n)
		switch n.kind {
		case kindSource:
			st.sources = append(st.sources, n.source)
			t.bySource[n.source] = st
		case kindSink:
			if !slices.Contains(st.sinks, n.sink) {
				st.sinks = append(st.sinks, n.sink)
			}
		}
		for _, s := range n.stores {
			if !slices.ContainsFunc(st.stores, func(x *storeSpec) bool { return x.name == s }) {
				st.stores = append(st.stores, b.stores[s])
			}
		}
	}
	for _, st := range t.subs {
		if len(st.sources) == 0 {
			return nil, fmt.Errorf("streams: sub-topology %d (%s) has no source", st.ID, st.nodes[0].name)
		}
	}
	t.repartitions = b.repartitions
	t.globals = b.globals
	return t, nil
}

// Topology is a compiled Builder: sub-topologies connected through
// repartition topics. It is immutable and may run in many apps and test
// drivers at once.
type Topology struct {
	b            *Builder
	subs         []*SubTopology
	bySource     map[topicRef]*SubTopology
	repartitions []*repartitionSpec
	globals      []*globalSpec
}

// SubTopology is a connected part of a topology: its tasks, one per input
// partition, each run its nodes over their own stores.
type SubTopology struct {
	ID      int
	nodes   []*node
	sources []topicRef
	sinks   []topicRef
	stores  []*storeSpec
}

// SourceTopics are the sub-topology's input topics; internal ones are given
// without the application id prefix.
func (s *SubTopology) SourceTopics() []string {
	var out []string
	for _, r := range s.sources {
		out = append(out, r.name)
	}
	return out
}

// SubTopologies lists the sub-topologies in order.
func (t *Topology) SubTopologies() []*SubTopology { return t.subs }

func nodeNames(ns []*node) string {
	if len(ns) == 0 {
		return "none"
	}
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.name
	}
	return strings.Join(names, ", ")
}

// Describe prints the topology the way Kafka Streams' TopologyDescription
// does: every sub-topology with its sources, processors (and the stores they
// use) and sinks, successors (-->) and predecessors (<--), then the internal
// topics. Internal topic names are given without the "<application id>-"
// prefix they get at run time.
func (t *Topology) Describe() string {
	var sb strings.Builder
	sb.WriteString("Topologies:\n")
	for _, st := range t.subs {
		fmt.Fprintf(&sb, "   Sub-topology: %d\n", st.ID)
		for _, n := range st.nodes {
			switch n.kind {
			case kindSource:
				fmt.Fprintf(&sb, "    Source: %s (topics: [%s])\n", n.name, n.source.name)
			case kindProcessor:
				fmt.Fprintf(&sb, "    Processor: %s (stores: [%s])\n", n.name, strings.Join(append(slices.Clone(n.stores), n.globalStores...), ", "))
			case kindSink:
				fmt.Fprintf(&sb, "    Sink: %s (topic: %s)\n", n.name, n.sink.name)
			}
			if n.kind != kindSink {
				fmt.Fprintf(&sb, "      --> %s\n", nodeNames(n.children))
			}
			if n.kind != kindSource {
				fmt.Fprintf(&sb, "      <-- %s\n", nodeNames(n.parents))
			}
		}
		sb.WriteString("\n")
	}
	for i, g := range t.globals {
		fmt.Fprintf(&sb, "   Sub-topology: %d for global store (will not generate tasks)\n", len(t.subs)+i)
		fmt.Fprintf(&sb, "    Source: %s (topics: [%s])\n      --> %s\n", g.source, g.topic, g.proc)
		fmt.Fprintf(&sb, "    Processor: %s (stores: [%s])\n      --> none\n      <-- %s\n\n", g.proc, g.name, g.source)
	}
	var rep, chg []string
	for _, r := range t.repartitions {
		rep = append(rep, r.ref.name)
	}
	for name := range t.b.stores {
		chg = append(chg, changelogRef(name).name)
	}
	sort.Strings(chg)
	fmt.Fprintf(&sb, "Repartition topics: [%s]\n", strings.Join(rep, ", "))
	fmt.Fprintf(&sb, "Changelog topics: [%s]\n", strings.Join(chg, ", "))
	return sb.String()
}

func changelogRef(store string) topicRef {
	return topicRef{name: store + "-changelog", internal: true}
}
