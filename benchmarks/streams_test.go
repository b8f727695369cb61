package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStreamsQuick runs the streams benchmark's Eddy cases on a tiny load,
// windowed ones included, to prove the harness works end to end and that
// every case's output verifies. It checks the report's shape, not its
// numbers.
func TestStreamsQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers and moves records; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"streams", "-quick", "-systems", "eddy", "-records", "4000", "-keys", "100", "-dir", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("streams benchmark: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, re := range []string{
		`\| wordcount \| eddy \| .* \| yes \(`,
		`\| mapfilter \| eddy \| .* \| yes \(`,
		`\| windowcount \| .* \| 4,000 \| 0 \| .* \| yes \(4,000 records\) \|`,
		`\| join \| .* \| 0 \| .* \| yes \(`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("report lacks %s:\n%s", re, out)
		}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "streams: eddy/goka wordcount=") {
		t.Errorf("last line %q is not the ratio line", last)
	}
}
