package broker

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzTopic is the topic the fuzzers' seeds produce to and fetch from.
const fuzzTopic = "fuzz"

// fuzzConn is a broker connection driven directly: requests go to
// (*conn).handle on the fuzzer's goroutine, and replies are completed and
// written the way the connection's writer would, to a pipe whose other
// end the test reads.
type fuzzConn struct {
	b      *Broker
	c      *conn
	server net.Conn // the broker's end
	client net.Conn // the test's end
	bw     *bufio.Writer
	// done is an already cancelled context: long polls and fsync waits
	// return at once instead of slowing the fuzzer down.
	done context.Context
	corr int32
}

func newFuzzConn(t testing.TB) *fuzzConn {
	b := startBroker(t)
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	done, cancel := context.WithCancel(context.Background())
	cancel()
	fc := &fuzzConn{b: b, c: newConn(b, server, b.listeners[0]), server: server, client: client, bw: bufio.NewWriter(server), done: done}

	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fuzzTopic, 2, 1
	req.Topics = append(req.Topics, rt)
	resp := fc.roundTrip(t, req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic %s: %+v", fuzzTopic, resp.Topics)
	}
	return fc
}

// serve runs one request body (a frame without its length prefix) through
// handle, completes the reply and writes it; the response frame, if any,
// is returned. err is handle's: the connection would be closed.
func (fc *fuzzConn) serve(body []byte) (frame []byte, err error) {
	r, err := fc.c.handle(body)
	if err != nil {
		return nil, err
	}
	if r == nil {
		panic("handle returned neither a reply nor an error")
	}
	got := make(chan []byte, 1)
	go func() { got <- fuzzReadFrame(fc.client) }()
	if r.complete != nil {
		r.complete(fc.done)
	}
	switch {
	case r.write != nil:
		if werr := r.write(fc.done, r.hdr, fc.bw, fc.server); werr != nil {
			panic(fmt.Sprintf("writing a response to a pipe: %v", werr))
		}
	case r.resp != nil:
		fc.bw.Write(appendResponse(nil, r.hdr, r.resp))
	default:
		fc.bw.Write([]byte{0, 0, 0, 0}) // acks=0: no response; an empty frame stands in
	}
	if werr := fc.bw.Flush(); werr != nil {
		panic(fmt.Sprintf("writing a response to a pipe: %v", werr))
	}
	return <-got, nil
}

// fuzzReadFrame reads one length-prefixed frame.
func fuzzReadFrame(r io.Reader) []byte {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil
	}
	return buf
}

// roundTrip sends a valid request and decodes its response.
func (fc *fuzzConn) roundTrip(t testing.TB, req kmsg.Request) kmsg.Response {
	t.Helper()
	fc.corr++
	frame, err := fc.serve(robustEncode(req, fc.corr)[4:])
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != fc.corr {
		t.Fatalf("%s: correlation id %d, want %d", kmsg.NameForKey(req.Key()), got, fc.corr)
	}
	frame = frame[4:]
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		frame = frame[1:] // response header tags
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(frame); err != nil {
		t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// fuzzSeedRequests encodes a valid request of every API the broker serves,
// at several versions, as request bodies.
func fuzzSeedRequests(topicID [16]byte) [][]byte {
	var reqs []kmsg.Request
	for v := range int16(5) {
		r := kmsg.NewPtrApiVersionsRequest()
		r.SetVersion(v)
		r.ClientSoftwareName, r.ClientSoftwareVersion = "fuzz", "1"
		reqs = append(reqs, r)
	}
	for _, v := range []int16{0, 1, 4, 9, 12} {
		r := kmsg.NewPtrMetadataRequest()
		r.SetVersion(v)
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(fuzzTopic)
		r.Topics = append(r.Topics, mt)
		r.AllowAutoTopicCreation = true
		reqs = append(reqs, r)
	}
	for _, v := range []int16{0, 3, 9, 11} {
		for _, acks := range []int16{-1, 1, 0} {
			r := kmsg.NewPtrProduceRequest()
			r.SetVersion(v)
			r.Acks, r.TimeoutMillis = acks, 1000
			pt := kmsg.NewProduceRequestTopic()
			pt.Topic = fuzzTopic
			pp := kmsg.NewProduceRequestTopicPartition()
			pp.Partition = 1
			pp.Records = robustBatch([]byte("seed"), []byte("value"))
			pt.Partitions = append(pt.Partitions, pp)
			r.Topics = append(r.Topics, pt)
			reqs = append(reqs, r)
		}
	}
	for _, v := range []int16{4, 7, 11, 12, 13, 17} {
		for _, epoch := range []int32{-1, 0} {
			r := kmsg.NewPtrFetchRequest()
			r.SetVersion(v)
			r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 100, 1, 1<<20
			r.SessionEpoch = epoch
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic, ft.TopicID = fuzzTopic, topicID
			for p := range int32(3) {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, int64(p), 1<<20
				ft.Partitions = append(ft.Partitions, fp)
			}
			r.Topics = append(r.Topics, ft)
			reqs = append(reqs, r)
		}
	}
	for _, v := range []int16{0, 1, 5, 8} {
		r := kmsg.NewPtrListOffsetsRequest()
		r.SetVersion(v)
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = fuzzTopic
		for p, ts := range []int64{-1, -2, 1000} {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp, lp.MaxNumOffsets = int32(p), ts, 1
			lt.Partitions = append(lt.Partitions, lp)
		}
		r.Topics = append(r.Topics, lt)
		reqs = append(reqs, r)
	}
	for _, v := range []int16{0, 5, 7} {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.SetVersion(v)
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "fuzz-new", 3, 1
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("1000")
		ct.Configs = append(ct.Configs, cfg)
		r.Topics = append(r.Topics, ct)
		reqs = append(reqs, r)
	}
	for _, v := range []int16{0, 4, 6} {
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.SetVersion(v)
		r.TopicNames = []string{"fuzz-new"}
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr("fuzz-new")
		r.Topics = append(r.Topics, dt)
		reqs = append(reqs, r)
	}
	for _, v := range []int16{0, 3} {
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.SetVersion(v)
		ct := kmsg.NewCreatePartitionsRequestTopic()
		ct.Topic, ct.Count = fuzzTopic, 3
		r.Topics = append(r.Topics, ct)
		reqs = append(reqs, r)
	}
	for _, v := range []int16{0, 1} {
		r := kmsg.NewPtrDescribeClusterRequest()
		r.SetVersion(v)
		reqs = append(reqs, r)
	}
	// Every API the broker serves, at its lowest and highest version, with
	// default fields: the seeds follow the table as APIs are added.
	for _, key := range slices.Sorted(maps.Keys(apis)) {
		spec := apis[key]
		for _, v := range []int16{spec.min, spec.max} {
			r := kmsg.RequestForKey(key)
			r.SetVersion(v)
			reqs = append(reqs, r)
		}
	}
	var bodies [][]byte
	for i, r := range reqs {
		bodies = append(bodies, robustEncode(r, int32(i))[4:])
	}
	return bodies
}

// fuzzPartitionsAsked decodes body as handle would and returns how many
// partitions it asks to create, if it is a CreateTopics or
// CreatePartitions request. Each new partition costs several fsyncs, so
// the fuzzer skips requests for many: they make no new code run, only
// slow iterations (and, before partition creation stopped holding the
// registry lock, stalled the broker; see
// TestPartitionCreationDoesNotStallOtherClients).
func fuzzPartitionsAsked(body []byte) int {
	key := int16(binary.BigEndian.Uint16(body))
	if key != int16(kmsg.CreateTopics) && key != int16(kmsg.CreatePartitions) {
		return 0
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(int16(binary.BigEndian.Uint16(body[2:])))
	rest := body[8:]
	if len(rest) < 2 {
		return 0
	}
	if n := int16(binary.BigEndian.Uint16(rest)); n > 0 && int(n) <= len(rest)-2 {
		rest = rest[2+int(n):]
	} else {
		rest = rest[2:]
	}
	if req.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return 0
		}
	}
	if req.ReadFrom(rest) != nil {
		return 0
	}
	var n int
	switch req := req.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range req.Topics {
			n += max(int(t.NumPartitions), len(t.ReplicaAssignment), 1)
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range req.Topics {
			n += max(int(t.Count), 0)
		}
	}
	return n
}

// FuzzRequestFrame feeds arbitrary bytes to the connection's request
// handling as one request frame's body. Whatever comes in, the broker must
// not panic: it answers (and the answer encodes), or it asks for the
// connection to be closed. Bodies shorter than the 8 bytes of api key,
// version and correlation id never reach handle: the reader closes the
// connection on such a length prefix.
func FuzzRequestFrame(f *testing.F) {
	fc := newFuzzConn(f)
	id := fc.b.topics.get(fuzzTopic).id
	for _, body := range fuzzSeedRequests(id) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) < 8 || fuzzPartitionsAsked(body) > 64 {
			return
		}
		frame, err := fc.serve(body)
		if err != nil {
			return
		}
		// acks=0 produces have no response; everything else answers with
		// the request's correlation id.
		if len(frame) == 0 {
			if binary.BigEndian.Uint16(body) != uint16(kmsg.Produce) {
				t.Fatalf("no response to api key %d", binary.BigEndian.Uint16(body))
			}
			return
		}
		if len(frame) < 4 || !bytes.Equal(frame[:4], body[4:8]) {
			t.Fatalf("response frame %x does not carry correlation id %x", frame[:min(len(frame), 4)], body[4:8])
		}
	})
}

// FuzzProduceRecords feeds arbitrary bytes as the records of a Produce
// request. The broker must either reject them with an error code, leaving
// the log as it was, or append them, and then a fetch from the returned
// offset must give back exactly those bytes, with only each batch's
// baseOffset rewritten. With fixCRC the fuzzer's bytes get valid CRC-32Cs
// first, so that mutations reach the header checks, the idempotent
// producer checks and the append instead of stopping at the checksum.
func FuzzProduceRecords(f *testing.F) {
	fc := newFuzzConn(f)
	for _, fix := range []bool{false, true} {
		f.Add(robustBatch([]byte("one")), fix)
		f.Add(robustBatch([]byte("a"), []byte(""), bytes.Repeat([]byte("x"), 300)), fix)
		f.Add(append(robustBatch([]byte("first")), robustBatch([]byte("second"), []byte("third"))...), fix)
		f.Add(fuzzGzipBatch(f, []byte("compressed"), []byte("records")), fix)
		idem := robustBatch([]byte("idempotent"))
		binary.BigEndian.PutUint64(idem[43:], 7) // producer id
		binary.BigEndian.PutUint16(idem[51:], 0) // epoch
		binary.BigEndian.PutUint32(idem[53:], 0) // base sequence
		fuzzFixCRCs(idem)
		f.Add(idem, fix)
		bad := robustBatch([]byte("crc"))
		bad[len(bad)-1] ^= 1
		f.Add(bad, fix)
		f.Add([]byte{}, fix)
	}

	f.Fuzz(func(t *testing.T, records []byte, fixCRC bool) {
		if fixCRC {
			fuzzFixCRCs(records)
		}
		orig := bytes.Clone(records)
		p := fc.b.topics.partition(fuzzTopic, 0)
		before := p.log.EndOffset()

		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = 1, 1000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = fuzzTopic
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = records
		pt.Partitions = append(pt.Partitions, pp)
		req.Topics = append(req.Topics, pt)
		resp := fc.roundTrip(t, req).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("produce response %+v", resp.Topics)
		}
		rp := resp.Topics[0].Partitions[0]
		end := p.log.EndOffset()
		switch {
		case rp.ErrorCode != 0 && end != before:
			t.Fatalf("rejected produce (error %d) moved the end offset from %d to %d", rp.ErrorCode, before, end)
		case rp.ErrorCode != 0:
			return
		case rp.BaseOffset < before && end == before:
			return // an idempotent retry, answered with its first append's offset
		case rp.BaseOffset != before:
			t.Fatalf("accepted at base offset %d, end offset was %d and is %d", rp.BaseOffset, before, end)
		}

		freq := kmsg.NewPtrFetchRequest()
		freq.SetVersion(11)
		freq.MaxBytes = int32(len(orig))
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = fuzzTopic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes = rp.BaseOffset, int32(len(orig))
		ft.Partitions = append(ft.Partitions, fp)
		freq.Topics = append(freq.Topics, ft)
		fresp := fc.roundTrip(t, freq).(*kmsg.FetchResponse)
		if len(fresp.Topics) != 1 || len(fresp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch response %+v", fresp.Topics)
		}
		fpr := fresp.Topics[0].Partitions[0]
		if fpr.ErrorCode != 0 {
			t.Fatalf("fetch of accepted records: error %d", fpr.ErrorCode)
		}
		got := fpr.RecordBatches
		if len(got) != len(orig) {
			t.Fatalf("fetched %d bytes, produced %d", len(got), len(orig))
		}
		// Only the baseOffset of each batch may differ.
		next := rp.BaseOffset
		for pos := 0; pos < len(got); {
			if base := int64(binary.BigEndian.Uint64(got[pos:])); base != next {
				t.Fatalf("batch at byte %d has base offset %d, want %d", pos, base, next)
			}
			size := 12 + int(binary.BigEndian.Uint32(got[pos+8:]))
			if !bytes.Equal(got[pos+8:pos+size], orig[pos+8:pos+size]) {
				t.Fatalf("batch at byte %d changed between produce and fetch", pos)
			}
			next += int64(binary.BigEndian.Uint32(got[pos+23:])) + 1 // lastOffsetDelta
			pos += size
		}
		if end != next {
			t.Fatalf("end offset %d after the append, batches end at %d", end, next)
		}
	})
}

// fuzzFixCRCs sets the CRC-32C of every batch in b whose framing fits.
func fuzzFixCRCs(b []byte) {
	for pos := 0; len(b)-pos >= 21; {
		size := 12 + int64(int32(binary.BigEndian.Uint32(b[pos+8:])))
		if size < 21 || size > int64(len(b)-pos) {
			return
		}
		batch := b[pos : pos+int(size)]
		binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
		pos += int(size)
	}
}

// fuzzGzipBatch is a v2 batch whose records are gzip-compressed.
func fuzzGzipBatch(t testing.TB, values ...[]byte) []byte {
	plain := robustBatch(values...)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(plain[61:])
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := append(bytes.Clone(plain[:61]), zb.Bytes()...)
	binary.BigEndian.PutUint16(b[21:], 1) // attributes: gzip
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
