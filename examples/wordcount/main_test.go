package main

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestWordCountRunsToCompletion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	counts, err := run(ctx, "to be or\nnot to be\n\nTO BE")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"to": 3, "be": 3, "or": 1, "not": 1}
	if !maps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	var out strings.Builder
	printTop(&out, counts, 3)
	if got := out.String(); got != "     3 be\n     3 to\n     1 not\n" {
		t.Errorf("printed:\n%s", got)
	}
}

func TestSampleRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	counts, err := run(ctx, sample)
	if err != nil {
		t.Fatal(err)
	}
	if counts["the"] != 5 || counts["dog"] != 3 {
		t.Errorf("counts = %v", counts)
	}
}
