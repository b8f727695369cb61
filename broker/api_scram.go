package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeUserSCRAMCredentials answers DescribeUserScramCredentials
// (key 50), v0 (KIP-554): each user's mechanisms and iteration counts,
// never a salt or key. No users named means all of them. Needs DESCRIBE
// on the cluster.
func handleDescribeUserSCRAMCredentials(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := r.resp.(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !c.authorized(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return
	}
	creds := c.b.creds
	var names []string
	count := map[string]int{}
	if len(req.Users) == 0 {
		names = creds.userNames()
	} else {
		for _, u := range req.Users {
			if count[u.Name]++; count[u.Name] == 1 {
				names = append(names, u.Name)
			}
		}
	}
	for _, name := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = name
		infos, ok := creds.describe(name)
		switch {
		case count[name] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request")
		case !ok:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist")
		}
		if res.ErrorCode == 0 {
			for _, in := range infos {
				res.CredentialInfos = append(res.CredentialInfos, kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{
					Mechanism: in.mechanism, Iterations: in.iterations,
				})
			}
		}
		resp.Results = append(resp.Results, res)
	}
}

// handleAlterUserSCRAMCredentials answers AlterUserScramCredentials (key
// 51), v0 (KIP-554): upsertions carry the salt and the salted password the
// client computed, from which the broker keeps StoredKey and ServerKey.
// Needs ALTER on the cluster. A user's changes apply together or not at
// all; the answer has one result per user.
func handleAlterUserSCRAMCredentials(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := r.resp.(*kmsg.AlterUserSCRAMCredentialsResponse)
	var changes []scramChange
	for _, d := range req.Deletions {
		changes = append(changes, scramChange{user: d.Name, mechanism: d.Mechanism})
	}
	for _, u := range req.Upsertions {
		salted := u.SaltedPassword
		if salted == nil {
			salted = []byte{}
		}
		changes = append(changes, scramChange{user: u.Name, mechanism: u.Mechanism, iterations: u.Iterations, salt: u.Salt, salted: salted})
	}
	if !c.authorized(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource) {
		seen := map[string]bool{}
		for _, ch := range changes {
			if !seen[ch.user] {
				seen[ch.user] = true
				resp.Results = append(resp.Results, kmsg.AlterUserSCRAMCredentialsResponseResult{User: ch.user, ErrorCode: kerr.ClusterAuthorizationFailed.Code})
			}
		}
		return
	}
	results, err := c.b.creds.alter(changes)
	if err != nil {
		c.log.Error("store SCRAM credentials", "err", err)
		seen := map[string]bool{}
		for _, ch := range changes {
			if !seen[ch.user] {
				seen[ch.user] = true
				resp.Results = append(resp.Results, kmsg.AlterUserSCRAMCredentialsResponseResult{
					User: ch.user, ErrorCode: kerr.KafkaStorageError.Code, ErrorMessage: kmsg.StringPtr(err.Error())})
			}
		}
		return
	}
	for _, res := range results {
		rr := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		rr.User, rr.ErrorCode = res.user, res.code
		if res.msg != "" {
			rr.ErrorMessage = kmsg.StringPtr(res.msg)
		}
		resp.Results = append(resp.Results, rr)
	}
}
