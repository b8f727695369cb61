package broker

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// SASL credentials are SCRAM credentials (RFC 5802, RFC 7677), as in
// Kafka: for each user and mechanism a salt, an iteration count, and the
// StoredKey and ServerKey derived from the salted password. The password
// itself is never stored, nor, with AlterUserScramCredentials, ever sent:
// the client salts and hashes it. PLAIN logins are checked against the
// same credentials, by salting and hashing the password given.
//
// They live in scram-credentials.json in the data directory (mode 0600),
// rewritten atomically on every change.

const credentialsFile = "scram-credentials.json"

// Kafka's bounds on SCRAM iterations.
const (
	minScramIterations = 4096
	maxScramIterations = 16384
)

type scramKind struct {
	name string
	code int8 // the mechanism's number in the SCRAM credential APIs
	hash func() hash.Hash
}

var (
	scramSHA256 = &scramKind{mechScramSHA256, 1, sha256.New}
	scramSHA512 = &scramKind{mechScramSHA512, 2, sha512.New}
)

func scramKindByName(name string) *scramKind {
	switch name {
	case mechScramSHA256:
		return scramSHA256
	case mechScramSHA512:
		return scramSHA512
	}
	return nil
}

func scramKindByCode(code int8) *scramKind {
	switch code {
	case 1:
		return scramSHA256
	case 2:
		return scramSHA512
	}
	return nil
}

func (k *scramKind) hmac(key []byte, msg string) []byte {
	m := hmac.New(k.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (k *scramKind) sum(b []byte) []byte {
	h := k.hash()
	h.Write(b)
	return h.Sum(nil)
}

// saltedPassword is RFC 5802's Hi(password, salt, i).
func (k *scramKind) saltedPassword(password string, salt []byte, iterations int) []byte {
	key, err := pbkdf2.Key(k.hash, password, salt, iterations, k.hash().Size())
	if err != nil {
		panic(err) // only for FIPS-140 restrictions, which do not apply
	}
	return key
}

// scramCredential is what the broker keeps of a password.
type scramCredential struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
	Iterations int    `json:"iterations"`
}

func (k *scramKind) credential(salted, salt []byte, iterations int) scramCredential {
	return scramCredential{
		Salt:       slices.Clone(salt),
		StoredKey:  k.sum(k.hmac(salted, "Client Key")),
		ServerKey:  k.hmac(salted, "Server Key"),
		Iterations: iterations,
	}
}

// credentialStore holds every user's credentials.
type credentialStore struct {
	path string
	// secret derives stable fake credentials for unknown users, so that
	// their SCRAM exchange looks like a real user's until the proof fails.
	secret []byte

	// mu guards users.
	mu    sync.RWMutex
	users map[string]map[string]scramCredential // user → mechanism → credential
}

type credentialsDoc struct {
	Secret []byte                                `json:"secret"`
	Users  map[string]map[string]scramCredential `json:"users"`
}

func openCredentialStore(dir string) (*credentialStore, error) {
	s := &credentialStore{path: filepath.Join(dir, credentialsFile), users: map[string]map[string]scramCredential{}}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("broker: read %s: %w", s.path, err)
	default:
		var doc credentialsDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("broker: %s is corrupt: %w", s.path, err)
		}
		s.secret = doc.Secret
		if doc.Users != nil {
			s.users = doc.Users
		}
	}
	if len(s.secret) == 0 {
		s.secret = make([]byte, 32)
		rand.Read(s.secret)
	}
	return s, nil
}

// ensureStored writes the store if its file does not exist yet, so the
// secret behind fake credentials survives restarts.
func (s *credentialStore) ensureStored() error {
	if _, err := os.Stat(s.path); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.persistLocked()
}

// persistLocked writes the store. REQUIRES: s.mu held for writing.
func (s *credentialStore) persistLocked() error {
	data, err := json.MarshalIndent(credentialsDoc{Secret: s.secret, Users: s.users}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(data, '\n'))
}

// lookup returns user's credential for mechanism k, or a fake one (and
// false) if there is none.
func (s *credentialStore) lookup(user string, k *scramKind) (scramCredential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cred, ok := s.users[user][k.name]
	if ok {
		return cred, true
	}
	// A fake shaped like the real ones: the salt length and iteration
	// count of another user's credential (kadm's defaults if none).
	saltLen, iterations := 24, 8192
	for _, creds := range s.users {
		if c, ok := creds[k.name]; ok {
			saltLen, iterations = len(c.Salt), c.Iterations
			break
		}
	}
	salt := k.hmac(s.secret, "salt\x00"+k.name+"\x00"+user)
	for len(salt) < saltLen {
		salt = append(salt, k.hmac(s.secret, string(salt))...)
	}
	return scramCredential{
		Salt:       salt[:saltLen],
		StoredKey:  k.hmac(s.secret, "stored\x00"+k.name+"\x00"+user),
		ServerKey:  k.hmac(s.secret, "server\x00"+k.name+"\x00"+user),
		Iterations: iterations,
	}, false
}

// verifyPlain checks a PLAIN login against the user's strongest SCRAM
// credential. Unknown users cost the same work as known ones.
func (s *credentialStore) verifyPlain(user, password string) bool {
	k := scramSHA512
	cred, ok := s.lookup(user, k)
	if !ok {
		k = scramSHA256
		if c2, ok2 := s.lookup(user, k); ok2 {
			cred, ok = c2, true
		}
	}
	salted := k.saltedPassword(password, cred.Salt, cred.Iterations)
	stored := k.sum(k.hmac(salted, "Client Key"))
	return subtle.ConstantTimeCompare(stored, cred.StoredKey) == 1 && ok
}

// scramChange is one upsertion (salted != nil) or deletion.
type scramChange struct {
	user       string
	mechanism  int8
	iterations int32
	salt       []byte
	salted     []byte
}

// scramResult is the outcome for one user.
type scramResult struct {
	user string
	code int16
	msg  string
}

// alter applies changes grouped by user: a user's changes all apply or,
// if one is invalid, none does.
func (s *credentialStore) alter(changes []scramChange) ([]scramResult, error) {
	var order []string
	byUser := map[string][]scramChange{}
	for _, ch := range changes {
		if _, ok := byUser[ch.user]; !ok {
			order = append(order, ch.user)
		}
		byUser[ch.user] = append(byUser[ch.user], ch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	results := make([]scramResult, 0, len(order))
	changed := false
	for _, user := range order {
		res := scramResult{user: user}
		res.code, res.msg = s.checkLocked(user, byUser[user])
		if res.code == 0 {
			for _, ch := range byUser[user] {
				k := scramKindByCode(ch.mechanism)
				if ch.salted == nil {
					delete(s.users[user], k.name)
					if len(s.users[user]) == 0 {
						delete(s.users, user)
					}
				} else {
					if s.users[user] == nil {
						s.users[user] = map[string]scramCredential{}
					}
					s.users[user][k.name] = k.credential(ch.salted, ch.salt, int(ch.iterations))
				}
			}
			changed = true
		}
		results = append(results, res)
	}
	if changed {
		if err := s.persistLocked(); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (s *credentialStore) checkLocked(user string, chs []scramChange) (int16, string) {
	if user == "" {
		return 93, "Username must not be empty" // UNACCEPTABLE_CREDENTIAL
	}
	seen := map[int8]bool{}
	for _, ch := range chs {
		if seen[ch.mechanism] {
			return 92, "A user credential cannot be altered twice in the same request" // DUPLICATE_RESOURCE
		}
		seen[ch.mechanism] = true
	}
	for _, ch := range chs {
		k := scramKindByCode(ch.mechanism)
		if k == nil {
			return 33, "Unknown SCRAM mechanism" // UNSUPPORTED_SASL_MECHANISM
		}
		if ch.salted == nil {
			if _, ok := s.users[user][k.name]; !ok {
				return 91, "Attempt to delete a user credential that does not exist" // RESOURCE_NOT_FOUND
			}
			continue
		}
		switch {
		case ch.iterations < minScramIterations:
			return 93, fmt.Sprintf("Too few iterations: at least %d are required", minScramIterations)
		case ch.iterations > maxScramIterations:
			return 93, fmt.Sprintf("Too many iterations: at most %d are allowed", maxScramIterations)
		case len(ch.salt) == 0:
			return 93, "Salt must not be empty"
		case len(ch.salted) != k.hash().Size():
			return 93, fmt.Sprintf("Salted password must be %d bytes for %s", k.hash().Size(), k.name)
		}
	}
	return 0, ""
}

// scramInfo is one credential as DescribeUserScramCredentials shows it.
type scramInfo struct {
	mechanism  int8
	iterations int32
}

// describe returns each user's mechanisms; ok is false for unknown users.
func (s *credentialStore) describe(user string) ([]scramInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	creds, ok := s.users[user]
	if !ok {
		return nil, false
	}
	var out []scramInfo
	for name, c := range creds {
		out = append(out, scramInfo{scramKindByName(name).code, int32(c.Iterations)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mechanism < out[j].mechanism })
	return out, true
}

func (s *credentialStore) userNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.users))
	for u := range s.users {
		names = append(names, u)
	}
	sort.Strings(names)
	return names
}

// SetUserPassword stores a SCRAM credential for user in the data
// directory of a broker that is not running (`eddy user set --data-dir`),
// e.g. to create the first administrator before any SASL listener is up.
// mechanism is SCRAM-SHA-256 or SCRAM-SHA-512; iterations 0 means 8192.
// A running broker is managed with AlterUserScramCredentials instead.
func SetUserPassword(dataDir, user, mechanism, password string, iterations int) error {
	k := scramKindByName(mechanism)
	if k == nil {
		return fmt.Errorf("broker: unknown SCRAM mechanism %q (want SCRAM-SHA-256 or SCRAM-SHA-512)", mechanism)
	}
	if iterations == 0 {
		iterations = 8192
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	s, err := openCredentialStore(dataDir)
	if err != nil {
		return err
	}
	salt := make([]byte, 24)
	rand.Read(salt)
	res, err := s.alter([]scramChange{{user: user, mechanism: k.code, iterations: int32(iterations), salt: salt,
		salted: k.saltedPassword(password, salt, iterations)}})
	if err != nil {
		return err
	}
	if res[0].code != 0 {
		return fmt.Errorf("broker: %s", res[0].msg)
	}
	return nil
}

// DeleteUserCredential removes user's credential for mechanism from the
// data directory of a broker that is not running.
func DeleteUserCredential(dataDir, user, mechanism string) error {
	k := scramKindByName(mechanism)
	if k == nil {
		return fmt.Errorf("broker: unknown SCRAM mechanism %q (want SCRAM-SHA-256 or SCRAM-SHA-512)", mechanism)
	}
	s, err := openCredentialStore(dataDir)
	if err != nil {
		return err
	}
	res, err := s.alter([]scramChange{{user: user, mechanism: k.code}})
	if err != nil {
		return err
	}
	if res[0].code != 0 {
		return fmt.Errorf("broker: %s", res[0].msg)
	}
	return nil
}

// UserCredentials lists the users of a data directory and, for each,
// its SCRAM mechanisms.
func UserCredentials(dataDir string) (map[string][]string, error) {
	s, err := openCredentialStore(dataDir)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, u := range s.userNames() {
		infos, _ := s.describe(u)
		for _, in := range infos {
			out[u] = append(out[u], scramKindByCode(in.mechanism).name)
		}
	}
	return out, nil
}
