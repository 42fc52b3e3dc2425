// Package conformance describes what a ucp server can do: it builds the
// server's CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html)
// from what is actually registered — the served types, their interactions
// and the search parameters of the registry — so the statement can never
// drift from the code. Nothing in it is hand-written per type.
package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// Options is what a server reports about itself.
type Options struct {
	SoftwareName    string
	SoftwareVersion string
	// BaseURL is the server's FHIR base, reported as implementation.url.
	BaseURL string
	// Now is the statement's date.
	Now time.Time
	// Resources are the served types.
	Resources []Resource
	// SystemInteractions are the whole-system interactions (transaction,
	// batch, history-system, search-system).
	SystemInteractions []string
	// Operations are system-level operations ($export …), by name and
	// OperationDefinition canonical.
	Operations []Operation
	// SecurityService, when set, names the security service (e.g. "SMART-on-FHIR")
	// and Security describes it.
	SecurityService string
	Security        string
	// Documentation is rest.documentation (markdown): rules of the server
	// as a whole, such as the limits of a search.
	Documentation string
}

// Resource is one served type.
type Resource struct {
	Type              string
	Profile           string   // the base profile canonical, optional
	SupportedProfiles []string // profiles the server knows for the type
	Interactions      []string // read, vread, update, patch, delete, history-instance, history-type, create, search-type
	ReadHistory       bool
	UpdateCreate      bool
	ConditionalCreate bool
	ConditionalUpdate bool
	ConditionalDelete string // not-supported, single, multiple
	SearchParams      []SearchParam
	Operations        []Operation
}

// SearchParam is one search parameter of a type.
type SearchParam struct {
	Name, Type, Definition, Documentation string
}

// Operation is a supported operation.
type Operation struct {
	Name, Definition, Documentation string
}

// Build returns the CapabilityStatement JSON for opts.
func Build(opts Options) ([]byte, error) {
	if len(opts.Resources) == 0 {
		return nil, errors.New("conformance: no resource types")
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement",
		Status:       "active",
		Date:         opts.Now.UTC().Format("2006-01-02T15:04:05Z"),
		Publisher:    opts.SoftwareName,
		Kind:         "instance",
		Software:     &software{Name: opts.SoftwareName, Version: opts.SoftwareVersion},
		FHIRVersion:  "4.0.1",
		Format:       []string{"application/fhir+json", "json", "application/json"},
		PatchFormat:  []string{"application/json-patch+json"},
	}
	if opts.BaseURL != "" {
		cs.Implementation = &implementation{Description: opts.SoftwareName + " FHIR R4 server", URL: opts.BaseURL}
	}
	r := rest{Mode: "server", Documentation: opts.Documentation}
	if opts.SecurityService != "" || opts.Security != "" {
		r.Security = &security{Description: opts.Security}
		if opts.SecurityService != "" {
			r.Security.Service = []codeableConcept{{Coding: []coding{{
				System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: opts.SecurityService,
			}}}}
		}
	}
	res := append([]Resource(nil), opts.Resources...)
	sort.Slice(res, func(i, j int) bool { return res[i].Type < res[j].Type })
	for _, rt := range res {
		cr := csResource{
			Type: rt.Type, Profile: rt.Profile, SupportedProfile: rt.SupportedProfiles,
			Versioning: "versioned-update", ReadHistory: rt.ReadHistory, UpdateCreate: rt.UpdateCreate,
			ConditionalCreate: rt.ConditionalCreate, ConditionalUpdate: rt.ConditionalUpdate,
			ConditionalRead: "not-supported", ConditionalDelete: rt.ConditionalDelete,
			ReferencePolicy: []string{"literal", "logical"},
		}
		if cr.ConditionalDelete == "" {
			cr.ConditionalDelete = "not-supported"
		}
		for _, in := range rt.Interactions {
			cr.Interaction = append(cr.Interaction, code{Code: in})
		}
		sps := append([]SearchParam(nil), rt.SearchParams...)
		sort.Slice(sps, func(i, j int) bool { return sps[i].Name < sps[j].Name })
		for _, sp := range sps {
			cr.SearchParam = append(cr.SearchParam, searchParam{Name: sp.Name, Definition: sp.Definition, Type: sp.Type, Documentation: sp.Documentation})
		}
		for _, op := range rt.Operations {
			cr.Operation = append(cr.Operation, operation(op))
		}
		r.Resource = append(r.Resource, cr)
	}
	for _, in := range opts.SystemInteractions {
		r.Interaction = append(r.Interaction, code{Code: in})
	}
	for _, op := range opts.Operations {
		r.Operation = append(r.Operation, operation(op))
	}
	cs.Rest = []rest{r}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cs); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

type capabilityStatement struct {
	ResourceType   string          `json:"resourceType"`
	Status         string          `json:"status"`
	Date           string          `json:"date"`
	Publisher      string          `json:"publisher,omitempty"`
	Kind           string          `json:"kind"`
	Software       *software       `json:"software,omitempty"`
	Implementation *implementation `json:"implementation,omitempty"`
	FHIRVersion    string          `json:"fhirVersion"`
	Format         []string        `json:"format"`
	PatchFormat    []string        `json:"patchFormat,omitempty"`
	Rest           []rest          `json:"rest"`
}

type software struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type implementation struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

type rest struct {
	Mode          string       `json:"mode"`
	Documentation string       `json:"documentation,omitempty"`
	Security      *security    `json:"security,omitempty"`
	Resource      []csResource `json:"resource,omitempty"`
	Interaction   []code       `json:"interaction,omitempty"`
	Operation     []operation  `json:"operation,omitempty"`
}

type security struct {
	Service     []codeableConcept `json:"service,omitempty"`
	Description string            `json:"description,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type code struct {
	Code string `json:"code"`
}

type csResource struct {
	Type              string        `json:"type"`
	Profile           string        `json:"profile,omitempty"`
	SupportedProfile  []string      `json:"supportedProfile,omitempty"`
	Interaction       []code        `json:"interaction,omitempty"`
	Versioning        string        `json:"versioning"`
	ReadHistory       bool          `json:"readHistory"`
	UpdateCreate      bool          `json:"updateCreate"`
	ConditionalCreate bool          `json:"conditionalCreate"`
	ConditionalRead   string        `json:"conditionalRead"`
	ConditionalUpdate bool          `json:"conditionalUpdate"`
	ConditionalDelete string        `json:"conditionalDelete"`
	ReferencePolicy   []string      `json:"referencePolicy,omitempty"`
	SearchParam       []searchParam `json:"searchParam,omitempty"`
	Operation         []operation   `json:"operation,omitempty"`
}

type searchParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

type operation struct {
	Name          string `json:"name"`
	Definition    string `json:"definition"`
	Documentation string `json:"documentation,omitempty"`
}
