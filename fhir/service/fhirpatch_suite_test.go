package service

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"ucp/fhir/model"
	"ucp/fhir/resource"
)

// TestFHIRPathPatchSuite runs the HL7 FHIRPath Patch cases
// ($PATCH_TESTS/fhir-patch-tests.xml) through the server's FHIRPath Patch:
// each case's input, Parameters and expected output are FHIR XML, turned
// into FHIR JSON with the R4 model (xmlResource below).
func TestFHIRPathPatchSuite(t *testing.T) {
	dir := os.Getenv("PATCH_TESTS")
	if dir == "" {
		t.Skip("PATCH_TESTS is not set: set it to the folder of the HL7 patch test cases (../shared/patch-tests)")
	}
	data, err := os.ReadFile(filepath.Join(dir, "fhir-patch-tests.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Cases []struct {
			Name   string   `xml:"name,attr"`
			Mode   string   `xml:"mode,attr"`
			Input  innerXML `xml:"input"`
			Diff   innerXML `xml:"diff"`
			Output innerXML `xml:"output"`
			Error  *struct {
				Msg string `xml:"msg,attr"`
			} `xml:"error"`
		} `xml:"case"`
	}
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatal(err)
	}
	if len(suite.Cases) == 0 {
		t.Fatal("no cases")
	}
	normal := func(v any) any {
		var out any
		json.Unmarshal(resource.Marshal(v), &out)
		return out
	}
	for _, tc := range suite.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Mode != "both" && tc.Mode != "forwards" {
				t.Skipf("mode %q is about producing a diff, which the server does not do", tc.Mode)
			}
			in, err := xmlResource(tc.Input.Data)
			if err != nil {
				t.Fatalf("input: %v", err)
			}
			diff, err := xmlResource(tc.Diff.Data)
			if err != nil {
				t.Fatalf("diff: %v", err)
			}
			err = fhirpathPatch(in, diff)
			if tc.Error != nil {
				if err == nil {
					t.Fatalf("applied, want an error (%s)", tc.Error.Msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := xmlResource(tc.Output.Data)
			if err != nil {
				t.Fatalf("output: %v", err)
			}
			if !reflect.DeepEqual(normal(in), normal(want)) {
				t.Errorf("got  %s\nwant %s", resource.Marshal(in), resource.Marshal(want))
			}
		})
	}
}

type innerXML struct {
	Data []byte `xml:",innerxml"`
}

// xnode is a parsed XML element.
type xnode struct {
	name     string
	attrs    map[string]string
	children []*xnode
	raw      string // the element as XML, for xhtml
}

const xhtmlNS = "http://www.w3.org/1999/xhtml"

func parseXML(data []byte) (*xnode, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*xnode
	var root *xnode
	var xhtml *strings.Builder
	xhtmlDepth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if xhtml != nil {
			switch tk := tok.(type) {
			case xml.StartElement:
				xhtmlDepth++
				xhtml.WriteString("<" + tk.Name.Local)
				for _, a := range tk.Attr {
					if a.Name.Space == "" && a.Name.Local != "xmlns" {
						fmt.Fprintf(xhtml, " %s=%q", a.Name.Local, a.Value)
					}
				}
				xhtml.WriteString(">")
				continue
			case xml.EndElement:
				xhtmlDepth--
				if xhtmlDepth > 0 {
					xhtml.WriteString("</" + tk.Name.Local + ">")
					continue
				}
				xhtml.WriteString("</div>")
				stack[len(stack)-1].raw = xhtml.String()
				xhtml = nil
				stack = stack[:len(stack)-1]
				continue
			case xml.CharData:
				// Escape only what XML text must; the JSON form keeps
				// newlines and quotes as they are.
				xhtml.WriteString(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(string(tk)))
				continue
			default:
				continue
			}
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &xnode{name: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
			if tk.Name.Space == xhtmlNS {
				xhtml = &strings.Builder{}
				xhtml.WriteString(`<div xmlns="` + xhtmlNS + `">`)
				xhtmlDepth = 1
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no element")
	}
	return root, nil
}

// xmlResource turns one FHIR XML resource into FHIR JSON, using the R4
// model for element types and cardinality.
func xmlResource(data []byte) (map[string]any, error) {
	root, err := parseXML(data)
	if err != nil {
		return nil, err
	}
	return convertResource(root)
}

func convertResource(n *xnode) (map[string]any, error) {
	if !model.IsResource(n.name) {
		return nil, fmt.Errorf("%s is not a resource type", n.name)
	}
	out, err := convertElement(n, n.name)
	if err != nil {
		return nil, err
	}
	out["resourceType"] = n.name
	return out, nil
}

func convertElement(n *xnode, typ string) (map[string]any, error) {
	out := map[string]any{}
	if id, ok := n.attrs["id"]; ok {
		out["id"] = id
	}
	if u, ok := n.attrs["url"]; ok && model.IsA(typ, "Extension") {
		out["url"] = u
	}
	ti := model.Type(typ)
	if ti == nil {
		return nil, fmt.Errorf("unknown type %s", typ)
	}
	type prim struct{ vals, exts []any }
	prims := map[string]*prim{}
	var order []string
	for _, c := range n.children {
		e, t := ti.ElementByJSONName(c.name)
		if e == nil {
			return nil, fmt.Errorf("%s has no element %s", typ, c.name)
		}
		var val any
		switch {
		case t == "xhtml":
			val = c.raw
		case model.IsPrimitive(t):
			p := prims[c.name]
			if p == nil {
				p = &prim{}
				prims[c.name] = p
				order = append(order, c.name)
			}
			var v any
			if s, ok := c.attrs["value"]; ok {
				switch model.BaseType(t) {
				case "boolean":
					v = s == "true"
				case "integer", "decimal":
					v = json.Number(s)
				default:
					if t == "boolean" {
						v = s == "true"
					} else if t == "integer" || t == "decimal" {
						v = json.Number(s)
					} else {
						v = s
					}
				}
			}
			var ext any
			if len(c.children) > 0 || c.attrs["id"] != "" {
				m, err := convertElement(c, "Element")
				if err != nil {
					return nil, err
				}
				ext = m
			}
			p.vals, p.exts = append(p.vals, v), append(p.exts, ext)
			if !e.IsList() {
				out[c.name] = v
				if ext != nil {
					out["_"+c.name] = ext
				}
			}
			continue
		case t == "Resource":
			if len(c.children) != 1 {
				return nil, fmt.Errorf("%s must hold one resource", c.name)
			}
			m, err := convertResource(c.children[0])
			if err != nil {
				return nil, err
			}
			val = m
		default:
			m, err := convertElement(c, t)
			if err != nil {
				return nil, err
			}
			val = m
		}
		if e.IsList() {
			l, _ := out[c.name].([]any)
			out[c.name] = append(l, val)
		} else {
			out[c.name] = val
		}
	}
	for _, name := range order {
		e, _ := ti.ElementByJSONName(name)
		if !e.IsList() {
			continue
		}
		p := prims[name]
		out[name] = p.vals
		for _, x := range p.exts {
			if x != nil {
				out["_"+name] = p.exts
				break
			}
		}
	}
	return out, nil
}
