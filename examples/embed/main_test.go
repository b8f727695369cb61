package main

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadmeShowsRun keeps README.md's snippet and this program the same.
func TestReadmeShowsRun(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "func run(")
	end := strings.Index(string(src)[start:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatal("no run function in main.go")
	}
	fn := string(src)[start : start+end+3]
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), fn) {
		t.Errorf("README.md does not show run as main.go has it; copy this into it:\n%s", fn)
	}
}

func TestRunCountsWordsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A free port for the broker.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, t.TempDir(), addr) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("word-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RetryTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, line := range []string{"to be or", "not to be"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "text", Value: []byte(line)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	got := map[string]string{}
	for got["to"] != "2" || got["be"] != "2" || got["or"] != "1" || got["not"] != "1" {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("counts so far: %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
