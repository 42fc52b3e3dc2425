package resource

import (
	"strconv"
	"strings"
	"time"
)

// Type returns the resource's resourceType, or "" if it has none.
func Type(res map[string]any) string {
	s, _ := res["resourceType"].(string)
	return s
}

// ID returns the resource's id, or "" if it has none.
func ID(res map[string]any) string {
	s, _ := res["id"].(string)
	return s
}

// ValidID reports whether id obeys the FHIR id rules: 1 to 64 characters
// from A-Z, a-z, 0-9, '-' and '.'.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ValidType reports whether name has the shape of a resource type name
// (whether the server serves it is the caller's business).
func ValidType(name string) bool {
	if name == "" || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// SetMeta sets the server-owned fields: id, meta.versionId and
// meta.lastUpdated. Everything else in meta (profile, security, tag,
// source, extensions) is the client's and is kept.
func SetMeta(res map[string]any, id string, version int64, lastUpdated time.Time) {
	res["id"] = id
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = make(map[string]any, 2)
		res["meta"] = meta
	}
	meta["versionId"] = strconv.FormatInt(version, 10)
	meta["lastUpdated"] = FormatInstant(lastUpdated)
}

// FormatInstant formats t as a FHIR instant in UTC, with microseconds when
// t has a fractional second (stores keep microsecond precision).
func FormatInstant(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}

// Reference is a parsed Reference.reference string.
type Reference struct {
	Type    string // resource type, when the reference names one
	ID      string
	Version string // from …/_history/N
	URL     string // the whole reference when absolute, urn: or #fragment; the base URL for absolute RESTful references
}

// IsLocal reports whether the reference is a relative RESTful one ("Patient/1").
func (r Reference) IsLocal() bool { return r.Type != "" && r.URL == "" }

// ParseReference parses a reference string:
//
//	"Patient/1"                          Type, ID
//	"Patient/1/_history/2"               Type, ID, Version
//	"https://x.org/fhir/Patient/1"       Type, ID, URL ("https://x.org/fhir", the base)
//	"urn:uuid:…", "#p1", other URLs      URL only (the whole string)
func ParseReference(s string) Reference {
	if s == "" {
		return Reference{}
	}
	if strings.HasPrefix(s, "#") || strings.HasPrefix(s, "urn:") {
		return Reference{URL: s}
	}
	path := s
	base := ""
	if i := strings.Index(s, "://"); i >= 0 {
		// Absolute: split off the base at the last Type/id[/_history/v].
		rest := s[i+3:]
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return Reference{URL: s}
		}
		parts := strings.Split(rest[slash+1:], "/")
		n := len(parts)
		switch {
		case n >= 4 && parts[n-2] == "_history" && ValidType(parts[n-4]) && ValidID(parts[n-3]):
			return Reference{Type: parts[n-4], ID: parts[n-3], Version: parts[n-1],
				URL: strings.TrimSuffix(s, "/"+strings.Join(parts[n-4:], "/"))}
		case n >= 2 && ValidType(parts[n-2]) && ValidID(parts[n-1]):
			return Reference{Type: parts[n-2], ID: parts[n-1],
				URL: strings.TrimSuffix(s, "/"+parts[n-2]+"/"+parts[n-1])}
		}
		return Reference{URL: s}
	}
	parts := strings.Split(path, "/")
	switch {
	case len(parts) == 2 && ValidType(parts[0]) && ValidID(parts[1]):
		return Reference{Type: parts[0], ID: parts[1], URL: base}
	case len(parts) == 4 && parts[2] == "_history" && ValidType(parts[0]) && ValidID(parts[1]) && ValidID(parts[3]):
		return Reference{Type: parts[0], ID: parts[1], Version: parts[3], URL: base}
	}
	return Reference{URL: s}
}

// WalkReferences calls fn for every object in the tree that holds a
// "reference" string member (Reference datatypes, wherever they are,
// including inside contained resources and extensions). fn may change the
// object in place.
func WalkReferences(v any, fn func(ref map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["reference"].(string); ok {
			fn(v)
		}
		for _, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				WalkReferences(e, fn)
			}
		}
	case []any:
		for _, e := range v {
			WalkReferences(e, fn)
		}
	}
}
