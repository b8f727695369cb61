package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBrokerQuick runs the broker benchmark in -quick mode on a tiny load,
// to prove the harness works end to end. It checks the report's shape,
// not its numbers: figures belong in README.md, not in timed tests.
func TestBrokerQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers and moves records; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"broker", "-quick", "-records", "2000", "-e2e-rate", "1000", "-e2e-duration", "300ms",
		"-cases", "1KiB-p8,100B-p1,e2e-1KiB-p1", "-dir", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("broker benchmark: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"| 1KiB-p8 | eddy |", "| 100B-p1 | kfake-sync |", "| e2e-1KiB-p1 | kfake-mem |", "| 2,000 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^broker: eddy/kfake produce=\d+\.\d\d consume=\d+\.\d\d$`).MatchString(last) {
		t.Errorf("last line %q is not the ratio line", last)
	}
	if !strings.Contains(stderr.String(), "[1/9]") {
		t.Errorf("no progress on stderr:\n%s", &stderr)
	}
}

func TestUnknownBenchmark(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"nope"}, &stdout, &stderr); err == nil {
		t.Fatal("unknown benchmark accepted")
	}
	if !strings.Contains(stderr.String(), "broker") {
		t.Errorf("usage does not list the broker benchmark:\n%s", &stderr)
	}
}

func TestMedianAndPercentile(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v, want 2", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v, want 2.5", m)
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i + 1)
	}
	if p := percentile(ds, 0.99); p != 99 {
		t.Errorf("p99 = %v, want 99", p)
	}
	if p := percentile(ds, 0.5); p != 50 {
		t.Errorf("p50 = %v, want 50", p)
	}
}
