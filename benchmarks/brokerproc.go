package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The broker benchmark runs each broker in a child process of its own (the
// benchmark binary started again, told so by brokerServerEnv), as brokers
// are run:
// the franz-go load in this process then has the same heap, and so the same
// garbage collection, whichever broker it drives. In one shared process the
// brokers' own heaps set the collector's pace for the client too: kfake in
// memory keeps every record it was sent, which makes the shared heap large
// and collections rare, while Eddy keeps records on disk and the client's
// ~1 MiB fetch buffers were collected, and their pages returned and faulted
// in again, many times more often. -in-process restores the old setup, for
// -cpuprofile's per-goroutine labels.

// brokerServerEnv, set in a child's environment to "SYSTEM DIR" (and
// brokerServerVerboseEnv to "1" for info logs), makes the benchmark binary
// (or, in tests, the test binary: see TestMain) serve that broker instead
// of doing anything else. The environment, not arguments, carries it so
// that a test binary's flag parsing never sees it.
const (
	brokerServerEnv        = "EDDY_BENCH_BROKER_SERVER"
	brokerServerVerboseEnv = "EDDY_BENCH_BROKER_SERVER_VERBOSE"
	// brokerServerProfileEnv, set in the benchmark's own environment to a
	// path, makes every broker process write a CPU profile to PATH.PID.
	brokerServerProfileEnv = "EDDY_BENCH_BROKER_CPUPROFILE"
)

// childPID is the broker child process being measured, 0 for none, and
// childrenCPU the CPU time of those that have exited: cpuTime adds both to
// this process's, so it keeps counting across brokers' lifetimes.
var (
	childPID    atomic.Int64
	childrenCPU atomic.Int64 // time.Duration
)

// brokerServerChild runs the child's part if this process is one, and
// reports whether it was.
func brokerServerChild() (bool, error) {
	spec := os.Getenv(brokerServerEnv)
	if spec == "" {
		return false, nil
	}
	system, dir, ok := strings.Cut(spec, " ")
	i := indexFunc(brokerSystems, func(s brokerSystem) bool { return s.name == system })
	if !ok || i < 0 || dir == "" {
		return true, fmt.Errorf("%s=%q: want a known system and a data directory", brokerServerEnv, spec)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr, closeBroker, err := brokerSystems[i].start(ctx, dir, os.Stderr, os.Getenv(brokerServerVerboseEnv) == "1")
	if err != nil {
		return true, err
	}
	if path := os.Getenv(brokerServerProfileEnv); path != "" {
		// Each broker process profiles its whole life to PATH.PID.
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			return true, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return true, err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("addr %s\n", addr)
	io.Copy(io.Discard, os.Stdin) // until the parent closes it, or dies
	return true, closeBroker()
}

// startBrokerProcess starts system s in a child process and returns its
// address and how to stop it.
func startBrokerProcess(ctx context.Context, s brokerSystem, dir string, stderr io.Writer, verbose bool) (string, func() error, error) {
	if strings.ContainsRune(s.name, ' ') {
		return "", nil, fmt.Errorf("system name %q has a space", s.name)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), brokerServerEnv+"="+s.name+" "+dir)
	if verbose {
		cmd.Env = append(cmd.Env, brokerServerVerboseEnv+"=1")
	}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s process: %w", s.name, err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		err := cmd.Wait()
		if ps := cmd.ProcessState; ps != nil {
			childrenCPU.Add(int64(ps.UserTime() + ps.SystemTime()))
		}
		childPID.CompareAndSwap(int64(cmd.Process.Pid), 0)
		exited <- err
	}()
	kill := func() { cmd.Process.Kill(); <-exited }
	var addr string
	select {
	case line := <-lines:
		var ok bool
		if addr, ok = strings.CutPrefix(line, "addr "); !ok {
			kill()
			return "", nil, fmt.Errorf("%s process printed %q, not its address", s.name, line)
		}
	case err := <-exited:
		return "", nil, fmt.Errorf("%s process exited before listening: %v", s.name, err)
	case <-ctx.Done():
		kill()
		return "", nil, ctx.Err()
	}
	childPID.Store(int64(cmd.Process.Pid))
	stop := func() error {
		stdin.Close()
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			kill()
			return errors.New("did not stop within 30s of its stdin closing; killed")
		}
	}
	return addr, stop, nil
}

// processCPU is the user+system CPU time of process pid so far, from
// /proc/PID/stat (in clock ticks of 1/100 s, the Linux default).
func processCPU(pid int64) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.FormatInt(pid, 10) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state); utime and stime are fields 14 and 15
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+st) * (time.Second / 100)
}
