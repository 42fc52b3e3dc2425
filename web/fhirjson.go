package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"ucp/fhir/resource"
)

// Small readers of the raw JSON trees the service returns. A missing or
// mistyped element reads as empty: the page shows "not recorded" rather
// than failing, since what is stored has passed validation.

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

func objs(m map[string]any, k string) []map[string]any {
	var out []map[string]any
	l, _ := m[k].([]any)
	for _, e := range l {
		if o, ok := e.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// conceptText is a CodeableConcept in words: its text, else its first
// coding's display, else the code.
func conceptText(c map[string]any) string {
	if t := str(c, "text"); t != "" {
		return t
	}
	for _, cd := range objs(c, "coding") {
		if d := str(cd, "display"); d != "" {
			return d
		}
	}
	for _, cd := range objs(c, "coding") {
		if code := str(cd, "code"); code != "" {
			return code
		}
	}
	return ""
}

func hasCoding(c map[string]any, system string, codes ...string) bool {
	for _, cd := range objs(c, "coding") {
		if str(cd, "system") != system {
			continue
		}
		for _, code := range codes {
			if str(cd, "code") == code {
				return true
			}
		}
	}
	return false
}

// humanName is a HumanName as people write it: prefix, given, family.
func humanName(res map[string]any) string {
	names := objs(res, "name")
	for _, n := range names {
		if str(n, "use") == "official" {
			return nameText(n)
		}
	}
	if len(names) > 0 {
		return nameText(names[0])
	}
	if s, ok := res["name"].(string); ok {
		return s // Organization, CareTeam
	}
	return ""
}

func nameText(n map[string]any) string {
	if t := str(n, "text"); t != "" {
		return t
	}
	var parts []string
	for _, k := range []string{"prefix", "given"} {
		l, _ := n[k].([]any)
		for _, e := range l {
			if s, ok := e.(string); ok {
				parts = append(parts, s)
			}
		}
	}
	if f := str(n, "family"); f != "" {
		parts = append(parts, f)
	}
	return strings.Join(parts, " ")
}

// value is an Observation's or component's value[x] in words.
func value(m map[string]any) string {
	for k, v := range m {
		if !strings.HasPrefix(k, "value") {
			continue
		}
		switch v := v.(type) {
		case string:
			return v
		case bool:
			if v {
				return "Yes"
			}
			return "No"
		case map[string]any:
			if k == "valueCodeableConcept" {
				return conceptText(v)
			}
			if k == "valueQuantity" {
				return strings.TrimSpace(fmt.Sprint(v["value"]) + " " + str(v, "unit"))
			}
		default:
			return fmt.Sprint(v)
		}
	}
	return ""
}

// component returns the value of the component coded code (any system).
func component(res map[string]any, code string) []string {
	var out []string
	for _, c := range objs(res, "component") {
		for _, cd := range objs(obj(c, "code"), "coding") {
			if str(cd, "code") == code {
				if v := value(c); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// extensionDate is the valueDate of the extension url.
func extensionDate(res map[string]any, url string) string {
	for _, e := range objs(res, "extension") {
		if str(e, "url") == url {
			return str(e, "valueDate")
		}
	}
	return ""
}

// refDisplay is a Reference's display, else its reference.
func refDisplay(r map[string]any) string {
	if d := str(r, "display"); d != "" {
		return d
	}
	return str(r, "reference")
}

// nhsNumber is the patient's NHS number, "" when none.
func nhsNumber(res map[string]any) string {
	for _, id := range objs(res, "identifier") {
		if str(id, "system") == "https://fhir.nhs.uk/Id/nhs-number" {
			return str(id, "value")
		}
	}
	return ""
}

// spacedNHS writes an NHS number as 3-3-4, as the NHS shows it.
func spacedNHS(n string) string {
	if len(n) != 10 {
		return n
	}
	return n[:3] + " " + n[3:6] + " " + n[6:]
}

// longDate writes a FHIR date or dateTime as "3 February 1940"; what it
// cannot read it writes as given.
func longDate(s string) string {
	if s == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if len(s) > 10 {
				return t.In(london).Format("2 January 2006, 15:04")
			}
			return t.Format("2 January 2006")
		}
	}
	if t, err := time.Parse("2006-01", s); err == nil {
		return t.Format("January 2006")
	}
	return s
}

// london is the time zone plans are read in. Loaded from the system's zone
// database; UTC when it has none, so times are still right, just in UTC.
var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC
	}
	return l
}()

// age in whole years on now.
func age(birth string, now time.Time) (int, bool) {
	b, err := time.Parse("2006-01-02", birth)
	if err != nil {
		return 0, false
	}
	y := now.Year() - b.Year()
	if now.Month() < b.Month() || (now.Month() == b.Month() && now.Day() < b.Day()) {
		y--
	}
	return y, true
}

// refParts splits "Type/id" or "Type/id/_history/n".
func refParts(ref string) (typ, id string, vid int64) {
	r := resource.ParseReference(ref)
	if r.URL != "" && !r.IsLocal() {
		return "", "", 0 // another server's: not ours to read
	}
	vid, _ = strconv.ParseInt(r.Version, 10, 64)
	return r.Type, r.ID, vid
}
