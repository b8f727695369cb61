package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDsFile holds the first producer id not yet handed out. Ids are
// reserved in blocks, so the file is written once per block, and a restart
// never reuses an id even if the broker crashed mid-block.
const (
	producerIDsFile  = "producer-ids"
	producerIDsBlock = 1000
)

// producerIDs allocates producer ids that stay unique across restarts.
type producerIDs struct {
	path string

	mu          sync.Mutex
	next, limit int64
}

func openProducerIDs(dir string) (*producerIDs, error) {
	a := &producerIDs{path: filepath.Join(dir, producerIDsFile)}
	data, err := os.ReadFile(a.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("broker: read %s: %w", a.path, err)
	default:
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("broker: %s is corrupt (%q); it must hold the next free producer id", a.path, data)
		}
		a.next, a.limit = n, n
	}
	return a, nil
}

func (a *producerIDs) allocate() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.limit {
		if a.limit > math.MaxInt64-producerIDsBlock {
			return 0, errors.New("producer ids exhausted")
		}
		if err := writeFileAtomic(a.path, []byte(strconv.FormatInt(a.limit+producerIDsBlock, 10)+"\n")); err != nil {
			return 0, fmt.Errorf("reserve producer ids: %w", err)
		}
		a.limit += producerIDsBlock
	}
	id := a.next
	a.next++
	return id, nil
}

// handleInitProducerID answers InitProducerId (key 22), v0-v4. An
// idempotent producer gets a fresh producer id with epoch 0; a
// transactional one gets its transactional id's producer id with the epoch
// bumped, fencing earlier incarnations and aborting a transaction they left
// open (txn_coordinator.go).
func handleInitProducerID(c *conn, kreq kmsg.Request, r *reply) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := r.resp.(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if e := c.authorizeInitProducerID(req.TransactionalID); e != nil {
		resp.ErrorCode = e.Code
		return
	}
	r.complete = func(ctx context.Context) {
		if req.TransactionalID != nil {
			timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
			pid, epoch, e := c.b.txns.initProducer(ctx, *req.TransactionalID, timeout)
			resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = pid, epoch, code(e)
			return
		}
		id, err := c.b.producerIDs.allocate()
		if err != nil {
			c.log.Error("allocate producer id", "err", err)
			resp.ErrorCode = kerr.UnknownServerError.Code
			return
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
}
