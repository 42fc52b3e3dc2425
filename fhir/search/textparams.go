package search

import "ucp/store"

// TextParams returns _text and _content as parameters of resourceType, for
// the CapabilityStatement. They have no expression: Extract indexes them
// into the full-text index (see textEntries), which does not index
// AuditEvents, and _text is the narrative, which only DomainResources have.
func TextParams(resourceType string) []*Param {
	if resourceType == "AuditEvent" {
		return nil
	}
	ps := []*Param{{
		Code: store.ContentParam, URL: "http://hl7.org/fhir/SearchParameter/Resource-content", Type: store.String,
		Description: "Every word of the value is the prefix of a word of the resource's text (any string value, narrative included), ignoring case and accents.",
		Base:        []string{"Resource"}, resourceType: resourceBase,
	}}
	switch resourceType {
	case "Binary", "Bundle", "Parameters":
	default:
		ps = append(ps, &Param{
			Code: store.TextParam, URL: "http://hl7.org/fhir/SearchParameter/DomainResource-text", Type: store.String,
			Description: "Every word of the value is the prefix of a word of the resource's narrative (text.div), ignoring case and accents.",
			Base:        []string{"DomainResource"}, resourceType: resourceBase,
		})
	}
	return ps
}
