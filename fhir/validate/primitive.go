package validate

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Lexical forms of the R4 primitive types, from
// http://hl7.org/fhir/R4/datatypes.html#primitive.
var (
	reDate     = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`)
	reDateTime = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	reInstant  = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
	reTime     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$`)
	reOID      = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	reUUID     = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reDecimal  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	reInteger  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

// checkPrimitive returns "" when val is a valid JSON representation of the
// FHIR primitive typ, or what is wrong with it.
func checkPrimitive(typ string, val any) string {
	switch typ {
	case "boolean":
		if _, ok := val.(bool); !ok {
			return "boolean value must be JSON true or false"
		}
		return ""
	case "integer", "positiveInt", "unsignedInt", "decimal":
		var s string
		switch n := val.(type) {
		case json.Number:
			s = string(n)
		case float64:
			s = strconv.FormatFloat(n, 'f', -1, 64)
		case int, int64:
			s = strconv.FormatInt(toInt64(n), 10)
		default:
			return typ + " value must be a JSON number"
		}
		if typ == "decimal" {
			if !reDecimal.MatchString(s) {
				return "invalid decimal " + strconv.Quote(s)
			}
			return ""
		}
		if !reInteger.MatchString(s) {
			return "invalid " + typ + " " + strconv.Quote(s) + " (must be a whole number)"
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return typ + " " + s + " is out of range (32-bit signed)"
		}
		if typ == "positiveInt" && n < 1 {
			return "positiveInt must be at least 1, not " + s
		}
		if typ == "unsignedInt" && n < 0 {
			return "unsignedInt must not be negative, not " + s
		}
		return ""
	}
	s, ok := val.(string)
	if !ok {
		return typ + " value must be a JSON string"
	}
	if s == "" {
		return "empty string is not allowed (omit the element instead)"
	}
	switch typ {
	case "string", "markdown":
		for _, r := range s {
			if r < 0x20 && r != '\t' && r != '\r' && r != '\n' {
				return typ + " contains control character " + strconv.QuoteRune(r)
			}
		}
	case "code":
		if strings.TrimSpace(s) != s || strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\r\n") {
			return "invalid code " + strconv.Quote(s) + " (no leading, trailing or repeated whitespace)"
		}
	case "id":
		if len(s) > 64 || strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.')
		}) >= 0 {
			return "invalid id " + strconv.Quote(s) + " (1-64 of A-Z a-z 0-9 - .)"
		}
	case "uri", "url", "canonical":
		if strings.ContainsAny(s, " \t\r\n") {
			return "invalid " + typ + " " + strconv.Quote(s) + " (no whitespace)"
		}
	case "oid":
		if !reOID.MatchString(s) {
			return "invalid oid " + strconv.Quote(s) + " (urn:oid:…)"
		}
	case "uuid":
		if !reUUID.MatchString(s) {
			return "invalid uuid " + strconv.Quote(s) + " (urn:uuid: and lower-case hex)"
		}
	case "base64Binary":
		b := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
		if _, err := base64.StdEncoding.DecodeString(b); err != nil {
			return "invalid base64Binary"
		}
	case "date":
		if !reDate.MatchString(s) || !validDay(s) {
			return "invalid date " + strconv.Quote(s) + " (YYYY, YYYY-MM or YYYY-MM-DD)"
		}
	case "dateTime":
		if !reDateTime.MatchString(s) || !validDay(s) {
			return "invalid dateTime " + strconv.Quote(s) + " (a time needs seconds and a timezone)"
		}
	case "instant":
		if !reInstant.MatchString(s) || !validDay(s) {
			return "invalid instant " + strconv.Quote(s) + " (YYYY-MM-DDThh:mm:ss with a timezone)"
		}
	case "time":
		if !reTime.MatchString(s) {
			return "invalid time " + strconv.Quote(s) + " (hh:mm:ss)"
		}
	}
	return ""
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}

// validDay rejects days the regular expressions let through (2023-02-30).
func validDay(s string) bool {
	if len(s) < 10 {
		return true
	}
	y, _ := strconv.Atoi(s[0:4])
	m, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:10])
	days := [...]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		return d <= 29
	}
	return d <= days[m]
}
