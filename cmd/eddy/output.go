package main

import (
	"github.com/spf13/cobra"

	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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
