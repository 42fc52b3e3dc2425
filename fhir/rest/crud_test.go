package rest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"ucp/fhir/rest"
)

func TestCreateReadVRead(t *testing.T) {
	ts := mustServer(t)
	body := strings.Replace(patientJSON, `"resourceType":"Patient"`, `"resourceType":"Patient","id":"client-chosen"`, 1)
	r := ts.do(t, "POST", "/Patient", body).want(t, http.StatusCreated)
	m := r.JSON(t)
	id := str(m["id"])
	if id == "" || id == "client-chosen" {
		t.Fatalf("create kept or lost the id: %q", id)
	}
	if got, want := r.Header.Get("Location"), ts.base+"/Patient/"+id+"/_history/1"; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got := r.Header.Get("ETag"); got != `W/"1"` {
		t.Errorf("ETag %q", got)
	}
	if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q: %v", r.Header.Get("Last-Modified"), err)
	}
	if path(m, "meta.versionId") != "1" || str(path(m, "meta.lastUpdated")) == "" {
		t.Errorf("meta %v", m["meta"])
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("Content-Type %q", ct)
	}

	rd := ts.do(t, "GET", "/Patient/"+id).want(t, http.StatusOK)
	if string(rd.Body) != string(r.Body) {
		t.Errorf("read body differs from create body:\n%s\n%s", rd.Body, r.Body)
	}
	if rd.Header.Get("ETag") != `W/"1"` {
		t.Errorf("read ETag %q", rd.Header.Get("ETag"))
	}
	ts.do(t, "GET", "/Patient/"+id, "", `If-None-Match: W/"1"`).want(t, http.StatusNotModified)
	ts.do(t, "GET", "/Patient/"+id, "", `If-None-Match: W/"2"`).want(t, http.StatusOK)
	ts.do(t, "GET", "/Patient/"+id, "", "If-Modified-Since: "+time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)).want(t, http.StatusNotModified)
	ts.do(t, "GET", "/Patient/"+id, "", "If-Modified-Since: "+time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)).want(t, http.StatusOK)

	vr := ts.do(t, "GET", "/Patient/"+id+"/_history/1").want(t, http.StatusOK)
	if string(vr.Body) != string(r.Body) {
		t.Errorf("vread differs")
	}
	ts.do(t, "GET", "/Patient/"+id+"/_history/2").want(t, http.StatusNotFound)
	ts.do(t, "GET", "/Patient/"+id+"/_history/x").want(t, http.StatusBadRequest)
	ts.do(t, "GET", "/Patient/nope").want(t, http.StatusNotFound)
	if r := ts.do(t, "HEAD", "/Patient/"+id); r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("ETag") == "" {
		t.Errorf("HEAD: %d %q", r.Status, r.Body)
	}
}

func TestUpdate(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, patientJSON)
	withID := func(id string) string {
		return strings.Replace(patientJSON, `"resourceType":"Patient"`, `"resourceType":"Patient","id":"`+id+`"`, 1)
	}
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		status           int
		version          string
	}{
		{"update", "/Patient/" + id, withID(id), nil, 200, "2"},
		{"if-match ok", "/Patient/" + id, withID(id), []string{`If-Match: W/"2"`}, 200, "3"},
		{"if-match stale", "/Patient/" + id, withID(id), []string{`If-Match: W/"1"`}, 412, ""},
		{"if-match bare number", "/Patient/" + id, withID(id), []string{`If-Match: 3`}, 200, "4"},
		{"if-match garbage", "/Patient/" + id, withID(id), []string{`If-Match: W/"x"`}, 400, ""},
		{"update as create", "/Patient/new-1", withID("new-1"), nil, 201, "1"},
		{"id mismatch", "/Patient/" + id, withID("other"), nil, 400, ""},
		{"no id", "/Patient/" + id, patientJSON, nil, 400, ""},
		{"wrong type", "/Patient/" + id, `{"resourceType":"Observation","id":"` + id + `"}`, nil, 400, ""},
		{"bad url id", "/Patient/bad$id", withID("bad$id"), nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "PUT", tc.path, append([]string{tc.body}, tc.headers...)...).want(t, tc.status)
			if tc.version != "" {
				if got := path(r.JSON(t), "meta.versionId"); got != tc.version {
					t.Errorf("versionId %v, want %s", got, tc.version)
				}
				if got := r.Header.Get("ETag"); got != `W/"`+tc.version+`"` {
					t.Errorf("ETag %q", got)
				}
				if tc.status == 201 && r.Header.Get("Location") == "" {
					t.Errorf("no Location on update-as-create")
				}
			}
		})
	}
}

func TestDelete(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, patientJSON)
	ts.do(t, "DELETE", "/Patient/"+id, "", `If-Match: W/"9"`).want(t, http.StatusPreconditionFailed)
	ts.do(t, "DELETE", "/Patient/"+id).want(t, http.StatusNoContent)
	r := ts.do(t, "GET", "/Patient/"+id).want(t, http.StatusGone)
	if !strings.Contains(string(r.Body), "deleted") {
		t.Errorf("410 body %s", r.Body)
	}
	// Deleting again, or deleting what never existed, is a no-op 204.
	ts.do(t, "DELETE", "/Patient/"+id).want(t, http.StatusNoContent)
	ts.do(t, "DELETE", "/Patient/never").want(t, http.StatusNoContent)
	ts.do(t, "GET", "/Patient/"+id+"/_history/2").want(t, http.StatusGone)
	ts.do(t, "GET", "/Patient/"+id+"/_history/1").want(t, http.StatusOK)
	h := ts.do(t, "GET", "/Patient/"+id+"/_history").want(t, http.StatusOK).JSON(t)
	if path(h, "entry.0.request.method") != "DELETE" || path(h, "entry.0.resource") != nil {
		t.Errorf("history deletion entry: %v", path(h, "entry.0"))
	}
	if path(h, "total") != jsonNum(2) {
		t.Errorf("history total %v", h["total"])
	}
	// Re-creating by update after a delete continues the version numbers.
	body := strings.Replace(patientJSON, `"resourceType":"Patient"`, `"resourceType":"Patient","id":"`+id+`"`, 1)
	r = ts.do(t, "PUT", "/Patient/"+id, body).want(t, http.StatusCreated)
	if path(r.JSON(t), "meta.versionId") != "3" {
		t.Errorf("version after re-create: %v", path(r.JSON(t), "meta.versionId"))
	}
	if ts.total(t, "/Patient?_id="+id) != 1 {
		t.Errorf("re-created resource not found by search")
	}
	r = ts.do(t, "DELETE", "/Patient/"+id, "", "Prefer: return=OperationOutcome").want(t, http.StatusOK)
	if r.JSON(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("Prefer OperationOutcome on delete: %s", r.Body)
	}
}

func TestConditionalCreate(t *testing.T) {
	ts := mustServer(t)
	cond := "If-None-Exist: identifier=https://fhir.nhs.uk/Id/nhs-number|9000000017"
	r1 := ts.do(t, "POST", "/Patient", patientWith("9000000017"), cond).want(t, http.StatusCreated)
	r2 := ts.do(t, "POST", "/Patient", patientWith("9000000017"), cond).want(t, http.StatusOK)
	if str(r1.JSON(t)["id"]) != str(r2.JSON(t)["id"]) {
		t.Errorf("conditional create matched a different resource")
	}
	if r2.Header.Get("ETag") != `W/"1"` {
		t.Errorf("match ETag %q", r2.Header.Get("ETag"))
	}
	// HAPI's client sends the condition as a search URL.
	ts.do(t, "POST", "/Patient", patientWith("9000000017"), "If-None-Exist: Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000017").want(t, http.StatusOK)
	ts.create(t, patientWith("9000000017")) // a second one, unconditionally
	ts.do(t, "POST", "/Patient", patientWith("9000000017"), cond).want(t, http.StatusPreconditionFailed)
	ts.do(t, "POST", "/Patient", patientJSON, "If-None-Exist: nonsense-param=1").want(t, http.StatusBadRequest)
	if n := ts.total(t, "/Patient?identifier=9000000017"); n != 2 {
		t.Errorf("%d patients, want 2", n)
	}
}

// TestConcurrentConditionalCreate is the race HAPI, Medplum and others lose:
// 50 identical conditional creates at once must store exactly one resource.
func TestConcurrentConditionalCreate(t *testing.T) {
	ts := mustServer(t)
	const n = 50
	statuses := make([]int, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", ts.base+"/Patient", strings.NewReader(patientWith("9000000025")))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("If-None-Exist", "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000025")
			res, err := ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			statuses[i] = res.StatusCode
			var b strings.Builder
			buf := make([]byte, 4096)
			for {
				k, err := res.Body.Read(buf)
				b.Write(buf[:k])
				if err != nil {
					break
				}
			}
			if res.StatusCode < 300 {
				ids[i] = str(mustDecode(t, []byte(b.String()))["id"])
			} else {
				t.Errorf("status %d: %s", res.StatusCode, b.String())
			}
		})
	}
	wg.Wait()
	created, matched := 0, 0
	for i, s := range statuses {
		switch s {
		case 201:
			created++
		case 200:
			matched++
		}
		if ids[i] != ids[0] {
			t.Errorf("response %d names %s, response 0 names %s", i, ids[i], ids[0])
		}
	}
	if created != 1 || matched != n-1 {
		t.Errorf("%d created, %d matched; want 1 and %d", created, matched, n-1)
	}
	if got := ts.total(t, "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000025"); got != 1 {
		t.Errorf("%d patients stored, want 1", got)
	}
}

func TestConditionalUpdate(t *testing.T) {
	ts := mustServer(t)
	q := "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000033"
	r := ts.do(t, "PUT", q, patientWith("9000000033")).want(t, http.StatusCreated)
	id := str(r.JSON(t)["id"])
	r = ts.do(t, "PUT", q, patientWith("9000000033")).want(t, http.StatusOK)
	if str(r.JSON(t)["id"]) != id || path(r.JSON(t), "meta.versionId") != "2" {
		t.Errorf("conditional update: %s", r.Body)
	}
	// A body id that disagrees with the match is refused.
	bad := strings.Replace(patientWith("9000000033"), `"resourceType":"Patient"`, `"resourceType":"Patient","id":"other"`, 1)
	ts.do(t, "PUT", q, bad).want(t, http.StatusBadRequest)
	// No match with a body id: created with that id, unless it exists (409).
	q2 := "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000034"
	withID := strings.Replace(patientWith("9000000034"), `"resourceType":"Patient"`, `"resourceType":"Patient","id":"cond-new"`, 1)
	if r := ts.do(t, "PUT", q2, withID).want(t, http.StatusCreated); str(r.JSON(t)["id"]) != "cond-new" {
		t.Errorf("id %s", r.Body)
	}
	clash := strings.Replace(patientWith("9000000035"), `"resourceType":"Patient"`, `"resourceType":"Patient","id":"cond-new"`, 1)
	ts.do(t, "PUT", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000035", clash).want(t, http.StatusConflict)
	ts.create(t, patientWith("9000000033"))
	ts.do(t, "PUT", q, patientWith("9000000033")).want(t, http.StatusPreconditionFailed)
}

func TestConditionalDelete(t *testing.T) {
	ts := mustServer(t)
	ts.create(t, patientWith("9000000041"))
	ts.do(t, "DELETE", "/Patient?identifier=9000000041").want(t, http.StatusNoContent)
	if ts.total(t, "/Patient?identifier=9000000041") != 0 {
		t.Fatal("conditional delete left the resource")
	}
	ts.do(t, "DELETE", "/Patient?identifier=9000000041").want(t, http.StatusNoContent) // no match: nothing to do
	ts.create(t, patientWith("9000000041"))
	ts.create(t, patientWith("9000000041"))
	ts.do(t, "DELETE", "/Patient?identifier=9000000041").want(t, http.StatusPreconditionFailed)
	if ts.total(t, "/Patient?identifier=9000000041") != 2 {
		t.Fatal("a refused conditional delete deleted something")
	}

	multi := mustServer(t, func(c *rest.Config) { c.ConditionalDeleteMultiple = true; c.MaxConditionalDelete = 3 })
	for range 3 {
		multi.create(t, patientWith("9000000041"))
	}
	multi.do(t, "DELETE", "/Patient?identifier=9000000041").want(t, http.StatusNoContent)
	if multi.total(t, "/Patient?identifier=9000000041") != 0 {
		t.Fatal("multiple conditional delete left resources")
	}
	for range 4 {
		multi.create(t, patientWith("9000000041"))
	}
	multi.do(t, "DELETE", "/Patient?identifier=9000000041").want(t, http.StatusPreconditionFailed)
}

func TestPatch(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"valueQuantity":{"value":70.50,"unit":"kg"},"component":[{"code":{"text":"x"},"valueQuantity":{"value":100.000}}]}`)
	jp := "Content-Type: application/json-patch+json"
	r := ts.do(t, "PATCH", "/Observation/"+id, `[{"op":"replace","path":"/status","value":"amended"},{"op":"add","path":"/note","value":[{"text":"checked"}]}]`, jp, `If-Match: W/"1"`).want(t, http.StatusOK)
	for _, want := range []string{`"value":70.50`, `"value":100.000`, `"status":"amended"`, `"versionId":"2"`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("patched body lacks %s: %s", want, r.Body)
		}
	}
	for _, tc := range []struct {
		name, body string
		headers    []string
		status     int
	}{
		{"stale if-match", `[{"op":"replace","path":"/status","value":"final"}]`, []string{jp, `If-Match: W/"1"`}, 412},
		{"malformed patch", `{"op":"replace"}`, []string{jp}, 400},
		{"failed test op", `[{"op":"test","path":"/status","value":"final"}]`, []string{jp}, 422},
		{"bad path", `[{"op":"replace","path":"/nothing/here","value":1}]`, []string{jp}, 422},
		{"change id", `[{"op":"replace","path":"/id","value":"other"}]`, []string{jp}, 422},
		{"change type", `[{"op":"replace","path":"/resourceType","value":"Patient"}]`, []string{jp}, 422},
		{"fhirpath patch selecting nothing", `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Observation.issued"},{"name":"value","valueInstant":"2024-01-01T00:00:00Z"}]}]}`, []string{"Content-Type: application/fhir+json"}, 422},
		{"fhirpath patch bad path", `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Observation.(("}]}]}`, []string{"Content-Type: application/fhir+json"}, 400},
		{"fhirpath patch not parameters", `{"resourceType":"Patient"}`, []string{"Content-Type: application/fhir+json"}, 400},
		{"plain text", `x`, []string{"Content-Type: text/plain"}, 415},
		{"xml", `<x/>`, []string{"Content-Type: application/fhir+xml"}, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.do(t, "PATCH", "/Observation/"+id, append([]string{tc.body}, tc.headers...)...).want(t, tc.status)
		})
	}
	ts.do(t, "PATCH", "/Observation/missing", `[]`, jp).want(t, http.StatusNotFound)
	if v := path(ts.do(t, "GET", "/Observation/"+id).JSON(t), "meta.versionId"); v != "2" {
		t.Errorf("failed patches changed the resource: version %v", v)
	}
}

func TestFHIRPathPatch(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, `{"resourceType":"Patient","active":true,"gender":"male","name":[{"family":"Smith","given":["Ann","Bea","Cat"]}],"identifier":[{"system":"a","value":"1"},{"system":"b","value":"2"}],"extension":[{"url":"http://x","valueDecimal":1.50}]}`)
	op := func(parts string) string {
		return `{"name":"operation","part":[` + parts + `]}`
	}
	body := `{"resourceType":"Parameters","parameter":[` + strings.Join([]string{
		op(`{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.gender"},{"name":"value","valueCode":"female"}`),
		op(`{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.active"}`),
		op(`{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"name","valueString":"birthDate"},{"name":"value","valueDate":"1940-02-03"}`),
		op(`{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"name","valueString":"telecom"},{"name":"value","part":[{"name":"system","valueCode":"phone"},{"name":"value","valueString":"0123"}]}`),
		op(`{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.identifier.where(system='a')"}`),
		op(`{"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.name.given"},{"name":"index","valueInteger":0},{"name":"value","valueString":"Zed"}`),
		op(`{"name":"type","valueCode":"move"},{"name":"path","valueString":"Patient.name.given"},{"name":"source","valueInteger":3},{"name":"destination","valueInteger":1}`),
	}, ",") + `]}`
	r := ts.do(t, "PATCH", "/Patient/"+id, body, `If-Match: W/"1"`).want(t, http.StatusOK)
	m := r.JSON(t)
	for p, want := range map[string]any{
		"gender": "female", "birthDate": "1940-02-03", "telecom.0.value": "0123",
		"identifier.0.system": "b", "name.0.given.0": "Zed", "name.0.given.1": "Cat", "name.0.given.2": "Ann", "name.0.given.3": "Bea",
	} {
		if got := path(m, p); got != want {
			t.Errorf("%s = %v, want %v", p, got, want)
		}
	}
	if m["active"] != nil || len(m["identifier"].([]any)) != 1 {
		t.Errorf("deletes not applied: %s", r.Body)
	}
	if !strings.Contains(string(r.Body), `"valueDecimal":1.50`) {
		t.Errorf("decimal lost: %s", r.Body)
	}
}

func TestPreferReturn(t *testing.T) {
	ts := mustServer(t)
	r := ts.do(t, "POST", "/Patient", patientJSON, "Prefer: return=minimal").want(t, http.StatusCreated)
	if len(r.Body) != 0 || r.Header.Get("Location") == "" {
		t.Errorf("minimal: body %q location %q", r.Body, r.Header.Get("Location"))
	}
	r = ts.do(t, "POST", "/Patient", patientJSON, "Prefer: return=OperationOutcome").want(t, http.StatusCreated)
	if r.JSON(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("OperationOutcome: %s", r.Body)
	}
	r = ts.do(t, "POST", "/Patient", patientJSON, "Prefer: return=representation").want(t, http.StatusCreated)
	if r.JSON(t)["resourceType"] != "Patient" {
		t.Errorf("representation: %s", r.Body)
	}
}

func TestSummaryElements(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann</div>"},"name":[{"family":"Smith"}],"gender":"female","birthDate":"1940-02-03","_birthDate":{"extension":[{"url":"http://x","valueString":"y"}]}}`)
	for _, tc := range []struct {
		query        string
		have, absent []string
		status       int
	}{
		{"_elements=name", []string{"name", "id", "meta"}, []string{"gender", "text", "birthDate"}, 200},
		{"_elements=Patient.birthDate", []string{"birthDate", "_birthDate"}, []string{"name"}, 200},
		{"_summary=text", []string{"text"}, []string{"name", "gender"}, 200},
		{"_summary=data", []string{"name", "gender"}, []string{"text"}, 200},
		{"_summary=true", []string{"name"}, []string{"text"}, 200},
		{"_summary=bogus", nil, nil, 400},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := ts.do(t, "GET", "/Patient/"+id+"?"+tc.query).want(t, tc.status)
			if tc.status != 200 {
				return
			}
			m := r.JSON(t)
			for _, k := range tc.have {
				if m[k] == nil {
					t.Errorf("missing %s: %s", k, r.Body)
				}
			}
			for _, k := range tc.absent {
				if m[k] != nil {
					t.Errorf("has %s: %s", k, r.Body)
				}
			}
			if path(m, "meta.tag.0.code") != "SUBSETTED" {
				t.Errorf("no SUBSETTED tag: %v", m["meta"])
			}
		})
	}
}

func TestElementsKeepMandatory(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/x"},"title":"Plan","description":"long"}`)
	m := ts.do(t, "GET", "/CarePlan/"+id+"?_elements=title").want(t, http.StatusOK).JSON(t)
	for _, k := range []string{"title", "status", "intent", "subject"} {
		if m[k] == nil {
			t.Errorf("_elements=title dropped %s", k)
		}
	}
	if m["description"] != nil {
		t.Errorf("_elements=title kept description")
	}
}

func TestHistory(t *testing.T) {
	ts := mustServer(t)
	start := time.Now().UTC().Add(-time.Second)
	id := ts.create(t, patientJSON)
	for i := 2; i <= 5; i++ {
		body := strings.Replace(patientJSON, `"resourceType":"Patient"`, fmt.Sprintf(`"resourceType":"Patient","id":"%s","active":%v`, id, i%2 == 0), 1)
		ts.do(t, "PUT", "/Patient/"+id, body).want(t, http.StatusOK)
	}
	ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)

	// Instance history, two per page, newest first, following next links.
	var versions []string
	next := ts.base + "/Patient/" + id + "/_history?_count=2"
	pages := 0
	for next != "" {
		r := ts.do(t, "GET", next).want(t, http.StatusOK)
		m := r.JSON(t)
		if m["type"] != "history" || m["total"] != jsonNum(5) {
			t.Fatalf("history bundle: %s", r.Body)
		}
		next = ""
		for _, l := range m["link"].([]any) {
			if path(l, "relation") == "next" {
				next = str(path(l, "url"))
			}
		}
		entries, _ := m["entry"].([]any)
		for _, e := range entries {
			versions = append(versions, str(path(e, "resource.meta.versionId")))
			if path(e, "request.method") == nil || path(e, "response.status") == nil {
				t.Errorf("entry lacks request/response: %v", e)
			}
		}
		if pages++; pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if got := strings.Join(versions, ","); got != "5,4,3,2,1" {
		t.Errorf("versions %s", got)
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	if n := ts.do(t, "GET", "/Patient/_history").want(t, 200).JSON(t)["total"]; n != jsonNum(5) {
		t.Errorf("type history total %v", n)
	}
	if n := ts.do(t, "GET", "/_history").want(t, 200).JSON(t)["total"]; n != jsonNum(6) {
		t.Errorf("system history total %v", n)
	}
	if n := ts.do(t, "GET", "/_history?_since="+start.Format(time.RFC3339)).want(t, 200).JSON(t)["total"]; n != jsonNum(6) {
		t.Errorf("_since history total %v", n)
	}
	if n := ts.do(t, "GET", "/_history?_since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)).want(t, 200).JSON(t)["total"]; n != jsonNum(0) {
		t.Errorf("future _since total %v", n)
	}
	ts.do(t, "GET", "/_history?_count=abc").want(t, http.StatusBadRequest)
	ts.do(t, "GET", "/_history?_count=0").want(t, http.StatusBadRequest)
	ts.do(t, "GET", "/_history?_since=yesterday").want(t, http.StatusBadRequest)
	ts.do(t, "GET", "/Patient/none/_history").want(t, http.StatusNotFound)
}

// TestConcurrentConditionalUpdate: racing conditional updates of a new
// resource store one resource; the losers update it.
func TestConcurrentConditionalUpdate(t *testing.T) {
	ts := mustServer(t)
	const n = 20
	q := ts.base + "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000700"
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("PUT", q, strings.NewReader(patientWith("9000000700")))
			req.Header.Set("Content-Type", "application/fhir+json")
			res, err := ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 200:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Errorf("%d created, want 1 (%v)", created, statuses)
	}
	m := ts.do(t, "GET", "/Patient?identifier=9000000700").want(t, 200).JSON(t)
	if m["total"] != jsonNum(1) {
		t.Fatalf("%v patients", m["total"])
	}
	if v := path(m, "entry.0.resource.meta.versionId"); v != fmt.Sprint(n) {
		t.Errorf("versionId %v, want %d: every request must have written", v, n)
	}
}
