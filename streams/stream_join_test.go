package streams_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/streamstest"
)

// Inner, left and outer stream-stream joins over one input sequence:
// joins within the window, duplicates, a non-joined record whose window had
// already closed, non-joined records emitted when their window closes, and
// a late record.
func TestStreamStreamJoins(t *testing.T) {
	type rec struct {
		left  bool
		k, v  string
		ts    int64
		notes string
	}
	input := []rec{
		{true, "a", "a1", 10, ""},
		{false, "a", "A1", 13, "joins a1"},
		{false, "b", "B1", 14, "no partner: pending until 14+5+2"},
		{true, "a", "a2", 20, "no partner yet"},
		{true, "c", "c1", 9, "window closed at 9+5+2 < 20: emitted unjoined at once"},
		{false, "a", "A2", 24, "B1 closes first; joins a2"},
		{false, "a", "A3", 24, "joins a2"},
		{true, "a", "a3", 22, "joins A2 and A3"},
		{true, "d", "d1", 5, "late: older than 24-(5+5+2)"},
		{false, "e", "E1", 30, ""},
		{true, "e", "e1", 40, "E1 closed at 37; e1 stays pending"},
	}
	w := streams.JoinWindows{Before: 5 * time.Millisecond, After: 5 * time.Millisecond, Grace: 2 * time.Millisecond}
	show := func(v string, ok bool) string {
		if !ok {
			return "-"
		}
		return v
	}
	cases := []struct {
		name string
		join func(l, r streams.Stream[string, string]) streams.Stream[string, string]
		want []string
	}{{
		name: "inner",
		join: func(l, r streams.Stream[string, string]) streams.Stream[string, string] {
			return streams.JoinStreams(l, r, func(a, b string) string { return a + "+" + b }, w, streams.StreamJoined[string, string, string]{})
		},
		want: []string{"a:a1+A1 t13", "a:a2+A2 t24", "a:a2+A3 t24", "a:a3+A2 t24", "a:a3+A3 t24"},
	}, {
		name: "left",
		join: func(l, r streams.Stream[string, string]) streams.Stream[string, string] {
			return streams.LeftJoinStreams(l, r, func(a, b string, ok bool) string { return a + "+" + show(b, ok) }, w,
				streams.StreamJoined[string, string, string]{Name: "lj"})
		},
		want: []string{"a:a1+A1 t13", "c:c1+- t9", "a:a2+A2 t24", "a:a2+A3 t24", "a:a3+A2 t24", "a:a3+A3 t24"},
	}, {
		name: "outer",
		join: func(l, r streams.Stream[string, string]) streams.Stream[string, string] {
			return streams.OuterJoinStreams(l, r, func(a string, aok bool, b string, bok bool) string { return show(a, aok) + "+" + show(b, bok) }, w,
				streams.StreamJoined[string, string, string]{})
		},
		want: []string{"a:a1+A1 t13", "c:c1+- t9", "b:-+B1 t14", "a:a2+A2 t24", "a:a2+A3 t24", "a:a3+A2 t24", "a:a3+A3 t24", "e:-+E1 t30"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := streams.NewBuilder()
			l := streams.From(b, "left", streams.Consumed[string, string]{})
			r := streams.From(b, "right", streams.Consumed[string, string]{})
			c.join(l, r).To("out", streams.Produced[string, string]{})
			top, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d := newDriver(t, top)
			li := streamstest.NewInputTopic[string, string](d, "left", nil, nil, base, 0)
			ri := streamstest.NewInputTopic[string, string](d, "right", nil, nil, base, 0)
			for _, x := range input {
				in := ri
				if x.left {
					in = li
				}
				if err := in.PipeAt(x.k, x.v, at(x.ts)); err != nil {
					t.Fatal(err)
				}
			}
			recs, err := streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadRecords()
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%s:%s t%d", r.Key, r.Value, rel(r.Timestamp)))
			}
			checkLines(t, "joined", got, c.want)
			if d.LateRecordsDropped() != 1 {
				t.Errorf("late: %d", d.LateRecordsDropped())
			}
		})
	}
}

// Joining streams whose keys changed repartitions them first.
func TestStreamStreamJoinRepartitions(t *testing.T) {
	b := streams.NewBuilder()
	l := streams.SelectKey(streams.From(b, "left", streams.Consumed[string, string]{}), func(_, v string) string { return v[:1] })
	r := streams.From(b, "right", streams.Consumed[string, string]{})
	streams.JoinStreams(l, r, func(a, b string) string { return a + "+" + b },
		streams.JoinWindows{Before: time.Second, After: time.Second}, streams.StreamJoined[string, string, string]{Name: "j"}).
		To("out", streams.Produced[string, string]{})
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(top.SubTopologies()); n != 2 {
		t.Fatalf("%d sub-topologies:\n%s", n, top.Describe())
	}
	d := newDriver(t, top)
	li := streamstest.NewInputTopic[string, string](d, "left", nil, nil, base, time.Millisecond)
	ri := streamstest.NewInputTopic[string, string](d, "right", nil, nil, base, time.Millisecond)
	if err := ri.Pipe("x", "X"); err != nil {
		t.Fatal(err)
	}
	if err := li.Pipe("whatever", "x1"); err != nil {
		t.Fatal(err)
	}
	kvs, err := streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadKeyValues()
	if err != nil || len(kvs) != 1 || kvs[0] != streams.KV("x", "x1+X") {
		t.Fatalf("%v %v", kvs, err)
	}
}
