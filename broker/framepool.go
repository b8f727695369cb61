package broker

import (
	"encoding/binary"
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce requests are the broker's big allocations: a frame of up to a
// megabyte or more per request, dropped as soon as its batches are in the
// log. Allocating each afresh keeps the collector busy and, once it has
// handed the pages back to the kernel, makes every new frame fault its
// pages in again. So produce frames are recycled through pools by size
// class (powers of two from 64 KiB to 16 MiB); smaller frames and every
// other request's (whose decoded fields may be kept, e.g. a group member's
// metadata) are left to the collector.

const (
	framePoolMin     = 64 << 10
	framePoolClasses = 9 // 64 KiB << 8 = 16 MiB
)

var framePools [framePoolClasses]sync.Pool // of *[]byte with cap framePoolMin << class

// frameClass is the pool class whose buffers hold n bytes, or -1.
func frameClass(n int) int {
	if n <= framePoolMin {
		if n > framePoolMin/2 {
			return 0
		}
		return -1
	}
	c := bits.Len(uint(n-1)) - bits.Len(uint(framePoolMin-1))
	if c >= framePoolClasses {
		return -1
	}
	return c
}

// getFrame returns a buffer of length n, recycled when one is free.
func getFrame(n int) []byte {
	c := frameClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if b, ok := framePools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, framePoolMin<<c)
}

// putFrame recycles a buffer from getFrame; the caller must not use it
// afterwards.
func putFrame(b []byte) {
	c := frameClass(cap(b))
	if c < 0 || cap(b) != framePoolMin<<c {
		return // not one of the pools' buffers
	}
	framePools[c].Put(&b)
}

// isProduce reports whether a request frame is a Produce request.
func isProduce(body []byte) bool {
	return len(body) >= 2 && int16(binary.BigEndian.Uint16(body)) == int16(kmsg.Produce)
}
