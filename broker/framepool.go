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
// pages in again. Small frames matter as much at high request rates: a
// linger-0 producer and a long-polling consumer send thousands of produce
// and fetch requests a second, and every collection cycle takes one of the
// machine's processors for its marking. So produce and fetch frames are
// recycled through pools by size class (powers of two from 1 KiB to
// 16 MiB). Other requests' frames are left to the collector: their decoded
// fields may alias the frame and be kept, e.g. a group member's metadata.

const (
	framePoolMin     = 1 << 10
	framePoolClasses = 15 // 1 KiB << 14 = 16 MiB
)

var framePools [framePoolClasses]sync.Pool // of *[]byte with cap framePoolMin << class

// frameClass is the pool class whose buffers hold n bytes, or -1.
func frameClass(n int) int {
	if n <= framePoolMin {
		return 0
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

// recyclable reports whether a request frame may go back to the pools once
// handled: a Produce request (its batches are copied into the log) or a
// Fetch request (kmsg copies the strings it decodes, and it has no byte
// fields).
func recyclable(body []byte) bool {
	if len(body) < 2 {
		return false
	}
	switch int16(binary.BigEndian.Uint16(body)) {
	case int16(kmsg.Produce), int16(kmsg.Fetch):
		return true
	}
	return false
}
