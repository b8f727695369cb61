package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL APIs (KIP-140, KIP-290 for pattern types from v1). They need
// ALTER (create, delete) or DESCRIBE on the cluster, and answer
// SECURITY_DISABLED when no authorizer is configured, as Kafka does.
// Version 0 knows only LITERAL patterns.

// handleDescribeACLs answers DescribeAcls (key 29), v0-v3.
func handleDescribeACLs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := r.resp.(*kmsg.DescribeACLsResponse)
	fail := func(e *kerr.Error, msg string) {
		resp.ErrorCode, resp.ErrorMessage = e.Code, kmsg.StringPtr(msg)
	}
	a := c.b.authz
	if e, msg := c.aclAPIAllowed(kmsg.ACLOperationDescribe, "DescribeAcls needs DESCRIBE on the cluster"); e != nil {
		fail(e, msg)
		return
	}
	f := aclFilter{req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType}
	if req.Version == 0 {
		f.pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	if why := f.check(); why != "" {
		fail(kerr.InvalidRequest, why)
		return
	}
	type key struct {
		typ     kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	index := map[key]int{}
	for _, e := range a.list(&f) {
		k := key{e.ResourceType, e.ResourceName, e.PatternType}
		i, ok := index[k]
		if !ok {
			i = len(resp.Resources)
			index[k] = i
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = k.typ, k.name, k.pattern
			resp.Resources = append(resp.Resources, res)
		}
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, kmsg.DescribeACLsResponseResourceACL{
			Principal: e.Principal, Host: e.Host, Operation: e.Operation, PermissionType: e.Permission,
		})
	}
}

// handleCreateACLs answers CreateAcls (key 30), v0-v3: each valid ACL is
// added (adding one that exists changes nothing); invalid ones get
// INVALID_REQUEST with the reason.
func handleCreateACLs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := r.resp.(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	failAll := func(e *kerr.Error, msg string) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = e.Code, kmsg.StringPtr(msg)
		}
	}
	a := c.b.authz
	if e, msg := c.aclAPIAllowed(kmsg.ACLOperationAlter, "CreateAcls needs ALTER on the cluster"); e != nil {
		failAll(e, msg)
		return
	}
	var add []aclEntry
	var added []int
	for i, cr := range req.Creations {
		e := aclEntry{cr.ResourceType, cr.ResourceName, cr.ResourcePatternType, cr.Principal, cr.Host, cr.Operation, cr.PermissionType}
		if req.Version == 0 {
			e.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		if why := checkACL(&e); why != "" {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(why)
			continue
		}
		add = append(add, e)
		added = append(added, i)
	}
	if len(add) == 0 {
		return
	}
	if _, err := a.change(add, nil); err != nil {
		c.log.Error("create ACLs", "err", err)
		for _, i := range added {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
		}
		return
	}
	c.log.Info("ACLs created", "principal", c.principal, "count", len(add))
}

// handleDeleteACLs answers DeleteAcls (key 31), v0-v3: every ACL a filter
// matches is removed and listed in that filter's result.
func handleDeleteACLs(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := r.resp.(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	failAll := func(e *kerr.Error, msg string) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = e.Code, kmsg.StringPtr(msg)
		}
	}
	a := c.b.authz
	if e, msg := c.aclAPIAllowed(kmsg.ACLOperationAlter, "DeleteAcls needs ALTER on the cluster"); e != nil {
		failAll(e, msg)
		return
	}
	var filters []aclFilter
	var valid []int
	for i, rf := range req.Filters {
		f := aclFilter{rf.ResourceType, rf.ResourceName, rf.ResourcePatternType, rf.Principal, rf.Host, rf.Operation, rf.PermissionType}
		if req.Version == 0 {
			f.pattern = kmsg.ACLResourcePatternTypeLiteral
		}
		if why := f.check(); why != "" {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(why)
			continue
		}
		filters = append(filters, f)
		valid = append(valid, i)
	}
	if len(filters) == 0 {
		return
	}
	removed, err := a.change(nil, filters)
	if err != nil {
		c.log.Error("delete ACLs", "err", err)
		for _, i := range valid {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
		}
		return
	}
	n := 0
	for j, i := range valid {
		for _, e := range removed[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = e.ResourceType, e.ResourceName, e.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = e.Principal, e.Host, e.Operation, e.Permission
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			n++
		}
	}
	if n > 0 {
		c.log.Info("ACLs deleted", "principal", c.principal, "count", n)
	}
}

// aclAPIAllowed is the gate of the ACL APIs: an authorizer must be
// configured, and the principal needs op on the cluster (denied says so).
func (c *conn) aclAPIAllowed(op kmsg.ACLOperation, denied string) (*kerr.Error, string) {
	switch {
	case c.b.authz == nil:
		return kerr.SecurityDisabled, "no authorizer is configured on the broker"
	case !c.authorized(op, kmsg.ACLResourceTypeCluster, clusterResource):
		return kerr.ClusterAuthorizationFailed, denied
	}
	return nil, ""
}
