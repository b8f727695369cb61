package broker

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeLogDirs answers DescribeLogDirs (key 35), v0-v4: the one
// log directory, the broker's data directory, with the size on disk of
// every partition asked for (all of them when Topics is null), and from v4
// the file system's total and usable bytes. As in Kafka it needs DESCRIBE
// on the cluster; without it the answer has no directories (and, from v3,
// CLUSTER_AUTHORIZATION_FAILED). Topics that do not exist are left out and,
// as in Kafka, no topic permission is checked: cluster DESCRIBE covers it.
func handleDescribeLogDirs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := r.resp.(*kmsg.DescribeLogDirsResponse)
	if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = c.b.cfg.DataDir
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir.Dir, &fs); err == nil {
		dir.TotalBytes = int64(fs.Blocks) * fs.Bsize
		dir.UsableBytes = int64(fs.Bavail) * fs.Bsize
	}

	describe := func(t *topic, only []int32) {
		parts := c.b.topics.partitionsOf(t)
		rt := kmsg.NewDescribeLogDirsResponseDirTopic()
		rt.Topic = t.name
		add := func(i int32) {
			if i < 0 || int(i) >= len(parts) {
				return
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition = i
			rp.Size = parts[i].log.Size()
			rt.Partitions = append(rt.Partitions, rp)
		}
		if only == nil {
			for i := range parts {
				add(int32(i))
			}
		} else {
			for _, i := range only {
				add(i)
			}
		}
		if len(rt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, rt)
		}
	}
	if req.Topics == nil {
		for _, t := range c.b.topics.all() {
			describe(t, nil)
		}
	} else {
		for _, rt := range req.Topics {
			if t := c.b.topics.get(rt.Topic); t != nil {
				describe(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
}
