package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/eddy-streams/eddy/broker/storage"
)

// sendSlice writes records to nc. On a TCP connection it uses sendfile
// with an explicit file offset, so the bytes go from the page cache to the
// socket without a copy through user space, and concurrent fetches of one
// segment need no shared seek position. Other connections (TLS, tests
// with pipes) get a positioned read and a write.
func sendSlice(nc net.Conn, s storage.Slice) error {
	if tc, ok := nc.(*net.TCPConn); ok {
		if err := sendfileTCP(tc, s); !errors.Is(err, errNoSendfile) {
			return err
		}
	}
	_, err := io.Copy(nc, io.NewSectionReader(s.File, s.Pos, s.Size))
	return err
}

var errNoSendfile = errors.New("sendfile not possible")

func sendfileTCP(tc *net.TCPConn, s storage.Slice) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return errNoSendfile
	}
	src, err := s.File.SyscallConn()
	if err != nil {
		return errNoSendfile
	}
	var srcFD int
	if err := src.Control(func(fd uintptr) { srcFD = int(fd) }); err != nil {
		return errNoSendfile
	}
	off, remain := s.Pos, s.Size
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		for remain > 0 {
			n, err := syscall.Sendfile(int(fd), srcFD, &off, int(min(remain, 1<<30)))
			if n > 0 {
				remain -= int64(n)
			}
			switch {
			case err == syscall.EAGAIN:
				return false // wait until the socket is writable
			case err == syscall.EINTR:
				continue
			case err != nil:
				serr = err
				return true
			case n == 0:
				serr = fmt.Errorf("sendfile: file ended %d bytes early", remain)
				return true
			}
		}
		return true
	})
	if werr != nil {
		return werr
	}
	return serr
}
