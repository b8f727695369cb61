package datagen

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/eddy-streams/eddy/connectors"
)

func TestGenerateIsDeterministic(t *testing.T) {
	for _, q := range Quickstarts {
		k1, v1 := Generate(q, 7, 12)
		k2, v2 := Generate(q, 7, 12)
		if !reflect.DeepEqual(k1, k2) || !reflect.DeepEqual(v1, v2) {
			t.Fatalf("%s: record 12 differs between calls", q)
		}
		_, v3 := Generate(q, 8, 12)
		if reflect.DeepEqual(v1, v3) {
			t.Fatalf("%s: seeds 7 and 8 give the same record", q)
		}
	}
}

func start(t *testing.T, props map[string]string, offset map[string]any) *Task {
	t.Helper()
	cfg, err := Config.Parse(props)
	if err != nil {
		t.Fatal(err)
	}
	task := &Task{}
	tc := connectors.NewTaskContext("gen", 0, func(map[string]any) map[string]any { return offset })
	if err := task.Start(context.Background(), cfg, tc); err != nil {
		t.Fatal(err)
	}
	return task
}

// A task resumed at a committed offset continues the same sequence, and
// iterations bounds the total.
func TestTaskResumesAndStops(t *testing.T) {
	props := map[string]string{"quickstart": "orders", "records.per.second": "0", "iterations": "10", "random.seed": "3"}
	all, _ := start(t, props, nil).Poll(context.Background())
	if len(all) != 10 {
		t.Fatalf("got %d records, want 10", len(all))
	}
	resumed, _ := start(t, props, all[3].SourceOffset).Poll(context.Background())
	if len(resumed) != 6 || !reflect.DeepEqual(resumed[0].Value, all[4].Value) {
		t.Fatalf("resumed at record 4: got %d records, first %v", len(resumed), resumed[0].Value)
	}
}

func TestRateLimit(t *testing.T) {
	task := start(t, map[string]string{"quickstart": "pageviews", "records.per.second": "200"}, nil)
	ctx := context.Background()
	begin := time.Now()
	n := 0
	for time.Since(begin) < 500*time.Millisecond {
		recs, _ := task.Poll(ctx)
		n += len(recs)
	}
	if n < 60 || n > 140 {
		t.Fatalf("%d records in 0.5s at 200/s", n)
	}
}
