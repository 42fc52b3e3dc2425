package fhirpath

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"sync"

	"ucp/fhir/model"
)

// Expression is a compiled FHIRPath expression. It is immutable and safe for
// concurrent use.
type Expression struct {
	src  string
	root node
}

// Compile parses expr. A syntax error is a *SyntaxError carrying the offset
// and a message; calling an unknown function or a function with the wrong
// number of arguments is also reported at compile time.
func Compile(expr string) (*Expression, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	return &Expression{src: expr, root: n}, nil
}

// MustCompile is Compile for expressions known to be valid; it panics on error.
func MustCompile(expr string) *Expression {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text of the expression.
func (e *Expression) String() string { return e.src }

// Evaluate runs e with resource as %resource, %context, %rootResource and the
// input collection. env may be nil.
func (e *Expression) Evaluate(resource map[string]any, env *Env) (Collection, error) {
	return e.EvaluateOn(NewItem(resource, ""), env)
}

// EvaluateOn runs e against an arbitrary focus node (for invariants on an
// element); %resource and %rootResource are the focus too unless env.Vars
// defines them. env may be nil.
func (e *Expression) EvaluateOn(focus Item, env *Env) (out Collection, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("fhirpath: internal error evaluating %q: %v", e.src, r)
		}
	}()
	c := ctxPool.Get().(*evalCtx)
	c.buf[0] = focus
	in := c.buf[:1:1]
	c.env, c.resource, c.root, c.context, c.this = env, in, in, in, in
	out, err = e.root.eval(c, in)
	*c = evalCtx{}
	ctxPool.Put(c)
	if len(out) == 1 && (&out[0] == &trueColl[0] || &out[0] == &falseColl[0]) {
		out = Collection{out[0]}
	} else if len(out) == 1 && &out[0] == &in[0] {
		out = Collection{focus}
	}
	return out, err
}

var ctxPool = sync.Pool{New: func() any { return new(evalCtx) }}

// referenceType returns the resource type a Reference (or reference string)
// item resolves to when that is certain without resolving it: a literal
// relative or absolute "Type/id" reference, with no Resolver to ask and no
// enclosing Bundle that could hold a different resource.
func (c *evalCtx) referenceType(it Item) (string, bool) {
	if c.env != nil && c.env.Resolver != nil {
		return "", false
	}
	var ref string
	switch v := it.v.(type) {
	case map[string]any:
		ref, _ = v["reference"].(string)
	case string:
		ref = v
	}
	if ref == "" || ref[0] == '#' {
		return "", false
	}
	for _, r := range c.root {
		if m, ok := r.v.(map[string]any); ok && m["resourceType"] == "Bundle" {
			return "", false
		}
	}
	typ, _, ok := splitRef(ref)
	return typ, ok
}

// ---- resolve() ----

func fnResolve(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var out Collection
	for _, it := range in {
		var ref string
		switch v := it.v.(type) {
		case map[string]any:
			ref, _ = v["reference"].(string)
		case string:
			ref = v
		}
		if ref == "" {
			continue
		}
		r, err := c.resolveRef(ref)
		if err != nil {
			return nil, err
		}
		if r.v != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *evalCtx) resolveRef(ref string) (Item, error) {
	if strings.HasPrefix(ref, "#") {
		for _, res := range [2]Collection{c.resource, c.root} {
			for _, r := range res {
				m, ok := r.v.(map[string]any)
				if !ok {
					continue
				}
				if ref == "#" {
					return r, nil
				}
				cont, _ := m["contained"].([]any)
				for _, x := range cont {
					if cm, ok := x.(map[string]any); ok && cm["id"] == ref[1:] {
						return NewItem(cm, ""), nil
					}
				}
			}
		}
		return Item{}, nil
	}
	typ, id, _ := splitRef(ref)
	// an enclosing Bundle
	for _, r := range c.root {
		m, ok := r.v.(map[string]any)
		if !ok || m["resourceType"] != "Bundle" {
			continue
		}
		entries, _ := m["entry"].([]any)
		for _, x := range entries {
			em, ok := x.(map[string]any)
			if !ok {
				continue
			}
			res, _ := em["resource"].(map[string]any)
			if res == nil {
				continue
			}
			full, _ := em["fullUrl"].(string)
			if full == ref || typ != "" && res["resourceType"] == typ && res["id"] == id &&
				(full == "" || strings.HasSuffix(full, "/"+typ+"/"+id) || !strings.Contains(ref, "://")) {
				return NewItem(res, ""), nil
			}
		}
	}
	if c.env != nil && c.env.Resolver != nil {
		res, err := c.env.Resolver(ref)
		if err != nil {
			return Item{}, err
		}
		if res == nil {
			return Item{}, nil
		}
		return NewItem(res, ""), nil
	}
	if typ == "" {
		return Item{}, nil
	}
	// No resolver: a stub of the referenced type, as search-parameter
	// extraction needs for `resolve() is Patient`.
	return Item{v: map[string]any{"resourceType": typ, "id": id}, typ: typ}, nil
}

// splitRef splits "Patient/123", "Patient/123/_history/2" or
// "http://x/fhir/Patient/123" into type and id; ok is false if the reference
// does not name an R4 resource type.
func splitRef(ref string) (typ, id string, ok bool) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 {
		return "", "", false
	}
	id = ref[j+1:]
	rest := ref[:j]
	k := strings.LastIndexByte(rest, '/')
	typ = rest[k+1:]
	if id == "" || !model.IsResource(typ) {
		return "", "", false
	}
	return typ, id, true
}

// wellFormedXHTML is the lenient htmlChecks(): the narrative parses as XML
// with a single root element.
func wellFormedXHTML(s string) bool {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	depth, roots := 0, 0
	for {
		t, err := d.Token()
		if err == io.EOF {
			return depth == 0 && roots == 1
		}
		if err != nil {
			return false
		}
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			switch strings.ToLower(t.Name.Local) {
			case "script", "object", "applet", "embed", "form", "iframe", "base", "link", "meta", "style":
				return false
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return false
			}
		}
	}
}
