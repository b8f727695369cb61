package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Output of the client commands: -o table (the default) writes aligned
// columns with an upper-case header row, for people; -o json writes one
// JSON document, for scripts (jq). Field names in JSON are snake_case and
// stable; tables may gain columns.

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table collects rows and writes them aligned.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// row adds a row; values are formatted with %v.
func (t *table) row(values ...any) {
	r := make([]string, len(values))
	for i, v := range values {
		r[i] = fmt.Sprint(v)
	}
	t.rows = append(t.rows, r)
}

func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// errString is err's message, or "" for nil, for JSON fields.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// status is a table cell: OK, or the error.
func status(err error) string {
	if err == nil {
		return "OK"
	}
	return err.Error()
}

// emit writes v as JSON or t as a table, as -o asks.
func (cf *clientFlags) emit(cmd *cobra.Command, v any, t *table) error {
	if cf.json() {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	return t.write(cmd.OutOrStdout())
}

// outcome is one named item's result in JSON output: {"<kind>": name,
// "error": ...}, the kind's key first.
type outcome struct {
	kind, name, err string
}

func (o outcome) MarshalJSON() ([]byte, error) {
	k, _ := json.Marshal(o.kind)
	n, _ := json.Marshal(o.name)
	b := append(append(append([]byte{'{'}, k...), ':'), n...)
	if o.err != "" {
		e, _ := json.Marshal(o.err)
		b = append(append(b, `,"error":`...), e...)
	}
	return append(b, '}'), nil
}

// emitOutcomes reports one row per name, with the error result(name)
// returns, as a KIND/STATUS table or as JSON, and fails as failures does
// when any failed (what names the operation in that error).
func (cf *clientFlags) emitOutcomes(cmd *cobra.Command, kind, what string, names []string, result func(name string) error) error {
	t := newTable(strings.ToUpper(kind), "STATUS")
	out := make([]outcome, 0, len(names))
	failed := 0
	var first error
	for _, name := range names {
		err := result(name)
		if err != nil {
			failed++
			first = cmp.Or(first, fmt.Errorf("%s: %w", name, err))
		}
		out = append(out, outcome{kind: kind, name: name, err: errString(err)})
		t.row(name, status(err))
	}
	if err := cf.emit(cmd, out, t); err != nil {
		return err
	}
	return failures(failed, len(names), what, first)
}
