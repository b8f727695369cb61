package pgcdc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/eddy-streams/eddy/connectors"
)

// beginSnapshot opens the snapshot transaction (on the slot's exported
// snapshot when there is one) and lists the tables to read.
func (t *Task) beginSnapshot(ctx context.Context, exported string, lsn pglogrepl.LSN) error {
	if _, err := t.db.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("pgcdc: beginning the snapshot: %w", err)
	}
	if exported != "" {
		if _, err := t.db.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(exported, "'", "''")+"'"); err != nil {
			return fmt.Errorf("pgcdc: importing the slot's snapshot %s: %w", exported, err)
		}
	}
	rows, err := t.db.Query(ctx, `SELECT c.oid, p.schemaname, p.tablename FROM pg_publication_tables p
		JOIN pg_namespace n ON n.nspname = p.schemaname
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
		WHERE p.pubname = $1 ORDER BY 2, 3`, t.s.publication)
	if err != nil {
		return fmt.Errorf("pgcdc: listing the tables of publication %q: %w", t.s.publication, err)
	}
	snap := &snapshotState{lsn: lsn}
	for rows.Next() {
		var st snapTable
		if err := rows.Scan(&st.oid, &st.schema, &st.table); err != nil {
			return fmt.Errorf("pgcdc: listing tables: %w", err)
		}
		if t.s.selected(st.schema, st.table) {
			snap.tables = append(snap.tables, st)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgcdc: listing tables: %w", err)
	}
	for i := range snap.tables {
		if snap.tables[i].key, err = t.primaryKey(ctx, snap.tables[i].oid); err != nil {
			return err
		}
	}
	t.snap = snap
	t.logger.Info("snapshot started", "tables", len(snap.tables), "exported", exported != "", "lsn", lsn)
	return nil
}

// pollSnapshot reads the next rows of the snapshot. The last record of a
// poll is held back until the next one, so that the snapshot's very last
// record can carry the offset saying it is complete.
func (t *Task) pollSnapshot(ctx context.Context) ([]connectors.SourceRecord, error) {
	snap := t.snap
	var out []connectors.SourceRecord
	if snap.held != nil {
		out = append(out, *snap.held)
		snap.held = nil
	}
	pos := position{LSN: snap.lsn, Snapshot: true}
	now := time.Now()
	for len(out) <= t.s.maxBatch && snap.next < len(snap.tables) {
		st := snap.tables[snap.next]
		if !snap.open {
			sql := "DECLARE " + snapshotCursor + " NO SCROLL CURSOR FOR SELECT * FROM " + pgx.Identifier{st.schema, st.table}.Sanitize()
			if _, err := t.db.Exec(ctx, sql); err != nil {
				return nil, fmt.Errorf("pgcdc: snapshot of %s.%s: %w", st.schema, st.table, err)
			}
			snap.open = true
		}
		want := t.s.maxBatch + 1 - len(out)
		// The simple protocol returns every column in text form, as pgoutput does.
		results, err := t.db.PgConn().Exec(ctx, fmt.Sprintf("FETCH %d FROM %s", want, snapshotCursor)).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("pgcdc: snapshot of %s.%s: %w", st.schema, st.table, err)
		}
		if len(results) != 1 || results[0].Err != nil {
			return nil, fmt.Errorf("pgcdc: snapshot of %s.%s: unexpected FETCH result", st.schema, st.table)
		}
		res := results[0]
		rel := &relation{schema: st.schema, table: st.table, key: st.key, selected: true}
		for _, fd := range res.FieldDescriptions {
			rel.cols = append(rel.cols, column{name: fd.Name, oid: fd.DataTypeOID, typmod: fd.TypeModifier})
		}
		src := t.source(st.schema, st.table, "true", now, 0, int64(snap.lsn))
		for _, vals := range res.Rows {
			row := make(map[string]any, len(vals))
			for i, v := range vals {
				if v == nil {
					row[rel.cols[i].name] = nil
				} else {
					row[rel.cols[i].name] = decodeText(rel.cols[i], v, t.s.decimalMode)
				}
			}
			out = append(out, t.record(rel, "r", nil, row, src, pos, now)...)
		}
		if len(res.Rows) < want {
			if _, err := t.db.Exec(ctx, "CLOSE "+snapshotCursor); err != nil {
				return nil, fmt.Errorf("pgcdc: snapshot of %s.%s: %w", st.schema, st.table, err)
			}
			snap.open = false
			snap.next++
		}
	}
	if snap.next < len(snap.tables) {
		if n := len(out); n > 0 {
			snap.held = &out[n-1]
			out = out[:n-1]
		}
		return out, nil
	}
	if _, err := t.db.Exec(ctx, "COMMIT"); err != nil {
		return nil, fmt.Errorf("pgcdc: ending the snapshot: %w", err)
	}
	done := position{LSN: snap.lsn}
	if n := len(out); n > 0 {
		last := &out[n-1]
		last.SourceOffset = done.offset()
		v := last.Value.(map[string]any)
		src := make(map[string]any, len(v["source"].(map[string]any)))
		for k, x := range v["source"].(map[string]any) {
			src[k] = x
		}
		src["snapshot"] = "last"
		v["source"] = src
	}
	t.logger.Info("snapshot done", "tables", len(snap.tables))
	t.snap = nil
	// Poll notes the offset of the last record as the position to stream
	// from; without records (empty tables) streaming starts at the slot's
	// position, which is the snapshot's.
	return out, nil
}
