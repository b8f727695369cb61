package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL authorization, as Kafka's AclAuthorizer and StandardAuthorizer do
// it (KIP-11, KIP-290):
//
//   - An ACL says: principal P is ALLOWed or DENYed operation O from host
//     H on resources matching a pattern: a resource type (topic, group,
//     cluster, transactional id) and a name, LITERAL (the name, or "*" for
//     every resource of the type) or PREFIXED (every name starting with
//     it). Principal "User:*" and host "*" match everyone.
//   - A request is allowed if an ALLOW ACL matches and no DENY ACL does:
//     DENY wins. DESCRIBE is implied by READ, WRITE, DELETE and ALTER, and
//     DESCRIBE_CONFIGS by ALTER_CONFIGS; ALL covers every operation. A
//     DENY only denies the operation it names (or ALL).
//   - A resource that no ACL matches at all is open only to super users,
//     unless allow.everyone.if.no.acl.found is set.
//   - Super users (super.users) are allowed everything.
//
// Every handler asks conn.authorized once per resource with the operation
// Kafka checks for that API, and answers TOPIC_/GROUP_/CLUSTER_/
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED as Kafka does; Metadata leaves out
// the topics the principal may not describe. Without an authorizer
// (the default) Broker.authz is nil and authorized returns true at once.
//
// ACLs are kept in acls.json in the data directory, rewritten atomically
// on every change; readers use an immutable snapshot swapped in on change,
// so authorization takes no lock.

const (
	aclsFile = "acls.json"
	// clusterResource is the name of the one cluster resource.
	clusterResource = "kafka-cluster"
)

// aclEntry is one ACL; it is also its JSON form on disk.
type aclEntry struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// aclSnapshot indexes the ACLs by resource type, literal name and prefix.
type aclSnapshot struct {
	all     []aclEntry
	literal map[kmsg.ACLResourceType]map[string][]*aclEntry
	prefix  map[kmsg.ACLResourceType][]*aclEntry
}

func newACLSnapshot(all []aclEntry) *aclSnapshot {
	s := &aclSnapshot{all: all, literal: map[kmsg.ACLResourceType]map[string][]*aclEntry{}, prefix: map[kmsg.ACLResourceType][]*aclEntry{}}
	for i := range all {
		e := &all[i]
		if e.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			s.prefix[e.ResourceType] = append(s.prefix[e.ResourceType], e)
			continue
		}
		m := s.literal[e.ResourceType]
		if m == nil {
			m = map[string][]*aclEntry{}
			s.literal[e.ResourceType] = m
		}
		m[e.ResourceName] = append(m[e.ResourceName], e)
	}
	return s
}

// authorizer decides; it exists only when Config.Authorizer is set.
type authorizer struct {
	path        string
	superUsers  map[string]bool
	allowIfNone bool

	snap atomic.Pointer[aclSnapshot]
	// mu serialises changes (and their writes to disk).
	mu sync.Mutex
}

func openAuthorizer(dir string, superUsers []string, allowIfNone bool) (*authorizer, error) {
	a := &authorizer{path: filepath.Join(dir, aclsFile), superUsers: map[string]bool{}, allowIfNone: allowIfNone}
	for _, p := range superUsers {
		a.superUsers[strings.TrimSpace(p)] = true
	}
	acls, err := readACLs(a.path)
	if err != nil {
		return nil, err
	}
	a.snap.Store(newACLSnapshot(acls))
	return a, nil
}

func readACLs(path string) ([]aclEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: read %s: %w", path, err)
	}
	var doc struct {
		ACLs []aclEntry `json:"acls"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("broker: %s is corrupt: %w", path, err)
	}
	return doc.ACLs, nil
}

// implied lists the operations whose ALLOW also allows op.
func implied(op kmsg.ACLOperation) []kmsg.ACLOperation {
	switch op {
	case kmsg.ACLOperationDescribe:
		return []kmsg.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationRead, kmsg.ACLOperationWrite,
			kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationAll}
	case kmsg.ACLOperationDescribeConfigs:
		return []kmsg.ACLOperation{kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationAll}
	}
	return []kmsg.ACLOperation{op, kmsg.ACLOperationAll}
}

// authorize reports whether principal, connecting from host, may do op
// on the named resource.
func (a *authorizer) authorize(principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	if a.superUsers[principal] {
		return true
	}
	s := a.snap.Load()
	matched, allowed := false, false
	check := func(es []*aclEntry) bool { // false: denied
		for _, e := range es {
			matched = true
			if e.Principal != principal && e.Principal != "User:*" {
				continue
			}
			if e.Host != "*" && e.Host != host {
				continue
			}
			switch e.Permission {
			case kmsg.ACLPermissionTypeDeny:
				if e.Operation == op || e.Operation == kmsg.ACLOperationAll {
					return false
				}
			case kmsg.ACLPermissionTypeAllow:
				if !allowed && slices.Contains(implied(op), e.Operation) {
					allowed = true
				}
			}
		}
		return true
	}
	if lit := s.literal[typ]; lit != nil {
		if !check(lit[name]) {
			return false
		}
		if name != "*" && !check(lit["*"]) {
			return false
		}
	}
	for _, e := range s.prefix[typ] {
		if strings.HasPrefix(name, e.ResourceName) && !check([]*aclEntry{e}) {
			return false
		}
	}
	if !matched {
		return a.allowIfNone
	}
	return allowed
}

// authorizeAnyTopic reports whether principal may do op on some topic:
// Kafka's authorizeByResourceType, used for InitProducerId of idempotent
// producers (KIP-679: IDEMPOTENT_WRITE is implied by WRITE on any topic).
// A DENY of the operation on every topic (literal "*") wins.
func (a *authorizer) authorizeAnyTopic(principal, host string, op kmsg.ACLOperation) bool {
	if a.superUsers[principal] {
		return true
	}
	s := a.snap.Load()
	allowed := false
	for i := range s.all {
		e := &s.all[i]
		if e.ResourceType != kmsg.ACLResourceTypeTopic ||
			(e.Principal != principal && e.Principal != "User:*") || (e.Host != "*" && e.Host != host) {
			continue
		}
		if e.Permission == kmsg.ACLPermissionTypeDeny && (e.Operation == op || e.Operation == kmsg.ACLOperationAll) &&
			e.PatternType == kmsg.ACLResourcePatternTypeLiteral && e.ResourceName == "*" {
			return false
		}
		if e.Permission == kmsg.ACLPermissionTypeAllow && slices.Contains(implied(op), e.Operation) {
			allowed = true
		}
	}
	return allowed || a.allowIfNone
}

// authorized reports whether the connection's principal may do op on
// the named resource. With no authorizer configured it is true at once.
func (c *conn) authorized(op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	a := c.b.authz
	return a == nil || a.authorize(c.principal, c.host, op, typ, name)
}

// authorizedOperations is the bit field Kafka answers for "include
// authorized operations" (KIP-430): bit n is set when the principal may
// do the operation whose code is n on the resource. Only the operations
// the resource type supports are considered; with no authorizer, all of
// them are allowed, as in Kafka.
func (c *conn) authorizedOperations(typ kmsg.ACLResourceType, name string) int32 {
	var bits int32
	for _, op := range validOperations[typ] {
		if c.authorized(op, typ, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// authorizedConfig checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource and returns the error to answer, or nil.
func (c *conn) authorizedConfig(typ kmsg.ConfigResourceType, name string, op kmsg.ACLOperation) *kerr.Error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !c.authorized(op, kmsg.ACLResourceTypeTopic, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !c.authorized(op, kmsg.ACLResourceTypeCluster, clusterResource) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

// aclFilter matches ACLs for DescribeAcls and DeleteAcls.
type aclFilter struct {
	resourceType kmsg.ACLResourceType
	name         *string
	pattern      kmsg.ACLResourcePatternType
	principal    *string
	host         *string
	operation    kmsg.ACLOperation
	permission   kmsg.ACLPermissionType
}

// check explains why a filter is invalid, or returns "".
func (f *aclFilter) check() string {
	switch {
	case f.resourceType == kmsg.ACLResourceTypeUnknown || f.resourceType > kmsg.ACLResourceTypeUser:
		return "the filter's resource type is unknown"
	case f.pattern == kmsg.ACLResourcePatternTypeUnknown || f.pattern > kmsg.ACLResourcePatternTypePrefixed:
		return "the filter's pattern type is unknown"
	case f.operation == kmsg.ACLOperationUnknown || f.operation > kmsg.ACLOperationDescribeTokens:
		return "the filter's operation is unknown"
	case f.permission == kmsg.ACLPermissionTypeUnknown || f.permission > kmsg.ACLPermissionTypeAllow:
		return "the filter's permission type is unknown"
	}
	return ""
}

func (f *aclFilter) matches(e *aclEntry) bool {
	if f.resourceType != kmsg.ACLResourceTypeAny && f.resourceType != e.ResourceType {
		return false
	}
	switch f.pattern {
	case kmsg.ACLResourcePatternTypeAny:
		if f.name != nil && *f.name != e.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		// Every ACL that applies to the named resource.
		if f.name != nil {
			switch e.PatternType {
			case kmsg.ACLResourcePatternTypeLiteral:
				if e.ResourceName != *f.name && e.ResourceName != "*" {
					return false
				}
			case kmsg.ACLResourcePatternTypePrefixed:
				if !strings.HasPrefix(*f.name, e.ResourceName) {
					return false
				}
			}
		}
	default:
		if f.pattern != e.PatternType || (f.name != nil && *f.name != e.ResourceName) {
			return false
		}
	}
	return (f.principal == nil || *f.principal == e.Principal) &&
		(f.host == nil || *f.host == e.Host) &&
		(f.operation == kmsg.ACLOperationAny || f.operation == e.Operation) &&
		(f.permission == kmsg.ACLPermissionTypeAny || f.permission == e.Permission)
}

// validOperations are the operations an ACL may name per resource type
// (AclEntry.supportedOperations in Kafka).
var validOperations = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete},
	kmsg.ACLResourceTypeCluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeUser:            {kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens},
}

// checkACL explains why an ACL cannot be created, or returns "".
func checkACL(e *aclEntry) string {
	ops, ok := validOperations[e.ResourceType]
	switch {
	case !ok:
		return fmt.Sprintf("resource type %s cannot have ACLs", e.ResourceType)
	case e.PatternType != kmsg.ACLResourcePatternTypeLiteral && e.PatternType != kmsg.ACLResourcePatternTypePrefixed:
		return fmt.Sprintf("pattern type %s is not LITERAL or PREFIXED", e.PatternType)
	case e.ResourceName == "":
		return "the resource name must not be empty"
	case e.ResourceType == kmsg.ACLResourceTypeCluster && e.ResourceName != clusterResource:
		return "The only valid name for the CLUSTER resource is " + clusterResource
	case e.Operation != kmsg.ACLOperationAll && !slices.Contains(ops, e.Operation):
		return fmt.Sprintf("ACL operation %s is not supported for resource type %s", e.Operation, e.ResourceType)
	case e.Permission != kmsg.ACLPermissionTypeAllow && e.Permission != kmsg.ACLPermissionTypeDeny:
		return fmt.Sprintf("permission type %s is not ALLOW or DENY", e.Permission)
	case e.Host != "*" && net.ParseIP(e.Host) == nil:
		return fmt.Sprintf("host %q is not an IP address or *", e.Host)
	}
	typ, name, ok := strings.Cut(e.Principal, ":")
	if !ok || typ == "" || name == "" {
		return fmt.Sprintf("principal %q is not Type:name (e.g. User:alice)", e.Principal)
	}
	return ""
}

// change adds the given ACLs and removes those a filter matches, then
// persists; it returns what each filter removed.
func (a *authorizer) change(add []aclEntry, remove []aclFilter) ([][]aclEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.snap.Load().all
	next := make([]aclEntry, 0, len(cur)+len(add))
	removed := make([][]aclEntry, len(remove))
	for i := range cur {
		keep := true
		for j := range remove {
			if remove[j].matches(&cur[i]) {
				removed[j] = append(removed[j], cur[i])
				keep = false
			}
		}
		if keep {
			next = append(next, cur[i])
		}
	}
	for _, e := range add {
		if !slices.Contains(next, e) {
			next = append(next, e)
		}
	}
	doc, err := json.MarshalIndent(struct {
		ACLs []aclEntry `json:"acls"`
	}{next}, "", "  ")
	if err == nil {
		err = writeFileAtomic(a.path, append(doc, '\n'))
	}
	if err != nil {
		return nil, fmt.Errorf("store ACLs: %w", err)
	}
	a.snap.Store(newACLSnapshot(next))
	return removed, nil
}

// list returns the ACLs f matches.
func (a *authorizer) list(f *aclFilter) []aclEntry {
	var out []aclEntry
	for _, e := range a.snap.Load().all {
		if f.matches(&e) {
			out = append(out, e)
		}
	}
	return out
}

// openSecurity loads the SASL credentials and, if configured, the ACLs.
func (b *Broker) openSecurity(ls []Listener) error {
	var err error
	if b.principalRules, err = parsePrincipalRules(b.cfg.SSLPrincipalMappingRules); err != nil {
		return fmt.Errorf("broker: ssl.principal.mapping.rules: %w", err)
	}
	if b.creds, err = openCredentialStore(b.cfg.DataDir); err != nil {
		return err
	}
	for _, l := range ls {
		if l.Protocol.usesSASL() {
			if err := b.creds.ensureStored(); err != nil {
				return fmt.Errorf("broker: store SASL credentials: %w", err)
			}
			break
		}
	}
	if b.cfg.Authorizer {
		if b.authz, err = openAuthorizer(b.cfg.DataDir, b.cfg.SuperUsers, b.cfg.AllowEveryoneIfNoACLFound); err != nil {
			return err
		}
	}
	return nil
}

// authorizedCreate reports whether the principal may create the topic:
// CREATE on the cluster or on the topic, as Kafka checks for CreateTopics
// and auto-creation.
func (c *conn) authorizedCreate(topic string) bool {
	return c.authorized(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, clusterResource) ||
		c.authorized(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, topic)
}

// deniedTopics returns the topics of a request's list the principal may
// not do op on (nil without an authorizer).
func deniedTopics[T any](c *conn, op kmsg.ACLOperation, list []T, name func(T) string) map[string]bool {
	if c.b.authz == nil {
		return nil
	}
	denied := map[string]bool{}
	for _, t := range list {
		n := name(t)
		if _, seen := denied[n]; !seen {
			denied[n] = !c.authorized(op, kmsg.ACLResourceTypeTopic, n)
		}
	}
	return denied
}

// authorizeInitProducerID checks InitProducerId: WRITE on the
// transactional id, or for an idempotent producer IDEMPOTENT_WRITE on the
// cluster or WRITE on some topic (KIP-679).
func (c *conn) authorizeInitProducerID(txnID *string) *kerr.Error {
	a := c.b.authz
	switch {
	case a == nil:
		return nil
	case txnID != nil:
		if !c.authorized(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *txnID) {
			return kerr.TransactionalIDAuthorizationFailed
		}
	case !c.authorized(kmsg.ACLOperationIdempotentWrite, kmsg.ACLResourceTypeCluster, clusterResource) &&
		!a.authorizeAnyTopic(c.principal, c.host, kmsg.ACLOperationWrite):
		return kerr.ClusterAuthorizationFailed
	}
	return nil
}
