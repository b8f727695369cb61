package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `eddy acl` lists, adds and removes ACLs with the Kafka API (DescribeAcls,
// CreateAcls, DeleteAcls), with the flags of Kafka's kafka-acls tool.

// aclFlags select ACLs: resources, principals, operations, hosts.
type aclFlags struct {
	topics, groups, txnIDs []string
	cluster                bool
	pattern                string
	allow, deny            []string
	operations             []string
	hosts                  []string
}

func (af *aclFlags) register(cmd *cobra.Command, filter bool) {
	fs := cmd.Flags()
	fs.StringSliceVar(&af.topics, "topic", nil, "topic name or prefix (* for every topic)")
	fs.StringSliceVar(&af.groups, "group", nil, "consumer group name or prefix (* for every group)")
	fs.StringSliceVar(&af.txnIDs, "transactional-id", nil, "transactional id or prefix (* for every one)")
	fs.BoolVar(&af.cluster, "cluster", false, "the cluster resource")
	def := "literal"
	if filter {
		def = "any"
	}
	fs.StringVar(&af.pattern, "resource-pattern-type", def, "literal or prefixed (listing and removing: also any or match)")
	fs.StringSliceVar(&af.allow, "allow-principal", nil, "principal allowed, e.g. User:alice (User:* for everyone)")
	fs.StringSliceVar(&af.deny, "deny-principal", nil, "principal denied")
	fs.StringSliceVar(&af.operations, "operation", nil, "operations: read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write, all")
	fs.StringSliceVar(&af.hosts, "host", []string{"*"}, "client IP addresses the ACL applies to (* for every host)")
	if filter {
		fs.Lookup("host").DefValue = "any"
		af.hosts = nil
	}
}

type aclResource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (af *aclFlags) resources() []aclResource {
	var rs []aclResource
	for _, t := range af.topics {
		rs = append(rs, aclResource{kmsg.ACLResourceTypeTopic, t})
	}
	for _, g := range af.groups {
		rs = append(rs, aclResource{kmsg.ACLResourceTypeGroup, g})
	}
	for _, id := range af.txnIDs {
		rs = append(rs, aclResource{kmsg.ACLResourceTypeTransactionalId, id})
	}
	if af.cluster {
		rs = append(rs, aclResource{kmsg.ACLResourceTypeCluster, "kafka-cluster"})
	}
	return rs
}

func (af *aclFlags) parseOps(any bool) ([]kmsg.ACLOperation, error) {
	if len(af.operations) == 0 {
		if any {
			return []kmsg.ACLOperation{kmsg.ACLOperationAny}, nil
		}
		return nil, usagef("give at least one --operation")
	}
	var ops []kmsg.ACLOperation
	for _, o := range af.operations {
		op, err := kmsg.ParseACLOperation(strings.ReplaceAll(o, "-", "_"))
		if err != nil || op == kmsg.ACLOperationUnknown {
			return nil, usagef("--operation %q is not a Kafka ACL operation", o)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func (af *aclFlags) parsePattern() (kmsg.ACLResourcePatternType, error) {
	p, err := kmsg.ParseACLResourcePatternType(af.pattern)
	if err != nil {
		return 0, usagef("--resource-pattern-type %q: want literal, prefixed, any or match", af.pattern)
	}
	return p, nil
}

type principalPerm struct {
	principal string
	perm      kmsg.ACLPermissionType
}

func (af *aclFlags) principals() []principalPerm {
	var ps []principalPerm
	for _, p := range af.allow {
		ps = append(ps, principalPerm{p, kmsg.ACLPermissionTypeAllow})
	}
	for _, p := range af.deny {
		ps = append(ps, principalPerm{p, kmsg.ACLPermissionTypeDeny})
	}
	return ps
}

// aclRow is one ACL as listed or removed.
type aclRow struct {
	ResourceType string `json:"resource_type"`
	Resource     string `json:"resource"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

func aclTable(rows []aclRow) *table {
	t := newTable("RESOURCE-TYPE", "RESOURCE", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
	for _, r := range rows {
		t.row(r.ResourceType, r.Resource, r.PatternType, r.Principal, r.Host, r.Operation, r.Permission)
	}
	return t
}

func newACLCommand() *cobra.Command {
	var cf clientFlags
	cmd := parentCommand(&cobra.Command{
		Use:   "acl",
		Short: "List, add and remove ACLs",
		Long: `Manage ACLs like Kafka's kafka-acls tool. An ACL allows or denies a principal
(User:alice; User:* for everyone) an operation on a topic, group, transactional
id or the cluster, from a host (* for any), for one name (literal) or every name
that starts with it (prefixed). DENY wins over ALLOW. The broker must run with an
authorizer (authorizer.class.name); managing ACLs needs ALTER on the cluster,
listing them DESCRIBE.`,
		Example: `  eddy acl add --allow-principal User:alice --operation read,describe --topic orders
  eddy acl add --allow-principal User:alice --operation read --group orders- --resource-pattern-type prefixed
  eddy acl add --deny-principal User:bob --operation write --topic '*'
  eddy acl list --topic orders
  eddy acl remove --allow-principal User:alice --topic orders`,
	})
	cf.register(cmd.PersistentFlags(), true)
	cmd.AddCommand(newACLListCommand(&cf), newACLAddCommand(&cf), newACLRemoveCommand(&cf))
	return cmd
}

// filters turns filter flags into DeleteAcls-style filters; no resource
// means every resource, no principal every principal.
func (af *aclFlags) filters() ([]kmsg.DeleteACLsRequestFilter, error) {
	pattern, err := af.parsePattern()
	if err != nil {
		return nil, err
	}
	ops, err := af.parseOps(true)
	if err != nil {
		return nil, err
	}
	type res struct {
		typ  kmsg.ACLResourceType
		name *string
	}
	var rs []res
	for _, r := range af.resources() {
		rs = append(rs, res{r.typ, kmsg.StringPtr(r.name)})
	}
	if len(rs) == 0 {
		rs = []res{{kmsg.ACLResourceTypeAny, nil}}
	}
	ps := af.principals()
	type pp struct {
		principal *string
		perm      kmsg.ACLPermissionType
	}
	var pps []pp
	for _, p := range ps {
		pps = append(pps, pp{kmsg.StringPtr(p.principal), p.perm})
	}
	if len(pps) == 0 {
		pps = []pp{{nil, kmsg.ACLPermissionTypeAny}}
	}
	hosts := []*string{nil}
	if len(af.hosts) > 0 {
		hosts = nil
		for _, h := range af.hosts {
			hosts = append(hosts, kmsg.StringPtr(h))
		}
	}
	var out []kmsg.DeleteACLsRequestFilter
	for _, r := range rs {
		for _, p := range pps {
			for _, h := range hosts {
				for _, op := range ops {
					out = append(out, kmsg.DeleteACLsRequestFilter{ResourceType: r.typ, ResourceName: r.name, ResourcePatternType: pattern,
						Principal: p.principal, Host: h, Operation: op, PermissionType: p.perm})
				}
			}
		}
	}
	return out, nil
}

func newACLListCommand(cf *clientFlags) *cobra.Command {
	var af aclFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List ACLs (all, or those the flags select)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			filters, err := af.filters()
			if err != nil {
				return err
			}
			_, cl, ctx, done, err := cf.adminClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			rows := []aclRow{}
			seen := map[aclRow]bool{}
			for _, f := range filters {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourceName, req.ResourcePatternType = f.ResourceType, f.ResourceName, f.ResourcePatternType
				req.Principal, req.Host, req.Operation, req.PermissionType = f.Principal, f.Host, f.Operation, f.PermissionType
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return cf.reachErr(ctx, "describe ACLs", err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					if resp.ErrorMessage != nil {
						return fmt.Errorf("describe ACLs: %w: %s", err, *resp.ErrorMessage)
					}
					return fmt.Errorf("describe ACLs: %w", err)
				}
				for _, r := range resp.Resources {
					for _, a := range r.ACLs {
						row := aclRow{r.ResourceType.String(), r.ResourceName, r.ResourcePatternType.String(), a.Principal, a.Host, a.Operation.String(), a.PermissionType.String()}
						if !seen[row] {
							seen[row] = true
							rows = append(rows, row)
						}
					}
				}
			}
			return cf.emit(cmd, rows, aclTable(rows))
		},
	}
	af.register(cmd, true)
	return cmd
}

func newACLAddCommand(cf *clientFlags) *cobra.Command {
	var af aclFlags
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs: every given principal × operation × resource × host",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			pattern, err := af.parsePattern()
			if err != nil {
				return err
			}
			if pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed {
				return usagef("--resource-pattern-type must be literal or prefixed to add ACLs")
			}
			ops, err := af.parseOps(false)
			if err != nil {
				return err
			}
			rs, ps := af.resources(), af.principals()
			if len(rs) == 0 || len(ps) == 0 {
				return usagef("give a resource (--topic, --group, --transactional-id, --cluster) and --allow-principal or --deny-principal")
			}
			req := kmsg.NewPtrCreateACLsRequest()
			var rows []aclRow
			for _, r := range rs {
				for _, p := range ps {
					for _, h := range af.hosts {
						for _, op := range ops {
							req.Creations = append(req.Creations, kmsg.CreateACLsRequestCreation{ResourceType: r.typ, ResourceName: r.name,
								ResourcePatternType: pattern, Principal: p.principal, Host: h, Operation: op, PermissionType: p.perm})
							rows = append(rows, aclRow{r.typ.String(), r.name, pattern.String(), p.principal, h, op.String(), p.perm.String()})
						}
					}
				}
			}
			_, cl, ctx, done, err := cf.adminClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return cf.reachErr(ctx, "create ACLs", err)
			}
			var failed error
			for i, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					msg := err.Error()
					if r.ErrorMessage != nil && *r.ErrorMessage != "" {
						msg += ": " + *r.ErrorMessage
					}
					failed = fmt.Errorf("ACL %d (%s %s %s on %s %s): %s", i+1, rows[i].Permission, rows[i].Principal, rows[i].Operation,
						rows[i].ResourceType, rows[i].Resource, msg)
					fmt.Fprintln(cmd.ErrOrStderr(), failed)
				}
			}
			if failed != nil {
				return failed
			}
			return cf.emit(cmd, rows, aclTable(rows))
		},
	}
	af.register(cmd, false)
	return cmd
}

func newACLRemoveCommand(cf *clientFlags) *cobra.Command {
	var af aclFlags
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove the ACLs the flags select (a resource or principal is required)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(af.resources()) == 0 && len(af.principals()) == 0 {
				return usagef("give a resource or a principal; removing every ACL takes --topic '*' style filters")
			}
			filters, err := af.filters()
			if err != nil {
				return err
			}
			_, cl, ctx, done, err := cf.adminClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			req := kmsg.NewPtrDeleteACLsRequest()
			req.Filters = filters
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return cf.reachErr(ctx, "delete ACLs", err)
			}
			rows := []aclRow{}
			for _, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					return fmt.Errorf("delete ACLs: %w", err)
				}
				for _, m := range r.MatchingACLs {
					rows = append(rows, aclRow{m.ResourceType.String(), m.ResourceName, m.ResourcePatternType.String(), m.Principal, m.Host,
						m.Operation.String(), m.PermissionType.String()})
				}
			}
			return cf.emit(cmd, rows, aclTable(rows))
		},
	}
	af.register(cmd, true)
	return cmd
}
