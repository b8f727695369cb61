package streams

// TopologyDescription is the structure of a topology, as Kafka Streams'
// TopologyDescription: its sub-topologies and their nodes. It is what
// Describe prints, in a form to encode as JSON (an App publishes it to the
// StreamsAppsTopic for consoles to draw).
type TopologyDescription struct {
	Subtopologies []SubtopologyDescription `json:"subtopologies"`
}

// SubtopologyDescription is one sub-topology: its nodes in the order they
// were added (sources first within each chain). Global tables come last,
// each as a sub-topology of a source and the processor that writes its
// store; they generate no tasks.
type SubtopologyDescription struct {
	ID    int               `json:"id"`
	Nodes []NodeDescription `json:"nodes"`
}

// Node types of a NodeDescription.
const (
	NodeSource    = "source"
	NodeProcessor = "processor"
	NodeSink      = "sink"
)

// NodeDescription is one node of a sub-topology. Topics are what a source
// reads or the one topic a sink writes (empty for processors); Stores are
// the state stores a processor uses (empty for sources and sinks);
// Successors name the nodes it passes records to. The slices are never nil,
// so that they encode as [] rather than null.
type NodeDescription struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Topics     []string `json:"topics"`
	Stores     []string `json:"stores"`
	Successors []string `json:"successors"`
}

// Description returns the structure of the topology. Internal topics
// (repartition topics) are named without the "<application id>-" prefix
// they get at run time, as in Describe.
func (t *Topology) Description() TopologyDescription {
	return t.description("")
}

// description describes the topology with the internal topics of
// application app (none: unprefixed names).
func (t *Topology) description(app string) TopologyDescription {
	name := func(r topicRef) string {
		if app == "" {
			return r.name
		}
		return r.resolve(app)
	}
	d := TopologyDescription{Subtopologies: make([]SubtopologyDescription, 0, len(t.subs))}
	for _, st := range t.subs {
		sd := SubtopologyDescription{ID: st.ID, Nodes: make([]NodeDescription, 0, len(st.nodes))}
		for _, n := range st.nodes {
			nd := NodeDescription{Name: n.name, Topics: []string{}, Stores: []string{}, Successors: make([]string, 0, len(n.children))}
			switch n.kind {
			case kindSource:
				nd.Type = NodeSource
				nd.Topics = append(nd.Topics, name(n.source))
			case kindProcessor:
				nd.Type = NodeProcessor
				nd.Stores = append(append(nd.Stores, n.stores...), n.globalStores...)
			case kindSink:
				nd.Type = NodeSink
				nd.Topics = append(nd.Topics, name(n.sink))
			}
			for _, c := range n.children {
				nd.Successors = append(nd.Successors, c.name)
			}
			sd.Nodes = append(sd.Nodes, nd)
		}
		d.Subtopologies = append(d.Subtopologies, sd)
	}
	// A global table is a sub-topology of its own that generates no
	// tasks, as in Kafka Streams: its source and the processor that keeps
	// its store.
	for i, g := range t.globals {
		d.Subtopologies = append(d.Subtopologies, SubtopologyDescription{ID: len(t.subs) + i, Nodes: []NodeDescription{
			{Name: g.source, Type: NodeSource, Topics: []string{g.topic}, Stores: []string{}, Successors: []string{g.proc}},
			{Name: g.proc, Type: NodeProcessor, Topics: []string{}, Stores: []string{g.name}, Successors: []string{}},
		}})
	}
	return d
}
