package synth

import (
	"html"
	"strings"
)

// narrative gives a resource a generated human-readable summary
// (Resource.text, dom-6), which is what a clinician sees when a system
// cannot render the structured data. For a plan it spells out what to do.
func narrative(res map[string]any) {
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	typ, _ := res["resourceType"].(string)
	switch typ {
	case "Patient":
		if n, ok := first(res["name"]).(map[string]any); ok {
			var given []string
			for _, g := range asList(n["given"]) {
				given = append(given, g.(string))
			}
			add(strings.Join(given, " ") + " " + str(n["family"]))
		}
		add("born " + str(res["birthDate"]))
		if id, ok := first(res["identifier"]).(map[string]any); ok {
			add("NHS number " + str(id["value"]))
		}
		if d := str(res["deceasedDateTime"]); d != "" {
			add("died " + d[:10])
		}
	case "CarePlan":
		add(display(first(res["category"])) + " (" + str(res["status"]) + ")")
		for _, a := range asList(res["activity"]) {
			if d, ok := a.(map[string]any)["detail"].(map[string]any); ok {
				add(str(d["description"]))
			}
		}
	case "Provenance":
		add("Approval recorded " + str(res["recorded"]))
	default:
		for _, k := range []string{"code", "type", "prognosisCodeableConcept", "medicationCodeableConcept", "valueCodeableConcept", "category"} {
			if v, ok := res[k]; ok {
				add(display(first(v)))
			}
		}
		if d, ok := res["description"].(map[string]any); ok {
			add(str(d["text"]))
		}
		add(str(res["name"]))
		if n, ok := first(res["name"]).(map[string]any); ok {
			var given []string
			for _, g := range asList(n["given"]) {
				given = append(given, g.(string))
			}
			add(strings.Join(append(given, str(n["family"])), " "))
		}
		for _, c := range asList(res["component"]) {
			c := c.(map[string]any)
			switch {
			case c["valueString"] != nil:
				add(str(c["valueString"]))
			case c["valueCodeableConcept"] != nil:
				add(display(c["valueCodeableConcept"]))
			}
		}
		for _, d := range asList(res["dosage"]) {
			add(str(d.(map[string]any)["text"]))
		}
	}
	if len(parts) == 0 {
		parts = []string{typ}
	}
	res["text"] = map[string]any{
		"status": "generated",
		"div":    `<div xmlns="http://www.w3.org/1999/xhtml">` + html.EscapeString(strings.Join(parts, ". ")) + `</div>`,
	}
}

func str(v any) string { s, _ := v.(string); return s }

func asList(v any) []any { l, _ := v.([]any); return l }

// first returns the first element of a list, or v itself.
func first(v any) any {
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			return nil
		}
		return l[0]
	}
	return v
}

// display is a CodeableConcept's text, or its first coding's display.
func display(v any) string {
	cc, _ := v.(map[string]any)
	if t := str(cc["text"]); t != "" {
		return t
	}
	if c, ok := first(cc["coding"]).(map[string]any); ok {
		if d := str(c["display"]); d != "" {
			return d
		}
		return str(c["code"])
	}
	return ""
}
