package validate_test

import (
	"ucp/fhir/validate"
)

// hasIssue reports whether issues hold an error with the code at expr.
func hasIssue(issues []validate.Issue, code, expr string) bool {
	for _, is := range issues {
		if is.Severity == validate.SeverityError && is.Code == code && is.Expression == expr {
			return true
		}
	}
	return false
}
