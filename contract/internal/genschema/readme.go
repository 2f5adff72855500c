package main

import (
	"bytes"
	_ "embed"
	"strings"
	"text/template"

	"github.com/certflow/certflow/contract"
)

const readmeName = "README.md"

// readmeTemplate is contract/README.md with the names filled in from
// package contract, so the index cannot drift from the code either.
//
//go:embed README.md.tmpl
var readmeTemplate string

func renderReadme() ([]byte, error) {
	t, err := template.New(readmeName).Parse(readmeTemplate)
	if err != nil {
		return nil, err
	}
	var searchAttributes []string
	for _, a := range contract.SearchAttributes {
		name, _, _ := strings.Cut(a, "=")
		searchAttributes = append(searchAttributes, name)
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]any{
		"TaskQueue":        contract.DefaultTaskQueue,
		"Signal":           contract.SignalWebhook,
		"CancelSignal":     contract.SignalCancelReason,
		"Query":            contract.QueryStatus,
		"SearchAttributes": searchAttributes,
		"Workflows":        contract.Workflows,
		"Status":           statusName + schemaSuffix,
		"GeneratedBy":      generatedBy,
	})
	return b.Bytes(), err
}
