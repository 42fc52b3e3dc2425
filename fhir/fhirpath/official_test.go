package fhirpath

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

// The official HL7 FHIRPath test suite (tests-fhir-r4.xml), read from the
// folder named by FHIRPATH_TESTS.

type suiteXML struct {
	Groups []struct {
		Name  string    `xml:"name,attr"`
		Tests []caseXML `xml:"test"`
		Modes []caseXML `xml:"modeTest"`
	} `xml:"group"`
}

type caseXML struct {
	Name      string `xml:"name,attr"`
	InputFile string `xml:"inputfile,attr"`
	Predicate string `xml:"predicate,attr"`
	Mode      string `xml:"mode,attr"`
	Ordered   string `xml:"ordered,attr"`
	Expr      struct {
		Text    string `xml:",chardata"`
		Invalid string `xml:"invalid,attr"`
		Mode    string `xml:"mode,attr"`
	} `xml:"expression"`
	Outputs []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"output"`
}

// knownFailures lists suite cases this engine does not pass, with the reason.
// Each needs something this engine deliberately does not do, or disagrees
// with the shipped JSON inputs.
var knownFailures = map[string]string{
	// Static (compile-time) type checking: the engine checks element names at
	// run time against the types of the items actually present, so an empty
	// focus cannot raise a semantic error.
	"testObservations/testPolymorphismAsB": "needs static typing: (value as Period) is empty at run time, so .unit on it cannot fail",
	"testDollar/testDollarOrderNotAllowed": "checkOrderedFunctions (unordered children() followed by skip()) is a static check",
	// Decimal boundaries that need a negative zero or a rule the other
	// boundary cases contradict (1.587.highBoundary(2) = 1.59 rounds up, but
	// 0.0034.highBoundary(1) = 0.0 does not).
	"LowBoundary/LowBoundaryDecimal15":              "expects -0.0, which an exact decimal cannot represent, from a floor the other cases apply",
	"HighBoundary/HighBoundaryDecimal15":            "expects 0.0034.highBoundary(1) = 0.0, contradicting 1.587.highBoundary(2) = 1.59",
	"HighBoundary/HighBoundaryDecimal16":            "same case negated (-(0.0034.highBoundary(1)))",
	"HighBoundary/HighBoundaryDateTimeMillisecond1": "expects 08:00:59.999 as the high boundary of hour 08 (the minutes should be 59)",
	"HighBoundary/HighBoundaryDateTimeMillisecond3": "same case as HighBoundaryDateTimeMillisecond1",
	// The JSON inputs shipped beside the suite differ from the XML ones it was written for.
	"testInheritance/testFHIRPathIsFunction8":  "observation-example.json has no patient-age extension",
	"testInheritance/testFHIRPathIsFunction9":  "observation-example.json has no patient-age extension",
	"testInheritance/testFHIRPathIsFunction10": "observation-example.json has no patient-age extension",
	"testInheritance/testFHIRPathAsFunction14": "valueset-example-expansion.json has version 4.0.1, the test expects 20150622",
	"testInheritance/testFHIRPathAsFunction19": "valueset-example-expansion.json has version 4.0.1, the test expects 20150622",
}

func TestOfficial(t *testing.T) {
	dir := os.Getenv("FHIRPATH_TESTS")
	if dir == "" {
		t.Skip("set FHIRPATH_TESTS to a folder holding tests-fhir-r4.xml and its JSON inputs (e.g. ../shared/fhirpath-tests) to run the official FHIRPath suite")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "tests-fhir-r4.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var suite suiteXML
	if err := xml.Unmarshal(raw, &suite); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]map[string]any{}
	load := func(name string) map[string]any {
		name = strings.TrimSuffix(name, ".xml")
		name = strings.TrimSuffix(name, ".json") + ".json"
		if r, ok := inputs[name]; ok {
			return r
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("input %s: %v", name, err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("input %s: %v", name, err)
		}
		inputs[name] = m
		return m
	}
	var pass, fail, skipped atomic.Int64
	t.Cleanup(func() {
		t.Logf("official FHIRPath suite: %d passed, %d failed, %d known failures skipped", pass.Load(), fail.Load(), skipped.Load())
	})
	for _, g := range suite.Groups {
		cases := append(append([]caseXML(nil), g.Tests...), g.Modes...)
		for i, tc := range cases {
			name := tc.Name
			if name == "" {
				name = "case" + string(rune('0'+i))
			}
			t.Run(g.Name+"/"+name, func(t *testing.T) {
				if why, ok := knownFailures[g.Name+"/"+name]; ok {
					skipped.Add(1)
					t.Skip("known failure: " + why)
				}
				ok := runCase(t, tc, load)
				if ok {
					pass.Add(1)
				} else {
					fail.Add(1)
				}
			})
		}
	}
}

func runCase(t *testing.T, tc caseXML, load func(string) map[string]any) bool {
	t.Helper()
	src := tc.Expr.Text
	invalid := tc.Expr.Invalid != ""
	mode := tc.Mode + tc.Expr.Mode
	env := &Env{Strict: !strings.Contains(mode, "lenient")}
	expr, err := Compile(src)
	if err != nil {
		if invalid {
			return true
		}
		t.Errorf("Compile(%q): %v", src, err)
		return false
	}
	var res map[string]any
	if tc.InputFile != "" {
		res = load(tc.InputFile)
	}
	var got Collection
	if res != nil {
		got, err = expr.Evaluate(res, env)
	} else {
		got, err = expr.EvaluateOn(Item{}, env)
	}
	if invalid {
		if err == nil {
			t.Errorf("%q: want an error (%s), got %s", src, tc.Expr.Invalid, render(got))
			return false
		}
		return true
	}
	if err != nil {
		t.Errorf("%q: %v", src, err)
		return false
	}
	if tc.Predicate == "true" {
		got = boolColl(len(got) > 0)
	}
	var want []string
	for _, o := range tc.Outputs {
		want = append(want, o.Type+":"+strings.TrimSpace(o.Text))
	}
	gotS := make([]string, len(got))
	for i, it := range got {
		typ := ""
		if i < len(tc.Outputs) {
			typ = tc.Outputs[i].Type
		}
		gotS[i] = typ + ":" + renderItem(it)
		if typ != "" && !typeFits(it, typ) {
			gotS[i] = "(" + it.typ + ")" + gotS[i]
		}
	}
	if tc.Ordered == "false" {
		sort.Strings(want)
		sort.Strings(gotS)
	}
	if strings.Join(want, "\n") != strings.Join(gotS, "\n") {
		t.Errorf("%q:\n got %v\nwant %v", src, gotS, want)
		return false
	}
	return true
}

func typeFits(it Item, want string) bool {
	if it.typ == want {
		return true
	}
	st := it.systemType()
	switch want {
	case "boolean":
		return st == tBoolean
	case "integer":
		return st == tInteger
	case "decimal":
		return st == tDecimal
	case "string":
		return st == tString_
	case "date":
		return st == tDate
	case "dateTime":
		return st == tDateTime
	case "time":
		return st == tTime
	case "Quantity":
		return st == tQuantity
	}
	return false
}

func renderItem(it Item) string {
	switch v := it.sys().(type) {
	case Temporal:
		if v.Kind == KindTime {
			return "@T" + v.String()
		}
		return "@" + v.String()
	case Quantity:
		return v.Value.String() + " '" + v.Unit + "'"
	case map[string]any:
		b, _ := json.Marshal(v)
		return string(b)
	}
	s, _ := stringOf(it)
	return s
}

func render(c Collection) string {
	parts := make([]string, len(c))
	for i, it := range c {
		parts[i] = renderItem(it)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
