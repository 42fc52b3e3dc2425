package rest

import (
	"strings"

	"ucp/fhir/model"
	"ucp/fhir/resource"
)

// mandatory returns the JSON names of typ's top-level elements with
// minimum cardinality 1, which _elements and _summary=text keep (R4
// search.html#elements: "servers SHOULD return mandatory elements").
func mandatory(typ string) map[string]bool {
	m := map[string]bool{}
	ti := model.Type(typ)
	if ti == nil {
		return m
	}
	for _, e := range ti.Elements {
		if e.Min >= 1 {
			for _, n := range e.JSONNames {
				m[n] = true
			}
		}
	}
	return m
}

// subsettedTag marks a resource returned with elements left out (R4
// search.html#summary).
var subsettedTag = map[string]any{
	"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
	"code":   "SUBSETTED",
}

// subset applies _summary and _elements to a stored resource. With neither
// (or _summary=false) the stored bytes are returned untouched.
func (s *Server) subset(data []byte, summary, elements string) ([]byte, error) {
	if (summary == "" || summary == "false") && elements == "" {
		return data, nil
	}
	switch summary {
	case "", "false", "true", "text", "data", "count":
	default:
		return nil, invalidAt("_summary", "unknown _summary value %q: use true, text, data, count or false", summary)
	}
	res, err := resource.Parse(data)
	if err != nil {
		return nil, err
	}
	typ, _ := res["resourceType"].(string)
	var keep func(k string) bool
	switch {
	case elements != "" && (summary == "" || summary == "false"):
		want := map[string]bool{}
		for _, e := range strings.Split(elements, ",") {
			e = strings.TrimSpace(e)
			e = strings.TrimPrefix(e, typ+".")
			if i := strings.IndexByte(e, '.'); i >= 0 {
				e = e[:i] // only top-level elements are selected; a path keeps its whole element
			}
			want[e] = true
		}
		keep = func(k string) bool {
			k = strings.TrimPrefix(k, "_")
			return want[k] || mandatory(typ)[k]
		}
	case summary == "text":
		keep = func(k string) bool { return k == "text" || mandatory(typ)[strings.TrimPrefix(k, "_")] }
	case summary == "data":
		keep = func(k string) bool { return k != "text" }
	default: // true (count is treated as true for a single resource)
		var want map[string]bool
		if s.cfg.SummaryElements != nil {
			want = map[string]bool{}
			for _, e := range s.cfg.SummaryElements(typ) {
				want[e] = true
			}
		}
		keep = func(k string) bool {
			if want == nil {
				return k != "text" && k != "contained"
			}
			return want[strings.TrimPrefix(k, "_")]
		}
	}
	for k := range res {
		switch k {
		case "resourceType", "id", "meta":
			continue
		}
		if !keep(k) {
			delete(res, k)
		}
	}
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, subsettedTag)
	return resource.Marshal(res), nil
}
