package careplan

import (
	"fmt"
	"slices"

	"ucp/fhir/resource"
	"ucp/fhir/validate"
	"ucp/profiles"
)

// nhsNumberIssues checks every Identifier in res whose system is the NHS
// number system, wherever it sits (Patient.identifier, a Reference's
// identifier, a contained resource, an extension), whatever profile res
// claims: a crew searching by NHS number must never find a plan filed
// under a mistyped one. Each bad value is one error at its FHIRPath
// location.
func nhsNumberIssues(res map[string]any) []validate.Issue {
	var issues []validate.Issue
	var walk func(v any, loc string)
	walk = func(v any, loc string) {
		switch v := v.(type) {
		case []any:
			for i, e := range v {
				walk(e, fmt.Sprintf("%s[%d]", loc, i))
			}
		case map[string]any:
			if sys, _ := v["system"].(string); sys == profiles.SystemNHSNumber {
				if val, ok := v["value"].(string); ok && !profiles.ValidNHSNumber(val) {
					issues = append(issues, validate.Issue{Severity: validate.SeverityError, Code: validate.CodeValue, Expression: loc + ".value",
						Message: fmt.Sprintf("%q is not a valid NHS number (%s): it must be 10 digits, the last the modulus 11 check digit of the first nine", val, profiles.SystemNHSNumber)})
				}
			}
			// Sorted keys, so that the issues come in a stable order.
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if w := v[k]; isContainer(w) {
					walk(w, loc+"."+k)
				}
			}
		}
	}
	walk(res, resource.Str(res, "resourceType"))
	return issues
}

func isContainer(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}
