// Command genprofiles turns the "Certificate Profiles" section of the
// Uanataca RA guide into the Go table the uanataca package validates create
// requests against. The guide is the only place Uanataca publishes which
// fields each of its profiles requires, so the table is generated from it
// rather than typed by hand: a new guide is one `go generate` away.
//
// The guide's HTML is hand-written and not always well formed (some tables
// lose the </tr> of their last row), so the parser reads rows leniently but
// fails loudly on anything it cannot classify: a wrong table is worse than
// no table.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// alwaysRequired are the fields the create call's schema (CreateReqObject in
// the RA's Swagger spec) requires whatever the profile. The guide's tables
// for the electronic-seal profiles SELLOMedio, SELLOAlto and
// SelloOrganoAltoNubeQ omit "email", yet the RA still rejects a request
// without it, so these are added to every profile's mandatory list.
var alwaysRequired = []string{"profile", "registration_authority", "scratchcard", "email"}

// rule mirrors uanataca.ProfileRule; it is kept separate so the generator
// builds without the package whose file it writes.
type rule struct {
	mandatory, optional []string
	secureElements      []string
	validityTimes       []int
	idDocumentTypes     []string
}

func main() {
	// The defaults are relative to the uanataca package directory, where
	// `go generate` runs this command.
	guide := flag.String("guide", "../../../../shared/providers/uanataca-ra-guide.md", "path of the Uanataca RA guide (Markdown)")
	out := flag.String("out", "profiles_gen.go", "Go file to write")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("genprofiles: ")

	doc, err := os.ReadFile(*guide)
	if err != nil {
		log.Fatal(err)
	}
	profiles, err := parseGuide(string(doc))
	if err != nil {
		log.Fatalf("%s: %v", *guide, err)
	}
	src, err := render(profiles)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %d profiles to %s", len(profiles), *out)
}

var (
	profileDiv = regexp.MustCompile(`<div id="([^"]+)"[^>]*><h2>`)
	cell       = regexp.MustCompile(`(?s)<td>(.*?)</td>`)
	space      = regexp.MustCompile(`\s+`)
)

// parseGuide reads every per-profile table of the "Certificate Profiles"
// section. Each profile starts at a <div id="NAME"><h2> anchor and its rules
// are the first <table> after it; the region index tables (Europe, Peru,
// Global) sit between a profile's table and the next anchor and are skipped.
func parseGuide(doc string) (map[string]rule, error) {
	section, err := profilesSection(doc)
	if err != nil {
		return nil, err
	}
	anchors := profileDiv.FindAllStringSubmatchIndex(section, -1)
	if len(anchors) == 0 {
		return nil, fmt.Errorf("no profile found in the Certificate Profiles section")
	}
	profiles := map[string]rule{}
	for i, a := range anchors {
		name := section[a[2]:a[3]]
		end := len(section)
		if i+1 < len(anchors) {
			end = anchors[i+1][0]
		}
		if _, dup := profiles[name]; dup {
			return nil, fmt.Errorf("profile %s: described twice", name)
		}
		r, err := parseProfile(name, section[a[1]:end])
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", name, err)
		}
		profiles[name] = r
	}
	return profiles, nil
}

// profilesSection returns the text from the "# Certificate Profiles" heading
// to the next top-level heading.
func profilesSection(doc string) (string, error) {
	const heading = "\n# Certificate Profiles\n"
	start := strings.Index(doc, heading)
	if start < 0 {
		return "", fmt.Errorf("no %q heading", strings.TrimSpace(heading))
	}
	rest := doc[start+len(heading):]
	if end := strings.Index(rest, "\n# "); end >= 0 {
		rest = rest[:end]
	}
	return rest, nil
}

// parseProfile reads the field table of one profile.
func parseProfile(name, text string) (rule, error) {
	var r rule
	start := strings.Index(text, "<table>")
	if start < 0 {
		return r, fmt.Errorf("no field table")
	}
	table := text[start:]
	if end := strings.Index(table, "</table>"); end >= 0 {
		table = table[:end]
	}
	seen := map[string]bool{}
	// The piece before the first <tr> holds the <th> header cells.
	for _, row := range strings.Split(table, "<tr>")[1:] {
		if end := strings.Index(row, "</tr>"); end >= 0 {
			row = row[:end]
		}
		cells := cell.FindAllStringSubmatch(row, -1)
		if len(cells) != 4 {
			return r, fmt.Errorf("row with %d cells, want 4 (field, value, description, mandatory): %q", len(cells), clean(row))
		}
		field, value, mandatory := clean(cells[0][1]), clean(cells[1][1]), clean(cells[3][1])
		if field == "" || seen[field] {
			return r, fmt.Errorf("empty or repeated field %q", field)
		}
		seen[field] = true
		switch mandatory {
		case "Yes":
			r.mandatory = append(r.mandatory, field)
		case "No":
			r.optional = append(r.optional, field)
		default:
			return r, fmt.Errorf("field %s: mandatory column %q, want Yes or No", field, mandatory)
		}
		var err error
		switch field {
		case "profile":
			if value != name {
				err = fmt.Errorf("profile row names %q", value)
			}
		case "secure_element":
			r.secureElements, err = parseSecureElements(value)
		case "validity_time":
			r.validityTimes, err = parseValidityTimes(value)
		case "id_document_type":
			r.idDocumentTypes, err = parseDocumentTypes(value)
		}
		if err != nil {
			return r, fmt.Errorf("field %s: %w", field, err)
		}
	}
	for _, f := range alwaysRequired {
		if !seen[f] {
			r.mandatory = append(r.mandatory, f)
		} else if i := slices.Index(r.optional, f); i >= 0 {
			r.optional = slices.Delete(r.optional, i, i+1)
			r.mandatory = append(r.mandatory, f)
		}
	}
	return r, nil
}

// clean collapses the whitespace of a cell's text.
func clean(s string) string {
	return strings.TrimSpace(space.ReplaceAllString(s, " "))
}

// list splits a value cell such as "2", "[0, 2]" or "[IDC,PAS,PNO,TIN]".
// An empty cell means the guide does not constrain the field.
func list(value string) []string {
	value = strings.TrimSuffix(strings.TrimPrefix(value, "["), "]")
	if strings.TrimSpace(value) == "" {
		return nil
	}
	items := strings.Split(value, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
	}
	return items
}

func parseSecureElements(value string) ([]string, error) {
	items := list(value)
	for _, it := range items {
		if it != "0" && it != "1" && it != "2" {
			return nil, fmt.Errorf("value %q, want 0, 1 or 2", it)
		}
	}
	return items, nil
}

func parseValidityTimes(value string) ([]int, error) {
	var days []int
	for _, it := range list(value) {
		n, err := strconv.Atoi(it)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("value %q, want a number of days", it)
		}
		days = append(days, n)
	}
	return days, nil
}

var documentType = regexp.MustCompile(`^[A-Z]{2,4}$`)

func parseDocumentTypes(value string) ([]string, error) {
	items := list(value)
	for _, it := range items {
		if !documentType.MatchString(it) {
			return nil, fmt.Errorf("value %q, want an upper-case document type code", it)
		}
	}
	return items, nil
}

// render writes the generated Go file, profiles sorted by name so that
// regenerating from the same guide gives the same file.
func render(profiles map[string]rule) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by genprofiles from the Uanataca RA guide; DO NOT EDIT.\n\n")
	b.WriteString("package uanataca\n\n")
	b.WriteString("// profiles holds, by profile name, the rules of every profile of the\n")
	b.WriteString("// guide's \"Certificate Profiles\" section.\n")
	b.WriteString("var profiles = map[string]ProfileRule{\n")
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := profiles[n]
		fmt.Fprintf(&b, "%q: {\n", n)
		fmt.Fprintf(&b, "Mandatory: %s,\n", stringSlice(r.mandatory))
		if len(r.optional) > 0 {
			fmt.Fprintf(&b, "Optional: %s,\n", stringSlice(r.optional))
		}
		if len(r.secureElements) > 0 {
			fmt.Fprintf(&b, "SecureElements: %s,\n", stringSlice(r.secureElements))
		}
		if len(r.validityTimes) > 0 {
			fmt.Fprintf(&b, "ValidityTimes: %#v,\n", r.validityTimes)
		}
		if len(r.idDocumentTypes) > 0 {
			fmt.Fprintf(&b, "IDDocumentTypes: %s,\n", stringSlice(r.idDocumentTypes))
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the generated code: %w", err)
	}
	return src, nil
}

func stringSlice(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}
