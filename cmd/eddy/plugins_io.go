package main

// The connectors to and from PostgreSQL change data capture, Redis, MQTT
// and NATS, made available to `eddy connect`.
import (
	_ "github.com/eddy-streams/eddy/connectors/mqtt"
	_ "github.com/eddy-streams/eddy/connectors/nats"
	_ "github.com/eddy-streams/eddy/connectors/pgcdc"
	_ "github.com/eddy-streams/eddy/connectors/redis"
)
