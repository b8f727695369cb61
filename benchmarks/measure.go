package main

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// cpuTime is the user+system CPU time this process has used so far, from
// getrusage(RUSAGE_SELF), plus that of the broker benchmark's broker child
// process while one runs: it counts broker and client together either way.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) + time.Duration(childrenCPU.Load()) + brokerCPU()
}

// brokerCPU is the user+system CPU time of the broker benchmark's running
// broker process, or 0 when the broker runs in this process.
func brokerCPU() time.Duration {
	if pid := childPID.Load(); pid != 0 {
		return processCPU(pid)
	}
	return 0
}

// median of xs, ignoring NaNs; NaN when there is nothing to take it of.
func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// percentile of sorted ds by the nearest-rank method (q in (0,1]).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fmtNum formats x with a precision suited to its size, "n/a" for NaN.
func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// fmtCount formats a count with thousands separators.
func fmtCount(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// machineInfo describes where the numbers come from, for the report header.
func machineInfo() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var uts syscall.Utsname
	kernel := "unknown kernel"
	if syscall.Uname(&uts) == nil {
		kernel = cstr(uts.Sysname[:]) + " " + cstr(uts.Release[:])
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s, %s",
		cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), kernel, runtime.Version())
}

func cstr[T int8 | uint8](b []T) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// fsType names the file system dir lives on (ext4, tmpfs, ...); fsync on
// tmpfs is free, which would flatter every durable system.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case 0xEF53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return fmt.Sprintf("fs magic %#x", st.Type)
}

// revision names the source measured: the git commit of the working tree,
// with "+ uncommitted changes in ..." when the packages under test differ
// from it. Empty if git is not available.
func revision(paths ...string) string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	args := append([]string{"status", "--porcelain", "--"}, paths...)
	if st, err := exec.Command("git", args...).Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " + uncommitted changes in " + strings.Join(paths, ", ")
	}
	return rev
}

// reportHead is the opening of every benchmark report: title, the exact
// command, the source revision of the given paths, the machine, its load
// and where the data lives (what names the data kept under dir).
func reportHead(title, name string, args []string, started time.Time, what, dir string, paths ...string) []string {
	return []string{
		fmt.Sprintf("## %s, %s", title, started.Format("2006-01-02 15:04 MST")),
		"",
		"- command: `" + strings.TrimSpace("go run ./benchmarks "+name+" "+strings.Join(args, " ")) + "`",
		"- source: " + cmp.Or(revision(paths...), "unknown (no git)"),
		"- machine: " + machineInfo(),
		"- load average before the run: " + loadAvg(),
		fmt.Sprintf("- %s under %s (%s)", what, dir, fsType(dir)),
	}
}
