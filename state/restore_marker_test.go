package state

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnClient returns a franz-go client that writes transactions to topic.
func txnClient(t *testing.T, addr, id, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))
	must(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// writeTxn writes records ("k", "v"; a nil value is a tombstone) in one
// transaction and commits or aborts it.
func writeTxn(t *testing.T, cl *kgo.Client, commit bool, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, cl.BeginTransaction())
	must(t, cl.ProduceSync(ctx, recs...).FirstErr())
	must(t, cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
}

func rec(k, v string) *kgo.Record { return &kgo.Record{Key: []byte(k), Value: []byte(v)} }

// restoreClient returns a Restorer's client reading at isolation level iso.
func restoreClient(t *testing.T, addr string, iso sarama.IsolationLevel) sarama.Client {
	t.Helper()
	conf := NewRestoreConfig()
	conf.Consumer.IsolationLevel = iso
	c, err := sarama.NewClient([]string{addr}, conf)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// restoreFrom restores topic's partition 0 after offset after into dst.
// The idle timeout is far beyond the test's deadline: a restoration that
// only ended through it would fail with the context's deadline instead.
func restoreFrom(t *testing.T, c sarama.Client, topic string, dst Backend, after int64) (int64, RestoreProgress) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var final RestoreProgress
	r := &Restorer{Client: c, Topic: topic, Partition: 0, Logger: quietLogger(), IdleTimeout: 10 * time.Minute,
		Progress: func(p RestoreProgress) { final = p }}
	pos, err := r.Restore(ctx, dst, after)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("restoration after %d did not end (stalled at offset %d of %d): %v", after, final.Offset, final.EndOffset, err)
	}
	must(t, err)
	if !final.Done {
		t.Fatalf("no final progress report: %+v", final)
	}
	return pos, final
}

// A changelog whose last offset is a commit marker restores completely,
// without waiting for the marker, whether restoration starts before the
// transaction's records or after them (only the marker left).
func TestRestoreEndsAtCommitMarker(t *testing.T) {
	addr := startBroker(t)
	topic := "marker-changelog"
	createTopic(t, addr, topic)
	writeTxn(t, txnClient(t, addr, "marker", topic), true, rec("a", "1"), rec("b", "2"), rec("c", "3"))
	probe := saramaClient(t, addr)
	end, err := probe.GetOffset(topic, 0, sarama.OffsetNewest)
	must(t, err)
	if end != 4 {
		t.Fatalf("end offset %d, want 4 (three records and the commit marker)", end)
	}
	for _, iso := range []sarama.IsolationLevel{sarama.ReadCommitted, sarama.ReadUncommitted} {
		c := restoreClient(t, addr, iso)
		dst := NewMemory()
		pos, p := restoreFrom(t, c, topic, dst, -1)
		if pos != 3 || p.Records != 3 || p.Offset != 3 || p.EndOffset != 4 {
			t.Fatalf("isolation %d: restored to %d with %d records (progress %+v), want offset 3 and 3 records", iso, pos, p.Records, p)
		}
		want := []string{"a=1", "b=2", "c=3"}
		if got := collect(t, dst.Range(nil, nil)); !slices.Equal(got, want) {
			t.Fatalf("isolation %d: store %q, want %q", iso, got, want)
		}
		// From a checkpoint at the last record only the marker is left.
		pos, p = restoreFrom(t, c, topic, dst, 2)
		if pos != 3 || p.Records != 0 || p.StartOffset != 3 {
			t.Fatalf("isolation %d: after 2, restored to %d with %d records (progress %+v), want 3 and none", iso, pos, p.Records, p)
		}
		if got := collect(t, dst.Range(nil, nil)); !slices.Equal(got, want) {
			t.Fatalf("isolation %d: store after the tail %q, want %q", iso, got, want)
		}
	}
}

// Several transactions, committed and aborted, one aborted at the tail,
// then one still open: read committed, the restorer applies the committed
// records only and stops at the last stable offset; read uncommitted, it
// applies aborted records too and reads to the high watermark. Either way
// it ends without waiting for the markers.
func TestRestoreTransactionsAndAbortedTail(t *testing.T) {
	addr := startBroker(t)
	topic := "txn-changelog"
	createTopic(t, addr, topic)
	cl := txnClient(t, addr, "txns", topic)
	writeTxn(t, cl, true, rec("a", "1"), rec("b", "1"))                             // 0, 1; commit 2
	writeTxn(t, cl, false, rec("a", "x"), rec("c", "x"))                            // 3, 4; abort 5
	writeTxn(t, cl, true, rec("b", "2"), &kgo.Record{Key: []byte("a"), Value: nil}) // 6, 7; commit 8
	writeTxn(t, cl, false, rec("b", "x"), rec("d", "x"))                            // 9, 10; abort 11

	cases := []struct {
		iso     sarama.IsolationLevel
		records int64
		want    []string
	}{
		{sarama.ReadCommitted, 4, []string{"b=2"}},
		{sarama.ReadUncommitted, 8, []string{"b=x", "c=x", "d=x"}},
	}
	for _, tc := range cases {
		dst := NewMemory()
		pos, p := restoreFrom(t, restoreClient(t, addr, tc.iso), topic, dst, -1)
		if pos != 11 || p.EndOffset != 12 || p.Records != tc.records {
			t.Fatalf("isolation %d: restored to %d with %d records (progress %+v), want 11 and %d", tc.iso, pos, p.Records, p, tc.records)
		}
		if got := collect(t, dst.Range(nil, nil)); !slices.Equal(got, tc.want) {
			t.Fatalf("isolation %d: store %q, want %q", tc.iso, got, tc.want)
		}
	}

	// A transaction left open at offset 12: read committed, the end is the
	// last stable offset, 12, so its record is not restored.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, cl.BeginTransaction())
	must(t, cl.ProduceSync(ctx, rec("e", "open")).FirstErr())
	cases[0].records, cases[1].records = 4, 9
	cases[1].want = []string{"b=x", "c=x", "d=x", "e=open"}
	for i, tc := range cases {
		dst := NewMemory()
		pos, p := restoreFrom(t, restoreClient(t, addr, tc.iso), topic, dst, -1)
		wantPos := []int64{11, 12}[i]
		if pos != wantPos || p.EndOffset != wantPos+1 || p.Records != tc.records {
			t.Fatalf("isolation %d, transaction open: restored to %d with %d records (progress %+v), want %d and %d",
				tc.iso, pos, p.Records, p, wantPos, tc.records)
		}
		if got := collect(t, dst.Range(nil, nil)); !slices.Equal(got, tc.want) {
			t.Fatalf("isolation %d, transaction open: store %q, want %q", tc.iso, got, tc.want)
		}
	}
	must(t, cl.EndTransaction(ctx, kgo.TryAbort))
}
