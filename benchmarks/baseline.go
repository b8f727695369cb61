package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The machine's own limits, which no broker on it can beat: how fast
// loopback TCP moves bytes between two goroutines of one process, and how
// fast the disk under the data directories takes fsynced writes. They are
// cheap to measure (about a second each) and put the brokers' figures in
// proportion.

// loopbackMBps streams 1 MiB writes over a loopback TCP connection for d
// and returns the MB/s (10^6 bytes) the reader received.
func loopbackMBps(ctx context.Context, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		got <- result{n, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	r := <-got
	if r.err != nil {
		return 0, r.err
	}
	return float64(r.n) / time.Since(start).Seconds() / 1e6, nil
}

// diskBaseline appends to a file in dir for d and reports two figures:
// MB/s when every 1 MiB write is followed by fdatasync (the best a
// durable log could do with large group commits), and fsyncs per second
// for 4 KiB appends each followed by fdatasync (the price of a small
// acks=all batch on its own).
func diskBaseline(ctx context.Context, dir string, d time.Duration) (mbps, syncsPerSec float64, err error) {
	f, err := os.CreateTemp(dir, "eddy-bench-disk-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()

	measure := func(size int, d time.Duration) (ops int, bytes int64, el time.Duration, err error) {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i)
		}
		start := time.Now()
		for time.Since(start) < d && ctx.Err() == nil {
			if _, err := f.Write(buf); err != nil {
				return 0, 0, 0, err
			}
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				return 0, 0, 0, err
			}
			ops++
			bytes += int64(size)
		}
		return ops, bytes, time.Since(start), nil
	}
	_, bytes, el, err := measure(1<<20, d/2)
	if err != nil {
		return 0, 0, err
	}
	mbps = float64(bytes) / el.Seconds() / 1e6
	if err := f.Truncate(0); err != nil {
		return 0, 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	ops, _, el, err := measure(4<<10, d/2)
	if err != nil {
		return 0, 0, err
	}
	return mbps, float64(ops) / el.Seconds(), nil
}

// baselineLines measures both baselines and returns report lines; a
// failure is reported in the line rather than failing the benchmark.
func baselineLines(ctx context.Context, dataParent string, d time.Duration) []string {
	var lines []string
	if mbps, err := loopbackMBps(ctx, d); err != nil {
		lines = append(lines, fmt.Sprintf("- loopback TCP: not measured (%v)", err))
	} else {
		lines = append(lines, fmt.Sprintf("- loopback TCP, one connection, 1 MiB writes: %s MB/s", fmtNum(mbps)))
	}
	abs, _ := filepath.Abs(dataParent)
	if mbps, sps, err := diskBaseline(ctx, dataParent, d); err != nil {
		lines = append(lines, fmt.Sprintf("- disk under %s: not measured (%v)", abs, err))
	} else {
		lines = append(lines, fmt.Sprintf("- disk under %s (%s): %s MB/s in 1 MiB writes each fdatasynced; %s fdatasyncs/s of 4 KiB appends",
			abs, fsType(dataParent), fmtNum(mbps), fmtCount(sps)))
	}
	return lines
}
