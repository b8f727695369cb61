package pgcdc_test

import (
	"context"
	"log"
	"time"

	"github.com/eddy-streams/eddy/connectors"
	_ "github.com/eddy-streams/eddy/connectors/pgcdc" // registers PostgresCdcSource
)

// Capture every change to public.orders into the topic shop.public.orders,
// starting with a snapshot of the rows already there. The worker talks to
// a Kafka-compatible broker at 127.0.0.1:9092; PostgreSQL needs
// wal_level=logical.
func Example() {
	ctx := context.Background()
	w, err := connectors.NewWorker(ctx, connectors.WorkerConfig{
		Brokers: []string{"127.0.0.1:9092"}, OffsetFlushInterval: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	_, _, err = w.CreateConnector("shop-cdc", map[string]string{
		"connector.class":   "PostgresCdcSource",
		"database.hostname": "127.0.0.1", "database.port": "5432",
		"database.user": "postgres", "database.dbname": "shop",
		"topic.prefix":                "shop",
		"table.include.list":          `public\.orders`,
		"publication.autocreate.mode": "filtered",
		"snapshot.mode":               "initial",
	}, false)
	if err != nil {
		log.Fatal(err)
	}
}
