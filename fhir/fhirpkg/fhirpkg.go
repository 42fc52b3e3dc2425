// Package fhirpkg loads the conformance resources of a published FHIR
// package (an implementation guide such as UK Core) from a directory at run
// time: its StructureDefinitions, ValueSets and CodeSystems, in JSON (the
// NPM package layout, package/*.json) or XML (as UK Core's repository
// publishes them), in any folders below the directory. Examples and every
// other resource type are skipped.
//
// A Package serves the validator (it implements validate.ProfileSource) and
// gives the terminology its value sets. The definitions are never copied
// into this project: a deployment points the server at the package it is
// licensed to use.
package fhirpkg

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"ucp/fhir/resource"
)

// Package is a loaded conformance package. It is read-only after Load and
// safe for concurrent use; callers must not modify the trees it returns.
type Package struct {
	Name, Version string // from package.json, when there is one
	Dir           string

	byURL         map[string]map[string]any
	sds, vss, css []map[string]any
}

// kept are the resource types a Package holds.
var kept = map[string]bool{"StructureDefinition": true, "ValueSet": true, "CodeSystem": true}

// Load reads every .json and .xml file under dir (but not under folders
// named example or examples) and keeps the StructureDefinitions, ValueSets
// and CodeSystems. A file of one of those types that does not parse, or two
// with one canonical URL, is an error: a half-loaded package would validate
// against less than it claims.
func Load(dir string) (*Package, error) {
	p := &Package{Dir: dir, byURL: map[string]map[string]any{}}
	if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
		var meta struct{ Name, Version string }
		if err := json.Unmarshal(b, &meta); err != nil {
			return nil, fmt.Errorf("fhirpkg: %s: %w", filepath.Join(dir, "package.json"), err)
		}
		p.Name, p.Version = meta.Name, meta.Version
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := strings.ToLower(d.Name()); path != dir && (n == "example" || n == "examples" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		ext := strings.ToLower(filepath.Ext(path))
		if ext != ".json" && ext != ".xml" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !kept[rootType(b, ext)] {
			return nil
		}
		var res map[string]any
		if ext == ".xml" {
			res, err = resource.ParseXML(b)
		} else {
			res, err = resource.Parse(b)
		}
		if err != nil {
			return fmt.Errorf("fhirpkg: %s: %w", path, err)
		}
		url, _ := res["url"].(string)
		if url == "" {
			return fmt.Errorf("fhirpkg: %s: %s without a url", path, resource.Type(res))
		}
		if _, dup := p.byURL[url]; dup {
			return fmt.Errorf("fhirpkg: %s: a second definition of %s", path, url)
		}
		p.byURL[url] = res
		switch resource.Type(res) {
		case "StructureDefinition":
			p.sds = append(p.sds, res)
		case "ValueSet":
			p.vss = append(p.vss, res)
		case "CodeSystem":
			p.css = append(p.css, res)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("fhirpkg: %w", err)
		}
		return nil, err
	}
	if len(p.sds) == 0 {
		return nil, fmt.Errorf("fhirpkg: no StructureDefinition under %s", dir)
	}
	for _, l := range [][]map[string]any{p.sds, p.vss, p.css} {
		sort.Slice(l, func(i, j int) bool { return l[i]["url"].(string) < l[j]["url"].(string) })
	}
	return p, nil
}

// rootType is the resource type of a file, read from its start without
// parsing the whole: the root element of XML, resourceType of JSON.
func rootType(b []byte, ext string) string {
	if ext == ".xml" {
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			tok, err := d.Token()
			if err != nil {
				return ""
			}
			if se, ok := tok.(xml.StartElement); ok {
				return se.Name.Local
			}
		}
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(b, &head) != nil {
		return ""
	}
	return head.ResourceType
}

// Profile returns the StructureDefinition with canonical url ("|version"
// is ignored: a package holds one version of each), or nil when the
// package has none. It implements validate.ProfileSource.
func (p *Package) Profile(_ context.Context, url string) (map[string]any, error) {
	url, _, _ = strings.Cut(url, "|")
	if r := p.byURL[url]; resource.Type(r) == "StructureDefinition" {
		return r, nil
	}
	return nil, nil
}

// Has reports whether the package defines a resource with canonical url.
func (p *Package) Has(url string) bool {
	url, _, _ = strings.Cut(url, "|")
	_, ok := p.byURL[url]
	return ok
}

// StructureDefinitions returns the package's StructureDefinitions by url.
func (p *Package) StructureDefinitions() []map[string]any { return p.sds }

// Terminology returns the package's ValueSets and CodeSystems.
func (p *Package) Terminology() []map[string]any {
	return append(append([]map[string]any(nil), p.vss...), p.css...)
}
