package broker

import (
	"fmt"
	"os"
	"syscall"
)

// Each partition keeps its active segment file open, so a topic of many
// partitions costs as many file descriptors. Running out of them would not
// fail the CreateTopics alone: every accept, segment roll and index rebuild
// after it would fail too. So new partitions are refused, with a message
// saying what to raise, when they would leave fewer than fdReserve
// descriptors free.

// fdReserve is what new partitions must leave free of the process's
// limit, for connections, segment rolls and compaction.
func fdReserve(limit uint64) uint64 { return max(1024, limit/10) }

// checkFileBudget explains why adding n partitions would exhaust the open
// file limit, or returns "". Where the limit or the open count cannot be
// read (not Linux), it does not refuse.
func checkFileBudget(n int) string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == ^uint64(0) /* RLIM_INFINITY */ {
		return ""
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return ""
	}
	open, limit := uint64(len(fds)), rl.Cur
	if open+uint64(n)+fdReserve(limit) <= limit {
		return ""
	}
	return fmt.Sprintf("%d new partitions need %d more open files; the broker has %d of its limit of %d open and keeps %d free "+
		"for connections: raise the open file limit (ulimit -n, or LimitNOFILE= in a systemd unit) or use fewer partitions",
		n, n, open, limit, fdReserve(limit))
}
