package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxInFlight bounds the replies a connection may have queued for its
// writer. Clients pipeline a handful of requests (5 by default in Kafka
// clients); beyond this the reader stops reading, which pushes back on the
// client through TCP.
const maxInFlight = 64

// conn serves one client connection with two goroutines:
//
//   - the reader (serve) reads frames, decodes them with kmsg and runs each
//     request's synchronous part in arrival order: validation, appends to
//     logs, topic changes. So a connection's side effects happen in the
//     order its requests were sent, as Kafka guarantees.
//   - the writer (writeLoop) takes replies in the same order, runs the
//     part of each that may wait (fsync for acks=all, the long poll and
//     read of a fetch), encodes the response and writes it.
//
// Responses therefore leave in request order, and a produce waiting for
// its fsync does not stop the reader from appending the next request, so
// pipelined produces share fsyncs.
type conn struct {
	b   *Broker
	nc  net.Conn // a *tls.Conn on SSL and SASL_SSL listeners
	lis *listener
	log *slog.Logger

	// principal is who the connection acts as (User:ANONYMOUS, a TLS
	// client certificate's name, or the SASL user) and host the client's
	// IP, both for ACLs (acl.go). The reader goroutine sets principal
	// before any request that depends on it and never changes it after
	// (re-authentication must keep it), so the writer goroutine may read
	// it for the requests it is handed.
	principal string
	host      string
	// sasl is the SASL state of a SASL listener's connection (sasl.go),
	// owned by the reader goroutine; nil on other listeners.
	sasl *saslConn
	// closeAfter, set by a handler on the reader goroutine, stops the
	// reader once that request's reply is queued: the writer sends it and
	// the connection closes (failed authentication, KIP-152).
	closeAfter error

	replies chan *reply
	// done is closed when the writer has failed; the reader stops.
	done chan struct{}
}

// requestHeader is the part of a request that precedes its body.
type requestHeader struct {
	key      int16
	version  int16
	corrID   int32
	clientID string
	// flexible says whether the response header carries tagged fields.
	flexible bool
}

// reply is one request's answer on its way to the writer.
type reply struct {
	hdr requestHeader
	// resp is encoded and sent; nil means no response is sent (acks=0).
	resp kmsg.Response
	// complete, if set, runs on the writer goroutine before resp is
	// encoded; it may block (fsync, long poll) and may fill in resp.
	complete func(ctx context.Context)
	// closeConn closes the connection once the replies before this one
	// are written: how an acks=0 producer learns that a produce failed,
	// as in Kafka.
	closeConn bool
	// write, if set, writes the whole response frame itself (fetch
	// responses, whose records go to the socket from the segment files).
	write func(ctx context.Context, h requestHeader, w *bufio.Writer, nc net.Conn) error
	// api and start feed the request latency metric; api is nil for
	// replies the metrics do not cover.
	api   *apiMetrics
	start time.Time
}

func newConn(b *Broker, nc net.Conn, l *listener) *conn {
	c := &conn{
		b:         b,
		nc:        nc,
		lis:       l,
		log:       b.log.With("remote", nc.RemoteAddr().String()),
		principal: anonymous,
		replies:   make(chan *reply, maxInFlight),
		done:      make(chan struct{}),
	}
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.host = host
	}
	if l.tls != nil {
		c.nc = tls.Server(nc, l.tls)
	}
	if l.protocol.usesSASL() {
		c.sasl = &saslConn{}
		c.principal = ""
	}
	return c
}

// errCloseConn is returned by request parsing when Kafka would close the
// connection rather than answer.
var errCloseConn = errors.New("closing connection")

// errAuthFailed marks a connection closed because a client's credentials
// were wrong: the client's mistake, logged at INFO as Kafka does, not a
// broker problem worth a WARN.
var errAuthFailed = errors.New("authentication failed")

// serve runs the reader and, in a second goroutine, the writer; it returns
// when both have finished and the socket is closed.
func (c *conn) serve() {
	c.b.metrics.connOpened()
	defer c.b.metrics.connClosed()
	if err := c.tlsHandshake(); err != nil {
		if c.b.ctx.Err() == nil {
			c.log.Info("TLS handshake failed", "listener", c.lis.name, "err", err)
		}
		c.nc.Close()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.b.ctx.Err() == nil {
		level := slog.LevelWarn
		if errors.Is(err, errAuthFailed) {
			level = slog.LevelInfo
		}
		c.log.Log(context.Background(), level, "closing connection", "err", err)
	}
	close(c.replies)
	<-writerDone
	c.nc.Close()
}

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.b.cfg.IdleTimeout)); err != nil {
			return err
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("idle for %s (connections.max.idle.ms)", c.b.cfg.IdleTimeout)
			}
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		minSize := int32(8)
		if c.sasl != nil && c.sasl.raw {
			minSize = 0 // a bare SASL token (sasl.go)
		}
		if size < minSize || size > c.b.cfg.MaxRequestBytes {
			return fmt.Errorf("request size %d is outside [8, %d] (socket.request.max.bytes): %w",
				size, c.b.cfg.MaxRequestBytes, errCloseConn)
		}
		body, err := readFrame(br, int(size))
		if err != nil {
			return fmt.Errorf("read request of %d bytes: %w", size, err)
		}
		// Decided before handling: a SASL exchange may change c.sasl.raw.
		recycle := recyclable(body) && !(c.sasl != nil && c.sasl.raw)
		r, err := c.handle(body)
		if err != nil {
			return err
		}
		if recycle {
			// Produce and Fetch are done with their frames once handled:
			// the batches are in the log, and nothing decoded aliases them.
			putFrame(body)
		}
		select {
		case c.replies <- r:
		case <-c.done:
			return net.ErrClosed
		}
		if c.closeAfter != nil {
			return c.closeAfter
		}
	}
}

// readFrame reads a frame body of n bytes. Frames up to 16 MiB (every
// produce request clients send by default) are read into one allocation of
// their size; larger ones grow as bytes arrive, so a length prefix alone
// cannot make the broker allocate socket.request.max.bytes.
func readFrame(r io.Reader, n int) ([]byte, error) {
	const eager = 16 << 20
	if n <= eager {
		buf := getFrame(n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	var buf bytes.Buffer
	buf.Grow(eager)
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// handle decodes one request and runs its synchronous part.
func (c *conn) handle(body []byte) (*reply, error) {
	if c.sasl != nil && c.sasl.raw {
		return c.handleRawSASL(body) // after SaslHandshake v0: a bare token, no header
	}
	if len(body) < 8 {
		return nil, fmt.Errorf("request of %d bytes is shorter than a header: %w", len(body), errCloseConn)
	}
	var h requestHeader
	h.key = int16(binary.BigEndian.Uint16(body[0:]))
	h.version = int16(binary.BigEndian.Uint16(body[2:]))
	h.corrID = int32(binary.BigEndian.Uint32(body[4:]))
	rest := body[8:]

	if len(rest) < 2 {
		return nil, fmt.Errorf("request header truncated: %w", errCloseConn)
	}
	if idLen := int16(binary.BigEndian.Uint16(rest)); idLen >= 0 {
		if int(idLen) > len(rest)-2 {
			return nil, fmt.Errorf("client id length %d beyond frame: %w", idLen, errCloseConn)
		}
		h.clientID = string(rest[2 : 2+int(idLen)])
		rest = rest[2+int(idLen):]
	} else {
		rest = rest[2:]
	}

	if c.sasl != nil {
		if err := c.saslGate(h); err != nil {
			return nil, err
		}
	}
	spec, known := apis[h.key]
	req := kmsg.RequestForKey(h.key)
	if !known || req == nil {
		return nil, fmt.Errorf("unknown or unsupported api key %d (%s) from client %q: %w",
			h.key, kmsg.NameForKey(h.key), h.clientID, errCloseConn)
	}
	if h.version < spec.min || h.version > spec.max {
		if h.key == int16(kmsg.ApiVersions) {
			// KIP-511: answer with a v0 response listing our versions,
			// so the client can pick one and retry.
			return c.apiVersionsFallback(h), nil
		}
		return nil, fmt.Errorf("%s v%d requested by client %q, supported v%d-v%d: %w",
			kmsg.NameForKey(h.key), h.version, h.clientID, spec.min, spec.max, errCloseConn)
	}
	req.SetVersion(h.version)
	h.flexible = req.IsFlexible()
	if h.flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return nil, fmt.Errorf("%s v%d header: %w: %w", kmsg.NameForKey(h.key), h.version, err, errCloseConn)
		}
	}
	if h.key == int16(kmsg.ApiVersions) {
		h.flexible = false // ApiVersions responses always use header v0
	}
	if err := req.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("malformed %s v%d from client %q: %v: %w",
			kmsg.NameForKey(h.key), h.version, h.clientID, err, errCloseConn)
	}
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("request", "api", kmsg.NameForKey(h.key), "version", h.version, "client", h.clientID, "corr", h.corrID)
	}
	resp := req.ResponseKind()
	resp.SetVersion(h.version)
	r := &reply{hdr: h, resp: resp, api: c.b.metrics.request(h.key, h.version), start: time.Now()}
	spec.handle(c, req, r)
	return r, nil
}

// skipTags skips a tagged-field section (KIP-482) and returns what follows.
func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, errors.New("bad tagged field count")
	}
	b = b[used:]
	for range n {
		_, used := binary.Uvarint(b)
		if used <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, errors.New("bad tag size")
		}
		b = b[used+int(size):]
	}
	return b, nil
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	var werr error
	for r := range c.replies {
		if werr != nil {
			continue // drain so the reader never blocks
		}
		if r.complete != nil || r.write != nil {
			// About to wait: let the client have what is ready.
			if werr = bw.Flush(); werr != nil {
				c.fail(werr)
				continue
			}
		}
		if r.closeConn {
			bw.Flush()
			werr = errCloseConn
			c.fail(werr)
			continue
		}
		if r.complete != nil {
			r.complete(c.b.ctx)
		}
		switch {
		case r.write != nil:
			werr = r.write(c.b.ctx, r.hdr, bw, c.nc)
		case r.resp != nil:
			buf = appendResponse(buf[:0], r.hdr, r.resp)
			_, werr = bw.Write(buf)
			if cap(buf) > 1<<20 {
				buf = nil // don't pin one huge response's buffer
			}
		}
		r.api.observeRequest(r.start)
		if werr == nil && len(c.replies) == 0 {
			werr = bw.Flush()
		}
		if werr != nil {
			c.fail(werr)
		}
	}
	if werr == nil {
		bw.Flush()
	}
}

// fail stops the connection after a write error.
func (c *conn) fail(err error) {
	if c.b.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("write failed; closing connection", "err", err)
	}
	close(c.done)
	c.nc.Close()
}

// appendResponse appends a whole response frame: length, header, body.
func appendResponse(dst []byte, h requestHeader, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendResponseHeader(dst, h)
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendResponseHeader(dst []byte, h requestHeader) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.corrID))
	if h.flexible {
		dst = append(dst, 0) // no tagged fields
	}
	return dst
}
