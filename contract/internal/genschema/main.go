// Command genschema writes contract/: a JSON Schema (draft 2020-12) for
// every message certflow's workflows exchange with other services — each
// workflow's input, result and webhook signal, and the status query's
// answer — and the README that indexes them, all from the Go types and
// names. Services in other languages code against these files, so they are
// generated rather than written by hand, and a test fails when the committed
// ones differ from what the Go types generate.
//
// Run it from the module root after changing any of those types, their doc
// comments (they become the schemas' descriptions) or the names in
// package contract:
//
//	go run ./contract/internal/genschema
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "contract", "folder to write the schemas and README into")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
}

// write generates the contract into dir and removes any schema there that
// is no longer generated (a renamed workflow's), so dir holds exactly the
// current contract.
func write(dir string) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the certflow module root: the schemas' descriptions are read from the Go sources there")
	}
	files, err := generate()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*"+schemaSuffix))
	if err != nil {
		return err
	}
	for _, path := range old {
		if _, ok := files[filepath.Base(path)]; !ok {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
