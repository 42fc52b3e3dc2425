package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"

	"ucp/auth"
	"ucp/careplan"
	"ucp/fhir/fhirpkg"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/fhir/terminology"
	"ucp/profiles"
	"ucp/store"
)

// definitionsLoader is the principal the server's own definitions are
// installed as.
var definitionsLoader = &auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-definitions", UserID: "ucp-definitions", Name: "ucp definitions installer"}

// supportedProfiles maps each resource type to our profiles of it.
func supportedProfiles() map[string][]string {
	m := map[string][]string{}
	for _, sd := range profiles.StructureDefinitions() {
		typ, _ := sd["type"].(string)
		u, _ := sd["url"].(string)
		if kind, _ := sd["kind"].(string); kind == "resource" && typ != "" && u != "" {
			m[typ] = append(m[typ], u)
		}
	}
	return m
}

// newRegistry returns the search parameter registry every door of the
// server uses: the R4 base parameters, our own (profiles.SearchParameters),
// registered before anything is written so that every write, import and
// $reindex indexes them, and :in/:below reading the terminology stored in
// st. base is the server's FHIR base URL ("" when there is no server), whose
// absolute references are indexed as local ones.
func newRegistry(st store.Store, base string) (*search.Registry, error) {
	reg, err := search.NewRegistry()
	if err != nil {
		return nil, err
	}
	reg.SetBaseURL(base)
	reg.SetTerminology(&terminology.Source{Store: st})
	for _, sp := range profiles.SearchParameters() {
		if err := reg.Register(sp); err != nil {
			return nil, fmt.Errorf("registering %v: %w", sp["url"], err)
		}
	}
	return reg, nil
}

// ukcoreEnv names the UK Core package directory when --ukcore is not given
// (make and .ci/run set it to ../shared/ukcore when that folder exists).
const ukcoreEnv = "UKCORE_DIR"

// loadUKCore loads the UK Core package our profiles derive from, from dir
// as published (XML or JSON). With no dir it says loudly, through warn, that
// resources are checked against our profiles alone; a dir that does not
// hold UK Core is an error, since the server was asked to validate against
// it. The definitions are read at run time and never copied into ucp.
func loadUKCore(dir string, warn func(msg string)) (careplan.BasePackage, error) {
	if dir == "" {
		warn("UK Core is not loaded (--ukcore DIR or " + ukcoreEnv + "): resources are validated against ucp's profiles on the R4 base types, without UK Core's own constraints")
		return nil, nil
	}
	pkg, err := fhirpkg.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("--ukcore: %w", err)
	}
	for _, u := range profiles.UKCoreBases() {
		if sd, _ := pkg.Profile(context.Background(), u); sd == nil {
			return nil, fmt.Errorf("--ukcore %s: package %s %s has no %s, which ucp's profiles derive from", dir, pkg.Name, pkg.Version, u)
		}
	}
	return pkg, nil
}

// installDefinitions makes the server hold our profiles, value sets and
// search parameters as resources (read, and search by url, like any other), through the service.
// A definition is written only when it is missing or differs from the one
// built into this release, so a restart adds no versions.
func installDefinitions(ctx context.Context, svc *service.Service, types map[string]bool) error {
	ctx = auth.NewContext(ctx, definitionsLoader)
	defs := append(profiles.StructureDefinitions(), profiles.ValueSets()...)
	defs = append(defs, profiles.CodeSystems()...)
	defs = append(defs, profiles.SearchParameters()...)
	defs = append(defs, profiles.Measures()...)
	defs = append(defs, profiles.Questionnaires()...)
	for _, def := range defs {
		typ, id := resource.Type(def), resource.ID(def)
		u, _ := def["url"].(string)
		if !types[typ] || u == "" {
			continue // not a served type (CodeSystem, for now): the validator still has it built in
		}
		stored, err := findOne(ctx, svc, typ, "url="+url.QueryEscape(u))
		if err != nil {
			return err
		}
		if stored != nil {
			id = resource.ID(stored)
			delete(stored, "meta")
			d := clone(def)
			d["id"] = id
			delete(d, "meta")
			if reflect.DeepEqual(normalise(stored), normalise(d)) {
				continue
			}
		}
		body := clone(def)
		body["id"] = id
		if err := putResource(ctx, svc, body); err != nil {
			return fmt.Errorf("installing %s: %w", u, err)
		}
	}
	return nil
}

// clone deep-copies a tree through its JSON.
func clone(m map[string]any) map[string]any {
	c, _ := resource.Parse(resource.Marshal(m))
	return c
}

// normalise makes two trees comparable whatever their number types.
func normalise(m map[string]any) any {
	var v any
	json.Unmarshal(resource.Marshal(m), &v)
	return v
}
