package service

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"ucp/fhir/fhirpath"
	"ucp/fhir/model"
	"ucp/fhir/outcome"
)

// FHIRPath Patch (R4 fhirpatch.html): a Parameters resource whose
// "operation" parameters add, insert, delete, replace or move elements
// located by FHIRPath. The engine evaluates the paths over the parsed tree;
// this file finds where each located element sits (its parent object and
// key, and list index) so the tree can be edited in place. Values are taken
// as written, so decimals keep their form.

// patchErr is a 422 about the patch: it applies to this resource no more.
func patchErr(format string, args ...any) error {
	return outcome.Errorf(outcome.Unprocessable, "FHIRPath Patch: "+format, args...)
}

// fhirpathPatch applies a FHIRPath Patch Parameters resource to res.
func fhirpathPatch(res map[string]any, params map[string]any) error {
	if params["resourceType"] != "Parameters" {
		return invalidAt("resourceType", "a FHIRPath Patch body must be a Parameters resource")
	}
	ops, _ := params["parameter"].([]any)
	for i, raw := range ops {
		p, _ := raw.(map[string]any)
		if p == nil || p["name"] != "operation" {
			return invalidAt("Parameters.parameter["+strconv.Itoa(i)+"]", "every FHIRPath Patch parameter must be an operation")
		}
		op := map[string]any{}
		parts, _ := p["part"].([]any)
		for _, pr := range parts {
			pm, _ := pr.(map[string]any)
			if name, ok := pm["name"].(string); ok {
				op[name] = partValue(pm)
			}
		}
		if err := applyPatchOp(res, op); err != nil {
			return err
		}
	}
	// Deleting the last part of an element leaves it empty ("name": {}),
	// which FHIR JSON does not allow: the element goes too.
	pruneEmpty(res)
	return nil
}

// pruneEmpty removes empty objects and arrays below m, bottom up, and
// reports whether m itself ended up empty.
func pruneEmpty(m map[string]any) bool {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			if pruneEmpty(x) {
				delete(m, k)
			}
		case []any:
			empty := len(x) > 0
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					if !pruneEmpty(em) {
						empty = false
					}
				} else {
					empty = false
				}
			}
			if len(x) == 0 || empty {
				delete(m, k)
			}
		}
	}
	return len(m) == 0
}

// partValue returns a part's value: its value[x] as written, or an object
// built from its own parts (a complex value given part by part).
func partValue(pm map[string]any) any {
	for k, v := range pm {
		if strings.HasPrefix(k, "value") && len(k) > 5 {
			return v
		}
	}
	if sub, ok := pm["part"].([]any); ok {
		obj := map[string]any{}
		for _, s := range sub {
			sm, _ := s.(map[string]any)
			if name, ok := sm["name"].(string); ok {
				obj[name] = partValue(sm)
			}
		}
		return obj
	}
	return nil
}

// slot is where a located element sits.
type slot struct {
	parent map[string]any
	key    string
	idx    int // index in the list parent[key], or -1 for a single value
}

var lastStep = regexp.MustCompile(`^(.+)\.([A-Za-z][A-Za-z0-9_]*)(?:\[(\d+)\])?$`)

// locate returns the slots of the elements path selects.
func locate(res map[string]any, path string) ([]slot, error) {
	if m := lastStep.FindStringSubmatch(path); m != nil {
		// parent.name[i]: evaluate the parent, then take name.
		parents, err := evalPath(res, m[1])
		if err != nil {
			return nil, err
		}
		var out []slot
		for _, p := range parents {
			pm, ok := p.Data().(map[string]any)
			if !ok {
				continue
			}
			v, ok := pm[m[2]]
			if !ok {
				continue
			}
			if list, ok := v.([]any); ok {
				if m[3] != "" {
					i, _ := strconv.Atoi(m[3])
					if i < len(list) {
						out = append(out, slot{pm, m[2], i})
					}
					continue
				}
				for i := range list {
					out = append(out, slot{pm, m[2], i})
				}
				continue
			}
			if m[3] == "" || m[3] == "0" {
				out = append(out, slot{pm, m[2], -1})
			}
		}
		return out, nil
	}
	// Anything else (a where() at the end …) must select objects, found in
	// the tree by identity.
	items, err := evalPath(res, path)
	if err != nil {
		return nil, err
	}
	var out []slot
	for _, it := range items {
		obj, ok := it.Data().(map[string]any)
		if !ok {
			return nil, patchErr("path %q selects a primitive through a function; name the element instead", path)
		}
		if s, ok := findSlot(res, obj); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func evalPath(res map[string]any, path string) (fhirpath.Collection, error) {
	e, err := fhirpath.Compile(path)
	if err != nil {
		return nil, invalid("FHIRPath Patch: path %q: %v", path, err)
	}
	c, err := e.Evaluate(res, nil)
	if err != nil {
		return nil, patchErr("path %q: %v", path, err)
	}
	return c, nil
}

// findSlot finds obj inside tree by identity.
func findSlot(tree map[string]any, obj map[string]any) (slot, bool) {
	want := reflect.ValueOf(obj).UnsafePointer()
	var found slot
	var walk func(m map[string]any) bool
	walk = func(m map[string]any) bool {
		for k, v := range m {
			switch x := v.(type) {
			case map[string]any:
				if reflect.ValueOf(x).UnsafePointer() == want {
					found = slot{m, k, -1}
					return true
				}
				if walk(x) {
					return true
				}
			case []any:
				for i, e := range x {
					if em, ok := e.(map[string]any); ok {
						if reflect.ValueOf(em).UnsafePointer() == want {
							found = slot{m, k, i}
							return true
						}
						if walk(em) {
							return true
						}
					}
				}
			}
		}
		return false
	}
	return found, walk(tree)
}

func applyPatchOp(res map[string]any, op map[string]any) error {
	typ, _ := op["type"].(string)
	path, _ := op["path"].(string)
	if path == "" {
		return invalid("FHIRPath Patch: operation %q has no path", typ)
	}
	switch typ {
	case "add":
		name, _ := op["name"].(string)
		if name == "" || op["value"] == nil {
			return invalid("FHIRPath Patch: add needs name and value")
		}
		items, err := evalPath(res, path)
		if err != nil {
			return err
		}
		if len(items) != 1 {
			return patchErr("add: path %q selects %d elements, not 1", path, len(items))
		}
		m, ok := items[0].Data().(map[string]any)
		if !ok {
			return patchErr("add: path %q does not select an element that can hold %s", path, name)
		}
		isList := false
		if ei, ok := model.Lookup(items[0].TypeName(), name); ok && ei.IsList() {
			isList = true
		}
		if list, ok := m[name].([]any); ok {
			m[name] = append(list, op["value"])
		} else if isList {
			m[name] = []any{op["value"]}
		} else {
			m[name] = op["value"]
		}
	case "insert", "move":
		slots, err := locate(res, path)
		if err != nil {
			return err
		}
		if len(slots) == 0 {
			return patchErr("%s: path %q selects nothing", typ, path)
		}
		s := slots[0]
		list, _ := s.parent[s.key].([]any)
		if typ == "insert" {
			i, ok := opIndex(op["index"])
			if !ok || i > len(list) {
				return patchErr("insert: index out of range")
			}
			list = append(list[:i], append([]any{op["value"]}, list[i:]...)...)
		} else {
			from, ok1 := opIndex(op["source"])
			to, ok2 := opIndex(op["destination"])
			if !ok1 || !ok2 || from >= len(list) || to >= len(list) {
				return patchErr("move: index out of range")
			}
			v := list[from]
			list = append(list[:from], list[from+1:]...)
			list = append(list[:to], append([]any{v}, list[to:]...)...)
		}
		s.parent[s.key] = list
	case "delete":
		slots, err := locate(res, path)
		if err != nil {
			return err
		}
		if len(slots) > 1 {
			return patchErr("delete: path %q selects %d elements, not 1", path, len(slots))
		}
		for _, s := range slots {
			if s.idx < 0 {
				delete(s.parent, s.key)
				delete(s.parent, "_"+s.key)
				continue
			}
			list := s.parent[s.key].([]any)
			list = append(list[:s.idx], list[s.idx+1:]...)
			if ext, ok := s.parent["_"+s.key].([]any); ok && s.idx < len(ext) {
				s.parent["_"+s.key] = append(ext[:s.idx], ext[s.idx+1:]...)
			}
			if len(list) == 0 {
				delete(s.parent, s.key)
				delete(s.parent, "_"+s.key)
			} else {
				s.parent[s.key] = list
			}
		}
	case "replace":
		if op["value"] == nil {
			return invalid("FHIRPath Patch: replace needs a value")
		}
		slots, err := locate(res, path)
		if err != nil {
			return err
		}
		if len(slots) != 1 {
			return patchErr("replace: path %q selects %d elements, not 1", path, len(slots))
		}
		s := slots[0]
		if s.idx < 0 {
			s.parent[s.key] = op["value"]
		} else {
			s.parent[s.key].([]any)[s.idx] = op["value"]
		}
	default:
		return invalid("FHIRPath Patch: unknown operation type %q", typ)
	}
	return nil
}

// opIndex reads an integer part (json.Number as parsed).
func opIndex(v any) (int, bool) {
	s, ok := v.(interface{ String() string })
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s.String())
	return i, err == nil && i >= 0
}
