package resource

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Marshal serialises a tree canonically: in each object, "resourceType",
// "id" and "meta" come first (so a resource reads as FHIR JSON usually
// does), then the other members sorted by name. Numbers are written as they
// were read, and nothing is HTML-escaped, so narrative bytes are untouched.
func Marshal(v any) []byte {
	return AppendJSON(make([]byte, 0, 1024), v)
}

// AppendJSON appends the canonical serialisation of v to b.
func AppendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return append(b, v...)
	case string:
		return appendString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return appendObject(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case json.RawMessage:
		return append(b, v...)
	default:
		// Values built by the server itself (not client data) may be any
		// JSON-marshalable Go value.
		raw, err := json.Marshal(v)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, raw...)
	}
}

var leading = [...]string{"resourceType", "id", "meta"}

func appendObject(b []byte, m map[string]any) []byte {
	b = append(b, '{')
	first := true
	member := func(k string, v any) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = AppendJSON(b, v)
	}
	var keysBuf [32]string
	keys := keysBuf[:0]
	for k := range m {
		if k != "resourceType" && k != "id" && k != "meta" {
			keys = append(keys, k)
		}
	}
	for _, k := range leading {
		if v, ok := m[k]; ok {
			member(k, v)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		member(k, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string, escaping only what JSON requires.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				// Strings from Parse are valid UTF-8; anything else the
				// server built gets the replacement character.
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
