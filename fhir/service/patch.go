package service

import (
	"errors"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// PatchFunc returns the function applying a patch body to the current
// version of typ/id (R4 http.html#patch): a JSON Patch (RFC 6902) document
// when jsonPatch, else a FHIRPath Patch (a Parameters resource). JSON Patch
// is applied to the stored bytes by a library that keeps untouched values,
// numbers included, exactly as written; FHIRPath Patch edits the parsed
// tree.
func PatchFunc(typ, id string, body []byte, jsonPatch bool) (func(*store.Version) (map[string]any, error), error) {
	check := func(res map[string]any) (map[string]any, error) {
		if rt, _ := res["resourceType"].(string); rt != typ {
			return nil, unprocessableAt("resourceType", "a patch may not change resourceType")
		}
		if rid, _ := res["id"].(string); rid != id {
			return nil, unprocessableAt("id", "a patch may not change id")
		}
		return res, nil
	}
	if !jsonPatch {
		params, err := parseBody(body, "Parameters")
		if err != nil {
			return nil, err
		}
		return func(cur *store.Version) (map[string]any, error) {
			res, err := resource.Parse(cur.JSON)
			if err != nil {
				return nil, err
			}
			if err := fhirpathPatch(res, params); err != nil {
				return nil, err
			}
			return check(res)
		}, nil
	}
	patch, err := jsonpatch.DecodePatch(body)
	if err != nil {
		return nil, invalid("malformed JSON Patch document: %v", err)
	}
	return func(cur *store.Version) (map[string]any, error) {
		out, err := patch.Apply(cur.JSON)
		if err != nil {
			return nil, outcome.Errorf(outcome.Unprocessable, "applying the JSON Patch to %s/%s: %v", typ, id, err)
		}
		res, err := resource.Parse(out)
		if err != nil {
			return nil, outcome.Errorf(outcome.Unprocessable, "the patched resource is not valid JSON: %v", err)
		}
		return check(res)
	}, nil
}

// parseBody parses a resource of type want (any type when "").
func parseBody(body []byte, want string) (map[string]any, error) {
	res, err := resource.Parse(body)
	if err != nil {
		var se *resource.SyntaxError
		if errors.As(err, &se) {
			return nil, invalid("malformed JSON at byte offset %d: %s", se.Offset, se.Msg)
		}
		return nil, invalid("malformed JSON: %v", err)
	}
	return res, checkType(res, want)
}

func invalid(format string, args ...any) error {
	return outcome.Errorf(outcome.Invalid, format, args...)
}

func unprocessableAt(expr string, format string, args ...any) error {
	e := outcome.Errorf(outcome.Unprocessable, format, args...)
	e.Expr = []string{expr}
	return e
}
