package broker

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAcksZeroFailureClosesConnection: an acks=0 produce gets no response,
// so when it fails the broker closes the connection, as Kafka does, and the
// client notices.
func TestAcksZeroFailureClosesConnection(t *testing.T) {
	b := startBroker(t)
	send := func(topic string) net.Conn {
		t.Helper()
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(7)
		req.Acks = 0
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = idempotentBatch(-1, -1, -1, 1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if _, err := nc.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("acks0")).AppendRequest(nil, req, 1)); err != nil {
			t.Fatal(err)
		}
		return nc
	}
	produceN(t, b.Addr(), "acks0", 1, 0)

	good := send("acks0")
	defer good.Close()
	good.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := good.Read(make([]byte, 1)); !errors.Is(err, errTimeout(err)) {
		t.Errorf("a successful acks=0 produce: read gave %v, want no response and an open connection", err)
	}

	bad := send("no-such-topic")
	defer bad.Close()
	bad.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, net.ErrClosed) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the broker kept the connection open after a failed acks=0 produce")
		}
	}
}

// errTimeout returns err if it is a timeout, so errors.Is matches only then.
func errTimeout(err error) error {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}
