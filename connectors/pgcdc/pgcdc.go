package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/eddy-streams/eddy/connectors"
)

// Class is the connector's class name.
const Class = "io.eddystreams.connect.pgcdc.PostgresCdcSourceConnector"

// DebeziumClass is Debezium's class name, accepted as an alias so that a
// Debezium connector config works unchanged where Eddy supports it.
const DebeziumClass = "io.debezium.connector.postgresql.PostgresConnector"

var (
	slotNameRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	pubNameRE  = regexp.MustCompile(`^[A-Za-z0-9_]{1,63}$`)
)

func matches(re *regexp.Regexp, what string) func(any) error {
	return func(v any) error {
		if s, _ := v.(string); !re.MatchString(s) {
			return fmt.Errorf("%s", what)
		}
		return nil
	}
}

func regexList(v any) error {
	l, _ := v.([]string)
	for _, s := range l {
		if _, err := regexp.Compile(s); err != nil {
			return fmt.Errorf("%q is not a regular expression: %w", s, err)
		}
	}
	return nil
}

// Config defines the connector's settings (see the package comment).
var Config = connectors.NewConfigDef().
	Define(connectors.ConfigKey{Name: "database.hostname", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "PostgreSQL host name or address."}).
	Define(connectors.ConfigKey{Name: "database.port", Type: connectors.Int, Default: "5432", Importance: connectors.High,
		Validate: connectors.AtLeast(1), Doc: "PostgreSQL port."}).
	Define(connectors.ConfigKey{Name: "database.user", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "User name; the user needs the REPLICATION attribute (or superuser)."}).
	Define(connectors.ConfigKey{Name: "database.password", Type: connectors.Password, Importance: connectors.High,
		Doc: "Password."}).
	Define(connectors.ConfigKey{Name: "database.dbname", Type: connectors.String, Required: true, Importance: connectors.High,
		Doc: "The database to capture changes from."}).
	Define(connectors.ConfigKey{Name: "database.sslmode", Type: connectors.String, Default: "prefer", Importance: connectors.Medium,
		Validate:    connectors.OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
		Recommended: []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"},
		Doc:         "libpq's sslmode for both connections."}).
	Define(connectors.ConfigKey{Name: "topic.prefix", Type: connectors.String, Required: true, Importance: connectors.High,
		Validate: func(v any) error {
			if s, _ := v.(string); s == "" || strings.ContainsAny(s, " /\\,") {
				return errors.New("must be a non-empty topic name prefix without spaces, slashes or commas")
			}
			return nil
		},
		Doc: "Records of table s.t go to the topic <topic.prefix>.s.t; also names the source partition."}).
	Define(connectors.ConfigKey{Name: "plugin.name", Type: connectors.String, Default: "pgoutput", Importance: connectors.Medium,
		Validate: connectors.OneOf("pgoutput"), Recommended: []string{"pgoutput"},
		Doc: "The logical decoding plugin; only PostgreSQL's built-in pgoutput is supported."}).
	Define(connectors.ConfigKey{Name: "slot.name", Type: connectors.String, Default: "eddy", Importance: connectors.Medium,
		Validate: matches(slotNameRE, "a replication slot name is 1 to 63 lower-case letters, digits and underscores"),
		Doc:      "The logical replication slot, created when absent."}).
	Define(connectors.ConfigKey{Name: "slot.drop.on.stop", Type: connectors.Boolean, Default: "false", Importance: connectors.Low,
		Doc: "Drop the replication slot when the task stops. Changes made while no slot exists are not captured."}).
	Define(connectors.ConfigKey{Name: "publication.name", Type: connectors.String, Default: "eddy_publication", Importance: connectors.Medium,
		Validate: matches(pubNameRE, "a publication name is 1 to 63 letters, digits and underscores"),
		Doc:      "The publication the slot streams, created when absent (unless publication.autocreate.mode=disabled)."}).
	Define(connectors.ConfigKey{Name: "publication.autocreate.mode", Type: connectors.String, Default: "all_tables", Importance: connectors.Medium,
		Validate: connectors.OneOf("all_tables", "filtered", "disabled"), Recommended: []string{"all_tables", "filtered", "disabled"},
		Doc: "all_tables: CREATE PUBLICATION ... FOR ALL TABLES; filtered: FOR TABLE the existing tables table.include.list selects; disabled: the publication must exist."}).
	Define(connectors.ConfigKey{Name: "table.include.list", Type: connectors.List, Importance: connectors.High, Validate: regexList,
		Doc: "Regular expressions matched against whole schema.table names; only matching tables are captured. Empty: every table of the publication."}).
	Define(connectors.ConfigKey{Name: "table.exclude.list", Type: connectors.List, Importance: connectors.Medium, Validate: regexList,
		Doc: "Regular expressions of schema.table names not to capture (not with table.include.list)."}).
	Define(connectors.ConfigKey{Name: "snapshot.mode", Type: connectors.String, Default: "initial", Importance: connectors.Medium,
		Validate: connectors.OneOf("initial", "no_data", "never"), Recommended: []string{"initial", "no_data", "never"},
		Doc: "initial: read the captured tables when there is no stored offset, then stream; no_data (or never): stream changes only."}).
	Define(connectors.ConfigKey{Name: "tombstones.on.delete", Type: connectors.Boolean, Default: "true", Importance: connectors.Medium,
		Doc: "Follow each delete record with a record with the same key and a null value."}).
	Define(connectors.ConfigKey{Name: "decimal.handling.mode", Type: connectors.String, Default: "string", Importance: connectors.Low,
		Validate: connectors.OneOf("string", "double", "precise"), Recommended: []string{"string", "double", "precise"},
		Doc: "numeric columns as strings (exact), as doubles, or precise: as Debezium's Decimal (the unscaled value's two's-complement bytes, " +
			"at the column's declared scale) or, for a numeric without a declared scale, VariableScaleDecimal ({\"scale\", \"value\"})."}).
	Define(connectors.ConfigKey{Name: "unavailable.value.placeholder", Type: connectors.String, Default: "__debezium_unavailable_value",
		Importance: connectors.Low, Doc: "The value of an unchanged TOASTed column in an update, which PostgreSQL does not send."}).
	Define(connectors.ConfigKey{Name: "max.batch.size", Type: connectors.Int, Default: "2048", Importance: connectors.Low,
		Validate: connectors.AtLeast(2), Doc: "The most records one poll returns."}).
	Define(connectors.ConfigKey{Name: "poll.interval.ms", Type: connectors.Long, Default: "500", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "How long a poll waits for changes when there are none."}).
	Define(connectors.ConfigKey{Name: "status.update.interval.ms", Type: connectors.Long, Default: "10000", Importance: connectors.Low,
		Validate: connectors.AtLeast(1), Doc: "How often the confirmed position is sent to PostgreSQL when it has not moved (keeps the connection alive)."})

func init() {
	connectors.Register(&connectors.Plugin{
		Class: Class, Aliases: []string{"PostgresCdcSource", DebeziumClass, "PostgresConnector"},
		Type: connectors.TypeSource, Config: Config,
		NewConnector:  func() connectors.Connector { return &connector{} },
		NewSourceTask: func() connectors.SourceTask { return &Task{} },
	})
}

// settings are a parsed configuration.
type settings struct {
	connStr         string // for queries
	dbname          string
	prefix          string
	slot            string
	dropSlot        bool
	publication     string
	pubMode         string
	include         []*regexp.Regexp
	exclude         []*regexp.Regexp
	snapshot        bool
	tombstones      bool
	decimalMode     string // decimalString, decimalDouble or decimalPrecise
	unavailable     string
	maxBatch        int
	pollInterval    int64 // ms
	statusInterval  int64 // ms
	includePatterns []string
}

// dsnQuote quotes a value for a libpq key=value connection string.
func dsnQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func anchored(patterns []string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		out = append(out, regexp.MustCompile("^(?:"+p+")$")) // validated by Config
	}
	return out
}

func parseSettings(cfg connectors.Config) (settings, error) {
	s := settings{
		dbname:          cfg.String("database.dbname"),
		prefix:          cfg.String("topic.prefix"),
		slot:            cfg.String("slot.name"),
		dropSlot:        cfg.Bool("slot.drop.on.stop"),
		publication:     cfg.String("publication.name"),
		pubMode:         strings.ToLower(cfg.String("publication.autocreate.mode")),
		includePatterns: cfg.List("table.include.list"),
		include:         anchored(cfg.List("table.include.list")),
		exclude:         anchored(cfg.List("table.exclude.list")),
		snapshot:        strings.EqualFold(cfg.String("snapshot.mode"), "initial"),
		tombstones:      cfg.Bool("tombstones.on.delete"),
		decimalMode:     strings.ToLower(cfg.String("decimal.handling.mode")),
		unavailable:     cfg.String("unavailable.value.placeholder"),
		maxBatch:        cfg.Int("max.batch.size"),
		pollInterval:    cfg.Long("poll.interval.ms"),
		statusInterval:  cfg.Long("status.update.interval.ms"),
	}
	if len(s.include) > 0 && len(s.exclude) > 0 {
		return s, fmt.Errorf("%w: table.include.list and table.exclude.list cannot both be set", connectors.ErrBadConfig)
	}
	if s.pubMode == "filtered" && len(s.include) == 0 {
		return s, fmt.Errorf("%w: publication.autocreate.mode=filtered needs table.include.list", connectors.ErrBadConfig)
	}
	s.connStr = strings.Join([]string{
		"host=" + dsnQuote(cfg.String("database.hostname")),
		"port=" + strconv.Itoa(cfg.Int("database.port")),
		"user=" + dsnQuote(cfg.String("database.user")),
		"password=" + dsnQuote(cfg.String("database.password")),
		"dbname=" + dsnQuote(s.dbname),
		"sslmode=" + dsnQuote(cfg.String("database.sslmode")),
		"application_name='eddy-pgcdc'",
		// Fix the text forms decodeText reads, whatever the server's defaults.
		"datestyle='ISO'", "extra_float_digits='3'", "bytea_output='hex'",
	}, " ")
	return s, nil
}

// selected says whether the table schema.table is captured.
func (s *settings) selected(schema, table string) bool {
	name := schema + "." + table
	if len(s.include) > 0 {
		for _, re := range s.include {
			if re.MatchString(name) {
				return true
			}
		}
		return false
	}
	for _, re := range s.exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return true
}

func (s *settings) topic(schema, table string) string { return s.prefix + "." + schema + "." + table }

// connector checks the configuration and runs one task: a replication
// slot is one ordered stream.
type connector struct{}

func (*connector) Start(_ context.Context, cfg connectors.Config) error {
	_, err := parseSettings(cfg)
	return err
}

func (*connector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{}}, nil
}

func (*connector) Stop() error { return nil }
