package resource

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"ucp/fhir/model"
)

// fhirNS is the namespace of FHIR XML (R4 xml.html).
const fhirNS = "http://hl7.org/fhir"

// ParseXML reads one resource in FHIR XML (R4 xml.html) into the tree Parse
// gives for its JSON form: element names are the JSON property names,
// repeating elements become arrays (by the R4 element model), primitive
// values come from the value attribute (booleans as bool, numbers as
// json.Number kept as written), a primitive's id and extensions go to its
// "_name" sibling, and xhtml (Narrative.div) is kept as its XML text.
//
// It exists to read conformance packages published as XML (such as UK
// Core); the API itself speaks JSON only. An element R4 does not define is
// an error, as in Parse's callers.
func ParseXML(data []byte) (map[string]any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	x := &xmlReader{d: d, data: data}
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("FHIR XML: no resource element")
			}
			return nil, fmt.Errorf("FHIR XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Space != fhirNS {
				return nil, fmt.Errorf("FHIR XML: root element %s is not in the FHIR namespace", se.Name.Local)
			}
			return x.resource(se, 0)
		}
	}
}

type xmlReader struct {
	d    *xml.Decoder
	data []byte
}

func (x *xmlReader) resource(se xml.StartElement, depth int) (map[string]any, error) {
	typ := se.Name.Local
	t := model.Type(typ)
	if t == nil || t.Kind != model.KindResource {
		return nil, fmt.Errorf("FHIR XML: %s is not a resource type", typ)
	}
	obj := map[string]any{"resourceType": typ}
	if err := x.children(t, obj, typ, depth+1); err != nil {
		return nil, err
	}
	return obj, nil
}

// children reads the child elements of an element of type t into obj, up
// to the element's end tag.
func (x *xmlReader) children(t *model.TypeInfo, obj map[string]any, path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("FHIR XML: nesting deeper than %d at %s", maxDepth, path)
	}
	type prim struct {
		vals, exts []any
		list       bool
	}
	prims := map[string]*prim{}
	var order []string
	for {
		start := x.d.InputOffset()
		tok, err := x.d.Token()
		if err != nil {
			return fmt.Errorf("FHIR XML: in %s: %w", path, err)
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			for _, name := range order {
				p := prims[name]
				setPrim(obj, name, p.vals, p.list)
				setPrim(obj, "_"+name, p.exts, p.list)
			}
			return nil
		case xml.StartElement:
			name := tok.Name.Local
			e, typ := t.ElementByJSONName(name)
			if e == nil {
				return fmt.Errorf("FHIR XML: %s has no element %s", path, name)
			}
			loc := path + "." + name
			var v any
			switch {
			case typ == "xhtml":
				if err := x.d.Skip(); err != nil {
					return fmt.Errorf("FHIR XML: in %s: %w", loc, err)
				}
				v = string(x.data[start:x.d.InputOffset()])
			case typ == "Resource":
				r, err := x.inner(loc, depth)
				if err != nil {
					return err
				}
				v = r
			case model.IsPrimitive(typ):
				val, ext, err := x.primitive(tok, typ, loc, depth)
				if err != nil {
					return err
				}
				p := prims[name]
				if p == nil {
					p = &prim{list: e.IsList()}
					prims[name] = p
					order = append(order, name)
				}
				p.vals = append(p.vals, val)
				p.exts = append(p.exts, ext)
				continue
			default:
				m := attrs(tok)
				if err := x.children(model.Type(typ), m, loc, depth+1); err != nil {
					return err
				}
				v = m
			}
			if e.IsList() {
				l, _ := obj[name].([]any)
				obj[name] = append(l, v)
			} else {
				obj[name] = v
			}
		}
	}
}

// setPrim sets a primitive's values (or its "_name" extensions): nothing
// when every one is nil, otherwise one value or an array with nulls where
// an occurrence has none.
func setPrim(obj map[string]any, name string, vs []any, list bool) {
	for _, v := range vs {
		if v != nil {
			if list {
				obj[name] = vs
			} else {
				obj[name] = vs[len(vs)-1]
			}
			return
		}
	}
}

// inner reads the one resource element inside contained, entry.resource
// and the like.
func (x *xmlReader) inner(path string, depth int) (map[string]any, error) {
	var res map[string]any
	for {
		tok, err := x.d.Token()
		if err != nil {
			return nil, fmt.Errorf("FHIR XML: in %s: %w", path, err)
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			if res == nil {
				return nil, fmt.Errorf("FHIR XML: %s holds no resource", path)
			}
			return res, nil
		case xml.StartElement:
			if res != nil {
				return nil, fmt.Errorf("FHIR XML: %s holds more than one resource", path)
			}
			if res, err = x.resource(tok, depth); err != nil {
				return nil, err
			}
		}
	}
}

// primitive reads a primitive element: its value attribute, and its id and
// extensions as the "_name" object (nil when it has neither).
func (x *xmlReader) primitive(se xml.StartElement, typ, path string, depth int) (val any, ext any, err error) {
	m := map[string]any{}
	for _, a := range se.Attr {
		switch a.Name.Local {
		case "value":
			val = primitiveValue(typ, a.Value)
		case "id":
			m["id"] = a.Value
		}
	}
	if err := x.children(model.Type(typ), m, path, depth+1); err != nil {
		return nil, nil, err
	}
	if len(m) > 0 {
		ext = m
	}
	return val, ext, nil
}

// attrs starts a complex element's object from its id and url attributes
// (Element.id, Extension.url).
func attrs(se xml.StartElement) map[string]any {
	m := map[string]any{}
	for _, a := range se.Attr {
		if a.Name.Space == "" && (a.Name.Local == "id" || a.Name.Local == "url") {
			m[a.Name.Local] = a.Value
		}
	}
	return m
}

// primitiveValue gives a primitive its JSON form: booleans and numbers are
// JSON literals in FHIR JSON, everything else a string.
func primitiveValue(typ, s string) any {
	switch typ {
	case "boolean":
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
	case "integer", "positiveInt", "unsignedInt", "decimal":
		if json.Valid([]byte(s)) {
			return json.Number(s)
		}
	}
	return s
}
