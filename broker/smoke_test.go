package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSmoke produces and consumes a few records with franz-go.
func TestSmoke(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("smoke"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 100
	for i := range n {
		r := &kgo.Record{Topic: "smoke", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	var got int
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("v%d", r.Offset); string(r.Value) != want {
				t.Errorf("offset %d: value %q, want %q", r.Offset, r.Value, want)
			}
			got++
		})
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, "smoke")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("smoke", 0); o.Offset != n {
		t.Errorf("end offset %d, want %d", o.Offset, n)
	}
}
