package store

import (
	"strconv"
	"time"
)

// ParamType is a search parameter type (R4 search.html).
type ParamType string

// The search parameter types.
const (
	Token     ParamType = "token"
	String    ParamType = "string"
	Date      ParamType = "date"
	Reference ParamType = "reference"
	Number    ParamType = "number"
	Quantity  ParamType = "quantity"
	URI       ParamType = "uri"
	Composite ParamType = "composite"
	Special   ParamType = "special"
)

// Entry is one index value of one search parameter of a resource version,
// extracted at write time (by fhir/search) so that reads never parse JSON.
// Which fields are set depends on Type.
type Entry struct {
	Param string    // the search parameter code, e.g. "identifier"
	Type  ParamType // Token, String, Date, Reference, Number, Quantity or URI

	// Token: System and Code; Text is the display or text used by :text.
	// Reference: System and Code hold Reference.identifier (for :identifier).
	// Quantity: System and Code hold the unit's system and code.
	System string
	Code   string
	Text   string

	// String: Norm is the normalised value (lower case, accents folded,
	// whitespace collapsed) matched by the default prefix search; Exact is the
	// value as written (for :exact). URI: Exact holds the uri.
	Norm  string
	Exact string

	// Date: the instant range [Low, High) the value covers at its precision
	// (a date "2024-03" covers March). An open end is MinTime or MaxTime.
	Low  time.Time
	High time.Time

	// Number and Quantity: the value and the range [NumLow, NumHigh) its
	// written precision implies ("100" covers [99.5, 100.5)).
	Num     float64
	NumLow  float64
	NumHigh float64

	// Reference: the referenced type and id for a local reference, and URL
	// for an absolute or canonical reference (with its |version removed).
	RefType string
	RefID   string
	URL     string

	// Quantity with a UCUM unit (System http://unitsofmeasure.org) that has
	// a canonical form: CanonCode is the canonical unit ("g" for "mg",
	// "s" for "min", "K" for "Cel") and CanonNum, CanonLow, CanonHigh the
	// value and its precision range in that unit, so that 5.4 mg and 5400 ug
	// compare equal. CanonCode is "" when the unit has none. See
	// Cond.Canonical.
	CanonCode string
	CanonNum  float64
	CanonLow  float64
	CanonHigh float64

	// Group is 0 for an ordinary entry. The entries of a composite
	// parameter (R4 search.html#composite) are stored per component:
	// Param is the composite's code, "$" and the component's index
	// ("code-value-quantity$0", "code-value-quantity$1"), Type the
	// component's type, and the entries extracted from one value of the
	// composite (one Observation.component, say) share a Group number
	// (1, 2 …, unique per composite parameter within the resource), so that
	// code$value matches within one component. See Cond.Components.
	Group int
}

// The full-text parameters (R4 search.html#text). Their entries have Type
// Special and Norm holding the words to search, normalised like a string's
// (lower case, accents folded); at most one entry of each per resource:
//
//	_text     the narrative (text.div with its markup stripped)
//	_content  every string value of the resource, narrative included
//
// A Cond on them (Type Special, Value the searched words) matches a resource
// whose text contains every word of Value as the prefix of one of its words,
// case- and accent-insensitively ("heart fail" finds "Heart failure"). Words
// are runs of letters and digits; a Value without any is Invalid. Not
// negates as for any parameter; Missing on them is Unsupported.
const (
	TextParam    = "_text"
	ContentParam = "_content"
)

// CompositeParam returns the Param of the entries of component i of the
// composite parameter code: code + "$" + i.
func CompositeParam(code string, i int) string {
	return code + "$" + strconv.Itoa(i)
}

// The open ends of date ranges.
var (
	MinTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)
