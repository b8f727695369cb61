package connectors

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// Levels set per logger decide what reaches the worker's handler, with
// descendants following their ancestors unless set themselves.
func TestLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	levels := newLoggerLevels(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	runtime := slog.New(levels.handler(LoggerRuntime))
	conn := slog.New(levels.handler(connectorLogger("orders"))).With("task", 0)

	runtime.Debug("hidden")
	conn.Info("shown-1")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown-1") {
		t.Fatalf("at INFO the log is %q", out)
	}
	known := []string{LoggerRuntime, connectorLogger("orders")}
	if got := levels.setLevel("eddy.connect", slog.LevelDebug, known); !slices.Equal(got,
		[]string{"eddy.connect", connectorLogger("orders"), LoggerRuntime}) {
		t.Fatalf("setting eddy.connect changed %v", got)
	}
	runtime.Debug("shown-2")
	levels.setLevel(connectorLogger("orders"), slog.LevelError, known)
	conn.Warn("hidden-2")
	conn.Error("shown-3")
	runtime.Debug("shown-4")
	out := buf.String()
	for _, want := range []string{"shown-2", "shown-3", "shown-4", "task=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %q", want, out)
		}
	}
	if strings.Contains(out, "hidden-2") {
		t.Errorf("a WARN got through a logger at ERROR: %q", out)
	}
	if levelName(levels.effective(connectorLogger("orders"))) != "ERROR" || levelName(levels.effective("eddy.connect.other")) != "DEBUG" ||
		levelName(levels.effective("unrelated")) != "INFO" {
		t.Errorf("effective levels wrong")
	}
	levels.setLevel(LoggerRoot, slog.Level(1<<20), known) // OFF
	conn.Error("hidden-3")
	if strings.Contains(buf.String(), "hidden-3") {
		t.Errorf("root OFF let an error through")
	}
}
