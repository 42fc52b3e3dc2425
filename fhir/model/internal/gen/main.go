// Command gen writes fhir/model's generated type table (zz_generated.go).
//
// The structure of every R4 type (its elements in order, their cardinality,
// choice elements and backbone elements) is read from the Go source of the
// samply model structs (github.com/samply/golang-fhir-models/fhir-models,
// imported elsewhere in the project as r4), located with `go list -m`.
//
// samply erases the FHIR primitive type of most elements (code, uri, date,
// dateTime, id, markdown … are all Go strings; integer, positiveInt and
// unsignedInt are all Go ints). Choice elements carry the type in the field
// name (deceasedDateTime) and required-binding codes have their own Go enum
// types, but for the rest the generator reads the element's type code from the
// official R4 StructureDefinitions named by -defs (only the primitive type
// name of each such element is taken from them; nothing is copied). Without
// -defs those elements fall back to "string" and "integer".
//
// Run with `go generate ./fhir/model/`.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	// Imported so that the module stays required (go mod tidy) and in the
	// module cache, where the generator reads its source.
	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

var _ r4.Patient

const samplyModule = "github.com/samply/golang-fhir-models/fhir-models"

type field struct {
	goName, goType, jsonName string
	slice, required          bool
}

type structType struct {
	name   string
	fields []field
}

var (
	structs  = map[string]*structType{}
	enums    = map[string]bool{}   // Go enum types (required-binding codes)
	sdTypes  = map[string]bool{}   // types documented as StructureDefinition
	resource = map[string]bool{}   // resources (MarshalJSON adds resourceType)
	defs     = map[string]string{} // "Patient.birthDate" -> "date"
)

var primitives = []string{"base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
	"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid", "xhtml"}

func main() {
	defsDir := flag.String("defs", "", "folder of the official R4 StructureDefinition-*.json (for primitive type names)")
	out := flag.String("o", "zz_generated.go", "output file")
	flag.Parse()

	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", samplyModule).Output()
	if err != nil {
		log.Fatalf("locating %s: %v", samplyModule, err)
	}
	src := filepath.Join(strings.TrimSpace(string(dir)), "fhir")
	parseSamply(src)
	if *defsDir != "" {
		loadDefs(*defsDir)
	}
	var buf bytes.Buffer
	generate(&buf)
	b, err := format.Source(buf.Bytes())
	if err != nil {
		os.WriteFile(*out, buf.Bytes(), 0o644)
		log.Fatalf("gofmt: %v", err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

var docRE = regexp.MustCompile(`^// (\w+) is documented here http://hl7.org/fhir/StructureDefinition/(\w+)`)

func parseSamply(dir string) {
	fset := token.NewFileSet()
	//lint:ignore SA1019 one folder of plain Go files with no build tags: ParseDir's limit does not apply.
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		log.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					if d.Tok != token.TYPE {
						continue
					}
					if d.Doc != nil {
						for _, c := range d.Doc.List {
							if m := docRE.FindStringSubmatch(c.Text); m != nil {
								sdTypes[m[1]] = true
							}
						}
					}
					for _, s := range d.Specs {
						ts := s.(*ast.TypeSpec)
						switch t := ts.Type.(type) {
						case *ast.StructType:
							st := &structType{name: ts.Name.Name}
							for _, fl := range t.Fields.List {
								if len(fl.Names) == 0 || fl.Tag == nil {
									continue
								}
								tag, _ := strconv.Unquote(fl.Tag.Value)
								js := reflect.StructTag(tag).Get("json")
								name, opts, _ := strings.Cut(js, ",")
								if name == "" || name == "-" {
									continue
								}
								gt := exprString(fl.Type)
								st.fields = append(st.fields, field{
									goName: fl.Names[0].Name, goType: strings.TrimLeft(gt, "*[]"), jsonName: name,
									slice: strings.HasPrefix(gt, "[]"), required: !strings.Contains(opts, "omitempty"),
								})
							}
							structs[st.name] = st
						case *ast.Ident:
							if t.Name == "int" {
								enums[ts.Name.Name] = true
							}
						}
					}
				case *ast.FuncDecl:
					if d.Name.Name == "MarshalJSON" && d.Recv != nil {
						if id, ok := d.Recv.List[0].Type.(*ast.Ident); ok {
							var b bytes.Buffer
							format.Node(&b, fset, d.Body)
							if strings.Contains(b.String(), "ResourceType string") {
								resource[id.Name] = true
							}
						}
					}
				}
			}
		}
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.ArrayType:
		return "[]" + exprString(e.Elt)
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	}
	return fmt.Sprintf("%T", e)
}

func loadDefs(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "StructureDefinition-*.json"))
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err != nil {
			log.Fatal(err)
		}
		var sd struct {
			Kind       string `json:"kind"`
			Derivation string `json:"derivation"`
			Type       string `json:"type"`
			Name       string `json:"name"`
			Snapshot   struct {
				Element []struct {
					Path string `json:"path"`
					Type []struct {
						Code      string `json:"code"`
						Extension []struct {
							URL      string `json:"url"`
							ValueURL string `json:"valueUrl"`
						} `json:"extension"`
					} `json:"type"`
				} `json:"element"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(b, &sd); err != nil {
			continue
		}
		if sd.Derivation != "specialization" || sd.Kind == "logical" {
			continue
		}
		for _, el := range sd.Snapshot.Element {
			if len(el.Type) != 1 {
				continue
			}
			code := el.Type[0].Code
			for _, x := range el.Type[0].Extension {
				if strings.HasSuffix(x.URL, "structuredefinition-fhir-type") && x.ValueURL != "" {
					code = x.ValueURL
				}
			}
			if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
				code = map[string]string{"String": "string", "Boolean": "boolean", "Integer": "integer",
					"Decimal": "decimal", "Date": "date", "DateTime": "dateTime", "Time": "time"}[strings.TrimPrefix(code, "http://hl7.org/fhirpath/System.")]
			}
			if code != "" {
				defs[el.Path] = code
			}
		}
	}
}

type elem struct {
	name  string
	types []string
	min   int
	max   string
}

type typ struct {
	name, base, kind string
	elems            []elem
}

var (
	out       []*typ
	backbones = map[string]string{} // Go struct name -> backbone type name ("Patient.contact")
)

func isTypeName(s string) bool {
	for _, p := range primitives {
		if strings.EqualFold(p, s) && strings.ToUpper(p[:1])+p[1:] == s {
			return true
		}
	}
	return sdTypes[s] && !resource[s] || s == "Resource"
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

// build walks one struct, registering backbone element structs on the way.
func build(name, goName, base, kind string) {
	st := structs[goName]
	if st == nil {
		log.Fatalf("no struct %s", goName)
	}
	t := &typ{name: name, base: base, kind: kind}
	out = append(out, t)
	fs := st.fields
	// Group choice elements: consecutive fields prefix+Type with >= 2 members.
	for i := 0; i < len(fs); {
		f := fs[i]
		// A field that the official definitions name as an element of its own
		// is no choice, however its name looks (Task.reasonCode and
		// Task.reasonReference are two elements, not reason[x]).
		_, own := defs[name+"."+f.jsonName]
		if prefix, ok := choicePrefix(fs, i); ok && !own {
			e := elem{name: prefix, min: 0, max: "1"}
			j := i
			for ; j < len(fs) && strings.HasPrefix(fs[j].jsonName, prefix) && isTypeName(fs[j].jsonName[len(prefix):]); j++ {
				suffix := fs[j].jsonName[len(prefix):]
				tn := suffix
				if !sdTypes[suffix] && suffix != "Resource" {
					tn = lowerFirst(suffix)
				}
				e.types = append(e.types, tn)
			}
			t.elems = append(t.elems, e)
			i = j
			continue
		}
		e := elem{name: f.jsonName, min: 0, max: "1"}
		if f.slice {
			e.max = "*"
		}
		if f.required {
			e.min = 1
		}
		e.types = []string{fieldType(name, f)}
		t.elems = append(t.elems, e)
		i++
		if f.jsonName == "text" && base == "DomainResource" {
			// samply drops contained; every DomainResource has it after text.
			t.elems = append(t.elems, elem{name: "contained", types: []string{"Resource"}, max: "*"})
		}
	}
}

func choicePrefix(fs []field, i int) (string, bool) {
	if i+1 >= len(fs) {
		return "", false
	}
	if fs[i].slice || fs[i+1].slice {
		return "", false // choice elements never repeat (instantiatesCanonical/instantiatesUri are two lists)
	}
	a, b := fs[i].jsonName, fs[i+1].jsonName
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	// back up to a capital letter boundary in a
	for n > 0 && (n >= len(a) || !(a[n] >= 'A' && a[n] <= 'Z')) {
		n--
	}
	if n == 0 {
		return "", false
	}
	p := a[:n]
	if isTypeName(a[n:]) && len(b) > n && isTypeName(b[n:]) {
		return p, true
	}
	return "", false
}

func fieldType(owner string, f field) string {
	path := owner + "." + f.jsonName
	switch f.goType {
	case "bool":
		return "boolean"
	case "int":
		if d := defs[path]; d == "positiveInt" || d == "unsignedInt" || d == "integer" {
			return d
		}
		return "integer"
	case "json.Number":
		return "decimal"
	case "string":
		if f.jsonName == "id" && resource[owner] {
			return "id" // R4 snapshots say System.String; the element's type is id
		}
		if d, ok := defs[path]; ok && isPrimitive(d) {
			return d
		}
		if f.jsonName == "div" && owner == "Narrative" {
			return "xhtml"
		}
		return "string"
	case "json.RawMessage":
		return "Resource"
	}
	if enums[f.goType] {
		return "code"
	}
	if sdTypes[f.goType] {
		if f.goType == "Expression" || resource[f.goType] {
			// samply names the Expression datatype Expression; a resource-typed field is rare.
		}
		return f.goType
	}
	if _, ok := structs[f.goType]; ok {
		if bb, ok := backbones[f.goType]; ok {
			return bb
		}
		backbones[f.goType] = path
		pending = append(pending, [2]string{path, f.goType})
		return path
	}
	log.Fatalf("unknown Go type %s at %s", f.goType, path)
	return ""
}

var pending [][2]string

func isPrimitive(s string) bool {
	for _, p := range primitives {
		if p == s {
			return true
		}
	}
	return false
}

var backboneBased = map[string]bool{"Timing": true, "Dosage": true, "ElementDefinition": true, "MarketingStatus": true,
	"Population": true, "ProdCharacteristic": true, "ProductShelfLife": true, "SubstanceAmount": true}
var quantityBased = map[string]bool{"Age": true, "Count": true, "Distance": true, "Duration": true, "MoneyQuantity": true, "SimpleQuantity": true}
var resourceBased = map[string]bool{"Bundle": true, "Binary": true, "Parameters": true}

func generate(buf *bytes.Buffer) {
	var names []string
	for n := range sdTypes {
		if _, ok := structs[n]; ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "Resource" || n == "DomainResource" {
			continue // abstract; model.go defines them
		}
		switch {
		case resource[n]:
			base := "DomainResource"
			if resourceBased[n] {
				base = "Resource"
			}
			build(n, n, base, "Resource")
		default:
			base := "Element"
			if backboneBased[n] {
				base = "BackboneElement"
			} else if quantityBased[n] {
				base = "Quantity"
			}
			build(n, n, base, "Complex")
		}
		for len(pending) > 0 {
			p := pending[0]
			pending = pending[1:]
			build(p[0], p[1], "BackboneElement", "Backbone")
		}
	}
	fmt.Fprintf(buf, "// Code generated by fhir/model/internal/gen from the samply R4 model structs; DO NOT EDIT.\n\npackage model\n\n")
	fmt.Fprintf(buf, "var generatedTypes = []TypeInfo{\n")
	for _, t := range out {
		fmt.Fprintf(buf, "{Name: %q, Base: %q, Kind: Kind%s, Elements: []ElementInfo{\n", t.name, t.base, t.kind)
		for _, e := range t.elems {
			fmt.Fprintf(buf, "{Name: %q, Types: %#v, Min: %d, Max: %q},\n", e.name, e.types, e.min, e.max)
		}
		fmt.Fprintf(buf, "}},\n")
	}
	fmt.Fprintf(buf, "}\n")
}
