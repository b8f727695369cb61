package streams_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eddy-streams/eddy/streams"
	"github.com/eddy-streams/eddy/streams/internal/testapps"
)

// BenchmarkAppWordCount runs the word count over 500,000 preloaded lines
// (1-3 words out of 10,000, 8 partitions) on the embedded broker and
// reports input records per second until every record (lines and
// repartitioned words) is processed and committed, and CPU seconds (app
// and broker) per million records. With EDDY_STREAMS_CPUPROFILE=file it
// writes a CPU profile of that phase; with EDDY_STREAMS_TIMELINE=1 it logs
// the records processed every 200ms.
//
//	go test -run '^$' -bench AppWordCount -benchtime 1x ./streams/
func BenchmarkAppWordCount(b *testing.B) {
	const lines, vocab, partitions = 500_000, 10_000, 8
	for range b.N {
		b.StopTimer()
		addr := startBroker(b)
		createTopics(b, addr, partitions, "text", "word-counts")
		rng := rand.New(rand.NewPCG(7, 11))
		recs := make([]kv, lines)
		var words int64
		for i := range recs {
			n := 1 + rng.IntN(3)
			ws := make([]string, n)
			for j := range ws {
				ws[j] = fmt.Sprintf("w%d", rng.IntN(vocab))
			}
			words += int64(n)
			recs[i] = kv{[]byte(fmt.Sprint("line", i)), []byte(strings.Join(ws, " "))}
		}
		produce(b, addr, "text", recs)
		if f := os.Getenv("EDDY_STREAMS_CPUPROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			pprof.StartCPUProfile(out)
		}
		b.StartTimer()
		cpu0 := cpuTime()
		start := time.Now()
		sc := sarama.NewConfig()
		sc.Producer.Idempotent = false
		app, stop := runApp(b, testapps.WordCount(), streams.Config{ApplicationID: "bench", Brokers: []string{addr}, CommitInterval: time.Second, Sarama: sc})
		total := lines + words
		var processedAt time.Duration
		var timeline []string
		lastTick := start
		for app.ProcessedAtCommit() < total {
			if os.Getenv("EDDY_STREAMS_TIMELINE") != "" && time.Since(lastTick) >= 200*time.Millisecond {
				lastTick = time.Now()
				timeline = append(timeline, fmt.Sprintf("%.1f:%dk", time.Since(start).Seconds(), app.Processed()/1000))
			}
			if processedAt == 0 && app.Processed() >= total {
				processedAt = time.Since(start)
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("processed %d of %d", app.Processed(), total)
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		cpu := cpuTime() - cpu0
		b.StopTimer()
		pprof.StopCPUProfile()
		stop()
		if len(timeline) > 0 {
			b.Log(strings.Join(timeline, " "))
		}
		b.ReportMetric(float64(lines)/elapsed.Seconds(), "records/s")
		b.ReportMetric(cpu.Seconds()/lines*1e6, "cpu-s/M")
		b.Logf("%d lines, %d words: processed in %v, committed in %v (%.0f records/s), %.2f CPU s (app and broker)", lines, words, processedAt, elapsed, float64(lines)/elapsed.Seconds(), cpu.Seconds())
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
