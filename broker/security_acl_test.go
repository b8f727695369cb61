package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAuthorizerRules checks the decision rules against a table, without
// a network: implied operations, DENY winning, wildcards, prefixes,
// hosts, super users and resources no ACL matches.
func TestAuthorizerRules(t *testing.T) {
	a, err := openAuthorizer(t.TempDir(), []string{"User:admin"}, false)
	if err != nil {
		t.Fatal(err)
	}
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	topic, group := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup
	allow, deny := kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny
	acl := func(typ kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, p, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) aclEntry {
		return aclEntry{typ, name, pat, p, host, op, perm}
	}
	if _, err := a.change([]aclEntry{
		acl(topic, "orders", lit, "User:alice", "*", kmsg.ACLOperationWrite, allow),
		acl(topic, "sales-", pre, "User:alice", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "sales-secret", lit, "User:alice", "*", kmsg.ACLOperationRead, deny),
		acl(topic, "*", lit, "User:bob", "*", kmsg.ACLOperationAll, allow),
		acl(topic, "orders", lit, "User:bob", "10.0.0.9", kmsg.ACLOperationWrite, deny),
		acl(group, "*", lit, "User:*", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "cfg", lit, "User:carol", "*", kmsg.ACLOperationAlterConfigs, allow),
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		principal, host string
		op              kmsg.ACLOperation
		typ             kmsg.ACLResourceType
		name            string
		want            bool
	}{
		{"User:alice", "127.0.0.1", kmsg.ACLOperationWrite, topic, "orders", true},
		{"User:alice", "127.0.0.1", kmsg.ACLOperationRead, topic, "orders", false},
		{"User:alice", "127.0.0.1", kmsg.ACLOperationDescribe, topic, "orders", true}, // implied by WRITE
		{"User:alice", "127.0.0.1", kmsg.ACLOperationRead, topic, "sales-eu", true},   // prefixed
		{"User:alice", "127.0.0.1", kmsg.ACLOperationRead, topic, "sales-secret", false},
		{"User:alice", "127.0.0.1", kmsg.ACLOperationDescribe, topic, "sales-secret", true}, // DENY READ does not deny DESCRIBE
		{"User:alice", "127.0.0.1", kmsg.ACLOperationRead, topic, "sale", false},
		{"User:bob", "127.0.0.1", kmsg.ACLOperationWrite, topic, "orders", true}, // ALL on *
		{"User:bob", "10.0.0.9", kmsg.ACLOperationWrite, topic, "orders", false}, // DENY from that host
		{"User:bob", "10.0.0.9", kmsg.ACLOperationRead, topic, "orders", true},
		{"User:eve", "127.0.0.1", kmsg.ACLOperationRead, group, "any-group", true}, // User:*
		{"User:eve", "127.0.0.1", kmsg.ACLOperationDelete, group, "any-group", false},
		{"User:eve", "127.0.0.1", kmsg.ACLOperationRead, topic, "orders", false},
		{"User:carol", "127.0.0.1", kmsg.ACLOperationDescribeConfigs, topic, "cfg", true}, // implied by ALTER_CONFIGS
		{"User:carol", "127.0.0.1", kmsg.ACLOperationDescribe, topic, "cfg", false},
		{"User:admin", "127.0.0.1", kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource, true},
		{"User:alice", "127.0.0.1", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, "tx", false}, // no ACL at all
	} {
		if got := a.authorize(c.principal, c.host, c.op, c.typ, c.name); got != c.want {
			t.Errorf("%s from %s %s %s %q: %v, want %v", c.principal, c.host, c.op, c.typ, c.name, got, c.want)
		}
	}
	if !a.authorizeAnyTopic("User:alice", "127.0.0.1", kmsg.ACLOperationWrite) || a.authorizeAnyTopic("User:eve", "127.0.0.1", kmsg.ACLOperationWrite) {
		t.Errorf("authorizeAnyTopic: alice may write somewhere, eve nowhere")
	}
	a2, _ := openAuthorizer(t.TempDir(), nil, true)
	if !a2.authorize("User:x", "h", kmsg.ACLOperationRead, topic, "t") {
		t.Errorf("allow.everyone.if.no.acl.found does not allow a resource without ACLs")
	}
}

// TestSecurityACLs runs the issue's cases end to end over SASL with
// franz-go and sarama: WRITE to produce, READ on the topic and the group
// to consume, DENY over ALLOW, the super user, Metadata hiding topics, the
// ACL APIs' own authorization, and ACLs surviving a restart.
func TestSecurityACLs(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	addTestUsers(t, dir)
	cfg := Config{DataDir: dir, Logger: testLogger(), Authorizer: true, SuperUsers: []string{"User:admin"},
		SSLPrincipalMappingRules: "RULE:^CN=([^,]+),O=Eddy$/$1/L,DEFAULT",
		Listeners: []Listener{
			{Protocol: SASLPlaintext, Addr: "127.0.0.1:0"},
			{Protocol: SSL, Addr: "127.0.0.1:0", TLS: pki.serverTLS(tls.RequireAndVerifyClientCert)},
		}}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	ctx := testCtx(t)
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	as := func(user string, opts ...kgo.Opt) *kgo.Client {
		return newKgoClient(t, addr, append(opts, kgoSASL(mechScramSHA512, user, testUsers[user]), kgo.RequestRetries(1),
			kgo.RetryTimeout(2*time.Second))...)
	}
	admin := kadm.NewClient(as("admin"))

	// The super user creates topics and grants.
	for _, topic := range []string{"orders", "sales-eu", "sales-secret", "hidden"} {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("admin creates %s: %v", topic, err)
		}
	}
	grant := func(b *kadm.ACLBuilder) {
		t.Helper()
		res, err := admin.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create ACL: %v", r.Err)
			}
		}
	}
	grant(kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	grant(kadm.NewACLs().Allow("User:alice").Topics("sales-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	grant(kadm.NewACLs().Deny("User:alice").Topics("sales-secret").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	grant(kadm.NewACLs().Allow("User:alice").Groups("alice-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	grant(kadm.NewACLs().Allow("User:carol").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))

	produce := func(cl *kgo.Client, topic string) error {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}

	t.Run("WRITE", func(t *testing.T) {
		if err := produce(as("alice"), "orders"); err != nil {
			t.Errorf("alice produces to orders: %v", err)
		}
		if err := produce(as("bob"), "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("bob produces to orders: %v, want an authorization error", err)
		}
		// Below the client: Produce itself answers TOPIC_AUTHORIZATION_FAILED.
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "orders", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: rawBatch([]byte("x"))}}}}
		resp, err := req.RequestWith(ctx, as("bob"))
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("bob's raw produce: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(c))
		}
	})

	t.Run("READ", func(t *testing.T) {
		if err := produce(as("admin"), "sales-eu"); err != nil {
			t.Fatal(err)
		}
		consume := func(user, topic, group string) error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			cl := as(user, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			for {
				fs := cl.PollFetches(cctx)
				if err := fs.Err0(); err != nil {
					return err
				}
				if fs.NumRecords() > 0 {
					return nil
				}
			}
		}
		if err := consume("alice", "sales-eu", "alice-app"); err != nil {
			t.Errorf("alice consumes sales-eu in alice-app: %v", err)
		}
		if err := consume("alice", "sales-eu", "other-app"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Errorf("alice consumes in other-app: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		// DENY wins over the prefixed ALLOW.
		td, err := admin.ListTopics(ctx, "sales-secret")
		if err != nil {
			t.Fatal(err)
		}
		f := kmsg.NewPtrFetchRequest()
		f.MaxWaitMillis, f.MaxBytes = 10, 1<<20
		f.Topics = []kmsg.FetchRequestTopic{{Topic: "sales-secret", TopicID: td["sales-secret"].ID, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20}}}}
		fr, err := f.RequestWith(ctx, as("alice"))
		if err != nil {
			t.Fatal(err)
		}
		if c := fr.Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("alice fetches sales-secret: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(c))
		}
	})

	t.Run("Metadata", func(t *testing.T) {
		topics, err := kadm.NewClient(as("alice")).ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := topics.Names()
		slices.Sort(got)
		// orders (WRITE implies DESCRIBE), sales-eu and sales-secret
		// (READ on the prefix; DENY READ does not deny DESCRIBE).
		if want := []string{"orders", "sales-eu", "sales-secret"}; !slices.Equal(got, want) {
			t.Errorf("alice sees topics %v, want %v", got, want)
		}
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("hidden")}, {Topic: kmsg.StringPtr("no-such-topic")}}
		resp, err := req.RequestWith(ctx, as("alice"))
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range resp.Topics {
			if mt.ErrorCode != kerr.TopicAuthorizationFailed.Code {
				t.Errorf("alice asks for %s: %v, want TOPIC_AUTHORIZATION_FAILED whether or not it exists", *mt.Topic, kerr.ErrorForCode(mt.ErrorCode))
			}
		}
	})

	t.Run("cluster", func(t *testing.T) {
		// Only the super user (or ALTER on the cluster) manages ACLs and topics.
		res, err := kadm.NewClient(as("alice")).CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("*").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("alice grants herself everything: %+v, want CLUSTER_AUTHORIZATION_FAILED", res)
		}
		ct, err := kadm.NewClient(as("alice")).CreateTopic(ctx, 1, 1, nil, "alice-topic")
		if err == nil {
			err = ct.Err
		}
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice creates a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if n, code := countACLs(t, as("admin")); n != 5 || code != 0 {
			t.Errorf("DescribeAcls found %d ACLs (%v), want 5", n, kerr.ErrorForCode(code))
		}
		if _, code := countACLs(t, as("bob")); code != kerr.ClusterAuthorizationFailed.Code {
			t.Errorf("bob describes ACLs: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
		}
	})

	t.Run("authorized operations", func(t *testing.T) {
		// KIP-430: what a principal may do, as a bit field of operation codes.
		bits := func(ops ...kmsg.ACLOperation) (b int32) {
			for _, op := range ops {
				b |= 1 << op
			}
			return b
		}
		clusterOps := func(cl *kgo.Client) int32 {
			t.Helper()
			req := kmsg.NewPtrDescribeClusterRequest()
			req.IncludeClusterAuthorizedOperations = true
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.ClusterAuthorizedOperations
		}
		meta := kmsg.NewPtrMetadataRequest()
		meta.IncludeTopicAuthorizedOperations = true
		for _, name := range []string{"orders", "sales-eu"} {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(name)
			meta.Topics = append(meta.Topics, mt)
		}
		alice := as("alice")
		resp, err := meta.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if ops := clusterOps(alice); ops != 0 {
			t.Errorf("alice's cluster operations %b, want none", ops)
		}
		want := map[string]int32{
			"orders":   bits(kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe), // WRITE implies DESCRIBE
			"sales-eu": bits(kmsg.ACLOperationRead, kmsg.ACLOperationDescribe),
		}
		for _, mt := range resp.Topics {
			if got := mt.AuthorizedOperations; got != want[*mt.Topic] {
				t.Errorf("alice on %s: operations %b, want %b", *mt.Topic, got, want[*mt.Topic])
			}
		}
		all := bits(validOperations[kmsg.ACLResourceTypeCluster]...)
		if ops := clusterOps(as("admin")); ops != all {
			t.Errorf("the super user's cluster operations %b, want all %b", ops, all)
		}

		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups, dg.IncludeAuthorizedOperations = []string{"alice-group"}, true
		gresp, err := dg.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := gresp.Groups[0].AuthorizedOperations, bits(kmsg.ACLOperationRead, kmsg.ACLOperationDescribe); got != want {
			t.Errorf("alice on alice-group: operations %b, want %b", got, want)
		}

		// DescribeLogDirs needs DESCRIBE on the cluster.
		ld := kmsg.NewPtrDescribeLogDirsRequest()
		kresp, err := alice.Broker(int(b.cfg.NodeID)).Request(ctx, ld)
		if err != nil {
			t.Fatal(err)
		}
		if lr := kresp.(*kmsg.DescribeLogDirsResponse); lr.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(lr.Dirs) != 0 {
			t.Errorf("alice describes log dirs: %v with %d dirs, want CLUSTER_AUTHORIZATION_FAILED and none", kerr.ErrorForCode(lr.ErrorCode), len(lr.Dirs))
		}
	})

	t.Run("mTLS principal", func(t *testing.T) {
		// The rule maps CN=carol,O=Eddy to User:carol, who may write orders.
		cert, _ := pki.issue(t, pkix.Name{CommonName: "Carol", Organization: []string{"Eddy"}}, false)
		cl := newKgoClient(t, b.ListenerAddr("SSL"), kgo.DialTLSConfig(pki.clientTLS(cert)), kgo.RequestRetries(1))
		if err := produce(cl, "orders"); err != nil {
			t.Errorf("carol (by certificate) produces to orders: %v", err)
		}
		if err := produce(cl, "sales-eu"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("carol produces to sales-eu: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		cfg := saramaConfig(mechScramSHA256, "alice", testUsers["alice"])
		prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "orders", Value: sarama.StringEncoder("s")}); err != nil {
			t.Errorf("alice (sarama) produces to orders: %v", err)
		}
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "hidden", Value: sarama.StringEncoder("s")}); !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
			t.Errorf("alice (sarama) produces to hidden: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("delete and restart", func(t *testing.T) {
		del, err := admin.DeleteACLs(ctx, kadm.NewACLs().Deny("User:alice").DenyHosts("*").Topics("sales-secret").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
		if err != nil || len(del) != 1 || len(del[0].Deleted) != 1 {
			t.Fatalf("delete the DENY: %+v %v", del, err)
		}
		b.Close()
		b, err = Start(context.Background(), Config{DataDir: dir, Logger: testLogger(), Authorizer: true, SuperUsers: []string{"User:admin"},
			Listeners: []Listener{{Protocol: SASLPlaintext, Addr: "127.0.0.1:0"}}})
		if err != nil {
			t.Fatal(err)
		}
		addr = b.ListenerAddr("SASL_PLAINTEXT")
		if n, _ := countACLs(t, as("admin")); n != 4 {
			t.Errorf("after a restart %d ACLs, want 4", n)
		}
		if err := produce(as("alice"), "orders"); err != nil {
			t.Errorf("alice produces after the restart: %v", err)
		}
	})
}

// TestSecurityNoAuthorizer: without an authorizer the ACL APIs answer
// SECURITY_DISABLED and everyone may do everything.
func TestSecurityNoAuthorizer(t *testing.T) {
	b := startBroker(t)
	cl := newKgoClient(t, b.Addr())
	res, err := kadm.NewClient(cl).CreateACLs(testCtx(t), kadm.NewACLs().Allow("User:x").Topics("t").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Errorf("CreateAcls without an authorizer: %v, want SECURITY_DISABLED", res[0].Err)
	}

	// Without an authorizer everyone may do everything a resource supports.
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups, req.IncludeAuthorizedOperations = []string{"g"}, true
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe | 1<<kmsg.ACLOperationDelete)
	if got := resp.Groups[0].AuthorizedOperations; got != want {
		t.Errorf("group operations without an authorizer %b, want %b", got, want)
	}
}

// countACLs describes every ACL as cl's principal.
func countACLs(t *testing.T, cl *kgo.Client) (n int, code int16) {
	t.Helper()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		n += len(r.ACLs)
	}
	return n, resp.ErrorCode
}
