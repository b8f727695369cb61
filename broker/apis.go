package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiSpec is one API the broker serves: the versions it accepts and the
// handler that runs the request's synchronous part on the reader goroutine
// and fills in r (resp, and complete/write for work that may wait).
type apiSpec struct {
	min, max int16
	handle   func(c *conn, req kmsg.Request, r *reply)
}

// apis is the broker's compatibility table. Minimum versions go as low as
// clients still pin: Produce v0 is advertised because librdkafka only
// enables compression codecs when it is (it then sends v3+ with v2 record
// batches anyway); goka pins sarama to Kafka 2.0; kafkajs speaks
// ApiVersions v0-v2.
var apis map[int16]apiSpec

func init() {
	apis = map[int16]apiSpec{
		int16(kmsg.Produce):          {0, 11, handleProduce},
		int16(kmsg.Fetch):            {4, 17, handleFetch},
		int16(kmsg.ListOffsets):      {0, 8, handleListOffsets},
		int16(kmsg.Metadata):         {0, 12, handleMetadata},
		int16(kmsg.ApiVersions):      {0, 4, handleApiVersions},
		int16(kmsg.CreateTopics):     {0, 7, handleCreateTopics},
		int16(kmsg.DeleteTopics):     {0, 6, handleDeleteTopics},
		int16(kmsg.CreatePartitions): {0, 3, handleCreatePartitions},
		int16(kmsg.DescribeCluster):  {0, 1, handleDescribeCluster},

		int16(kmsg.FindCoordinator): {0, 4, handleFindCoordinator},
		int16(kmsg.JoinGroup):       {0, 9, handleJoinGroup},
		int16(kmsg.SyncGroup):       {0, 5, handleSyncGroup},
		int16(kmsg.Heartbeat):       {0, 4, handleHeartbeat},
		int16(kmsg.LeaveGroup):      {0, 5, handleLeaveGroup},
		int16(kmsg.OffsetCommit):    {0, 8, handleOffsetCommit},
		int16(kmsg.OffsetFetch):     {0, 8, handleOffsetFetch},
		int16(kmsg.DescribeGroups):  {0, 5, handleDescribeGroups},
		int16(kmsg.ListGroups):      {0, 4, handleListGroups},
		int16(kmsg.DeleteGroups):    {0, 2, handleDeleteGroups},
		int16(kmsg.OffsetDelete):    {0, 0, handleOffsetDelete},

		int16(kmsg.InitProducerID):       {0, 4, handleInitProducerID},
		int16(kmsg.AddPartitionsToTxn):   {0, 3, handleAddPartitionsToTxn},
		int16(kmsg.AddOffsetsToTxn):      {0, 3, handleAddOffsetsToTxn},
		int16(kmsg.EndTxn):               {0, 3, handleEndTxn},
		int16(kmsg.TxnOffsetCommit):      {0, 3, handleTxnOffsetCommit},
		int16(kmsg.DescribeProducers):    {0, 0, handleDescribeProducers},
		int16(kmsg.DescribeTransactions): {0, 0, handleDescribeTransactions},
		int16(kmsg.ListTransactions):     {0, 1, handleListTransactions},

		int16(kmsg.DeleteRecords):           {0, 2, handleDeleteRecords},
		int16(kmsg.DescribeConfigs):         {0, 4, handleDescribeConfigs},
		int16(kmsg.AlterConfigs):            {0, 2, handleAlterConfigs},
		int16(kmsg.IncrementalAlterConfigs): {0, 1, handleIncrementalAlterConfigs},
		int16(kmsg.DescribeLogDirs):         {0, 4, handleDescribeLogDirs},

		int16(kmsg.SASLHandshake):                {0, 1, handleSASLHandshake},
		int16(kmsg.SASLAuthenticate):             {0, 2, handleSASLAuthenticate},
		int16(kmsg.DescribeACLs):                 {0, 3, handleDescribeACLs},
		int16(kmsg.CreateACLs):                   {0, 3, handleCreateACLs},
		int16(kmsg.DeleteACLs):                   {0, 3, handleDeleteACLs},
		int16(kmsg.DescribeUserSCRAMCredentials): {0, 0, handleDescribeUserSCRAMCredentials},
		int16(kmsg.AlterUserSCRAMCredentials):    {0, 0, handleAlterUserSCRAMCredentials},
	}
}

// supportedApiKeys lists apis for an ApiVersions response, by key.
func supportedApiKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, s := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: s.min, MaxVersion: s.max})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

// handleApiVersions answers ApiVersions (key 18).
func handleApiVersions(c *conn, req kmsg.Request, r *reply) {
	resp := r.resp.(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = supportedApiKeys()
}

// apiVersionsFallback answers an ApiVersions request of a version we do
// not know in version 0 with UNSUPPORTED_VERSION and our ranges, as KIP-511
// asks, so the client can retry with a version we support.
func (c *conn) apiVersionsFallback(h requestHeader) *reply {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = supportedApiKeys()
	h.flexible = false
	return &reply{hdr: h, resp: resp}
}
