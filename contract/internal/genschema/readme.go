package main

import (
	"bytes"
	_ "embed"
	"strings"
	"text/template"

	"github.com/certflow/certflow/workflows"
)

const readmeName = "README.md"

// readmeTemplate is contract/README.md with the names filled in from
// package workflows, so the index cannot drift from the code either.
//
//go:embed README.md.tmpl
var readmeTemplate string

func renderReadme() ([]byte, error) {
	t, err := template.New(readmeName).Parse(readmeTemplate)
	if err != nil {
		return nil, err
	}
	var searchAttributes []string
	for _, a := range workflows.SearchAttributes {
		name, _, _ := strings.Cut(a, "=")
		searchAttributes = append(searchAttributes, name)
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]any{
		"TaskQueue":        workflows.DefaultTaskQueue,
		"Signal":           workflows.SignalWebhook,
		"Query":            workflows.QueryStatus,
		"SearchAttributes": searchAttributes,
		"Workflows":        contracts,
		"Status":           statusName + schemaSuffix,
		"GeneratedBy":      generatedBy,
	})
	return b.Bytes(), err
}
