package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestGokaClickCounterRunsToCompletion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	counts, err := run(ctx, 53, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"user-0": 11, "user-1": 11, "user-2": 11, "user-3": 10, "user-4": 10}
	if len(counts) != len(want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	for u, n := range want {
		if counts[u] != n {
			t.Errorf("%s: %d clicks, want %d", u, counts[u], n)
		}
	}
	var out strings.Builder
	printCounts(&out, counts)
	if !strings.HasPrefix(out.String(), "user-0     11 clicks\nuser-1     11 clicks\n") {
		t.Errorf("printed:\n%s", out.String())
	}
}
