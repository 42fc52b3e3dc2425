package resource

// Accessors over parsed trees. A missing key and a value of another JSON type
// read the same: as absent. Code that must tell them apart (validation)
// looks at the value itself.

// Str is the string at key k of m, "" when there is none.
func Str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Obj is the object at key k of m, nil when there is none.
func Obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

// List is v as a JSON array, nil when it is not one.
func List(v any) []any {
	l, _ := v.([]any)
	return l
}

// HasCoding reports whether the CodeableConcept cc has a coding of system
// with one of codes.
func HasCoding(cc any, system string, codes ...string) bool {
	m, _ := cc.(map[string]any)
	for _, c := range List(m["coding"]) {
		cm, _ := c.(map[string]any)
		if Str(cm, "system") != system {
			continue
		}
		for _, code := range codes {
			if Str(cm, "code") == code {
				return true
			}
		}
	}
	return false
}
