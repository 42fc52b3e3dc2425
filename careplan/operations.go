package careplan

import (
	"context"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/fhir/validate"
	"ucp/store"
)

// Operations returns the operations this package serves, for
// rest.Config.Operations: $validate on every type and instance, and
// Composition/{id}/$document.
func (p *Plans) Operations() []service.Operation {
	return []service.Operation{
		{
			Name: "validate", Definition: "http://hl7.org/fhir/OperationDefinition/Resource-validate",
			Documentation: "Validates a resource against the base structure, its meta.profile and the profile parameter; mode create, update and delete also apply the care-plan rules (lifecycle, consent, sections) without writing.",
			Types:         []string{"*"}, Instance: []string{"*"}, Handler: p.validateOp,
		},
		{
			Name: "document", Definition: "http://hl7.org/fhir/OperationDefinition/Composition-document",
			Documentation: "Returns the document Bundle of a Composition: the Composition first, then every resource it references, directly or through them.",
			Instance:      []string{"Composition"}, Handler: p.documentOp,
		},
	}
}

// validateOp is $validate (R4 resource-operations.html#validate). It always
// answers 200 with an OperationOutcome when the request could be understood;
// the issues say whether the resource is valid.
func (p *Plans) validateOp(ctx context.Context, req *service.OperationRequest) (int, any, error) {
	mode := req.String("mode")
	switch mode {
	case "", "create", "update", "delete":
	default:
		return 0, nil, outcome.Errorf(outcome.Invalid, "mode %q: expected create, update or delete", mode)
	}
	res := req.Resource
	if res == nil {
		res = req.ResourceParam("resource")
	}
	var issues []validate.Issue
	var cur *store.Version
	if req.ID != "" {
		v, err := p.cfg.Store.Read(ctx, req.Type, req.ID)
		switch k := outcome.KindOf(err); {
		case err == nil:
			cur = v
		case k == outcome.NotFound || k == outcome.Gone:
		default:
			return 0, nil, err
		}
	}
	if mode == "delete" {
		if req.ID == "" {
			return 0, nil, outcome.Errorf(outcome.Invalid, "mode delete validates deleting an instance: use %s/{id}/$validate", req.Type)
		}
		if cur == nil {
			issues = append(issues, validate.Issue{Severity: validate.SeverityError, Code: validate.CodeNotFound,
				Message: req.Type + "/" + req.ID + " does not exist, so there is nothing to delete"})
			return http.StatusOK, validationOutcome(issues), nil
		}
		issues = append(issues, p.dryRun(ctx, &service.WriteOp{Interaction: "delete", Type: req.Type, ID: req.ID, Previous: cur})...)
		return http.StatusOK, validationOutcome(issues), nil
	}
	if res == nil && cur != nil {
		var err error
		if res, err = parseVersion(cur); err != nil {
			return 0, nil, err
		}
	}
	if res == nil {
		return 0, nil, outcome.Errorf(outcome.Invalid, "no resource to validate: send it as the body or as the Parameters parameter \"resource\"")
	}
	if rt := resource.Type(res); rt != req.Type {
		return 0, nil, outcome.Errorf(outcome.Invalid, "resourceType %q does not match the type %q in the URL", rt, req.Type)
	}
	issues = p.cfg.Validator.Validate(ctx, res, req.Strings("profile")...)
	if mode != "" && req.Type == "CarePlan" {
		op := &service.WriteOp{Interaction: mode, Type: req.Type, ID: req.ID, Resource: res}
		if mode == "update" {
			if req.ID == "" {
				return 0, nil, outcome.Errorf(outcome.Invalid, "mode update validates an update of an instance: use %s/{id}/$validate", req.Type)
			}
			op.Previous = cur
		} else {
			op.ID = uuid.NewString() // a create's id is the server's; any will do for a dry run
		}
		more, err := p.lifecycle(ctx, op, service.View{}, true) // a dry run: never prepare an approval
		if err != nil {
			more = append(more, errIssue(err))
		}
		issues = append(issues, more...)
	}
	return http.StatusOK, validationOutcome(issues), nil
}

// dryRun applies the lifecycle rules to op without writing anything.
func (p *Plans) dryRun(ctx context.Context, op *service.WriteOp) []validate.Issue {
	if op.Type != "CarePlan" {
		return nil
	}
	issues, err := p.lifecycle(ctx, op, service.View{}, true)
	if err != nil {
		issues = append(issues, errIssue(err))
	}
	return issues
}

// errIssue turns a refusal (403, 409) into an issue for $validate. Internal
// errors keep their detail out of the answer, as the REST layer does.
func errIssue(err error) validate.Issue {
	e := outcome.AsError(err)
	if e == nil || e.Kind == outcome.Internal {
		return validate.Issue{Severity: "fatal", Code: "exception", Message: "internal error while checking the rules"}
	}
	code := map[outcome.Kind]string{outcome.Forbidden: "forbidden", outcome.Conflict: "conflict"}[e.Kind]
	if code == "" {
		code = "business-rule"
	}
	is := validate.Issue{Severity: validate.SeverityError, Code: code, Message: e.Message}
	if len(e.Expr) > 0 {
		is.Expression = e.Expr[0]
	}
	return is
}

// validationOutcome renders issues as an OperationOutcome; with none, one
// information issue says all is well (as R4 requires an issue).
func validationOutcome(issues []validate.Issue) outcome.OperationOutcome {
	if len(issues) == 0 {
		return outcome.Info("All OK")
	}
	oo := outcome.New()
	for _, is := range issues {
		out := outcome.Issue{Severity: is.Severity, Code: is.Code, Diagnostics: is.Message}
		if is.Expression != "" {
			out.Expression = []string{is.Expression}
		}
		oo.Issue = append(oo.Issue, out)
	}
	return oo
}

// maxDocumentEntries bounds a $document bundle.
const maxDocumentEntries = 500

// documentOp is Composition/{id}/$document (R4 composition-operation-
// document.html): a Bundle of type document with the Composition first,
// then the resources it references, and the resources those reference,
// each once, with absolute fullUrls. Versioned references resolve to that
// version, so the document shows what was approved.
func (p *Plans) documentOp(ctx context.Context, req *service.OperationRequest) (int, any, error) {
	v, err := p.cfg.Store.Read(ctx, "Composition", req.ID)
	if err != nil {
		return 0, nil, err
	}
	if err := p.AllowRead(ctx, v, service.Disclose, req.Call); err != nil {
		return 0, nil, err
	}
	comp, err := parseVersion(v)
	if err != nil {
		return 0, nil, err
	}
	type item struct {
		v   *store.Version
		res map[string]any
	}
	items := []item{{v, comp}}
	have := map[string]bool{"Composition/" + v.ID: true, versionRef(v): true}
	for i := 0; i < len(items) && len(items) < maxDocumentEntries; i++ {
		var refs []resource.Reference
		resource.WalkReferences(items[i].res, func(m map[string]any) {
			if r := resource.ParseReference(m["reference"].(string)); r.IsLocal() {
				refs = append(refs, r)
			}
		})
		for _, r := range refs {
			key := r.Type + "/" + r.ID
			if r.Version != "" {
				key += "/_history/" + r.Version
			}
			if have[key] || r.Version == "" && have[r.Type+"/"+r.ID] {
				continue
			}
			var rv *store.Version
			if r.Version != "" {
				n, _ := strconv.ParseInt(r.Version, 10, 64)
				rv, err = p.cfg.Store.VRead(ctx, r.Type, r.ID, n)
			} else {
				rv, err = p.cfg.Store.Read(ctx, r.Type, r.ID)
			}
			if k := outcome.KindOf(err); err != nil && (k == outcome.NotFound || k == outcome.Gone) || err == nil && rv.Deleted {
				continue // a dangling reference: the document carries what exists
			} else if err != nil {
				return 0, nil, err
			}
			if p.AllowRead(ctx, rv, service.Disclose, req.Call) != nil {
				continue
			}
			res, err := parseVersion(rv)
			if err != nil {
				return 0, nil, err
			}
			have[key], have[r.Type+"/"+r.ID], have[versionRef(rv)] = true, true, true
			items = append(items, item{rv, res})
		}
	}
	doc := documentBundle{ResourceType: "Bundle", Type: "document", Entry: make([]bundleEntry, len(items))}
	for i, it := range items {
		// The stored JSON as it is: the document carries each version byte
		// for byte, not a re-encoding of it.
		doc.Entry[i] = bundleEntry{FullURL: req.Base + "/" + it.v.Type + "/" + it.v.ID, Resource: it.v.JSON}
	}
	doc.Timestamp = resource.Str(comp, "date")
	if doc.Timestamp == "" {
		doc.Timestamp = resource.FormatInstant(v.LastUpdated)
	}
	// The same Composition version always gives the same document id.
	docID := uuid.NewSHA1(uuid.NameSpaceURL, []byte(req.Base+"/"+versionRef(v))).String()
	doc.Identifier = identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:" + docID}
	return http.StatusOK, marshal(doc), nil
}
