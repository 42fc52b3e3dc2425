package rest_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// answer is what a response and a batch's response entry have in common.
type answer struct {
	Status       int
	ResourceType any
	ID, Total    any
	Entries      int
	ETag         string
	Issue        any
}

// TestBatchReadEntriesAnswerAsRequests: each read entry of a batch is
// answered as the same request on its own is, for every read interaction.
func TestBatchReadEntriesAnswerAsRequests(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, patientWith("9000000500"))
	ts.do(t, "PUT", "/Patient/"+id, strings.Replace(patientWith("9000000501"), "{", `{"id":"`+id+`",`, 1)).want(t, http.StatusOK)
	ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/`+id+`"}}`)
	urls := []string{
		"Patient/" + id,
		"Patient/" + id + "?_summary=true",
		"Patient/" + id + "/_history/1",
		"Patient/" + id + "/_history/9",
		"Patient/" + id + "/_history/x",
		"Patient/" + id + "/_history",
		"Patient/_history?_count=1",
		"_history",
		"Patient?identifier=9000000501",
		"Patient?_count=1",
		"Patient?unknown=1",
		"?_type=Patient,Observation",
		"Patient/" + id + "/Observation",
		"Patient/" + id + "/*",
		"Patient/missing/Observation",
		"Patient/" + id + "/$everything",
		"metadata",
		"Patient/missing",
		"Unknown/1",
		"Patient/" + id + "/_search",
	}
	entries := make([]string, len(urls))
	for i, u := range urls {
		entries[i] = `{"request":{"method":"GET","url":"` + u + `"}}`
	}
	m := ts.do(t, "POST", "/", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`).want(t, http.StatusOK).JSON(t)
	for i, u := range urls {
		r := ts.do(t, "GET", "/"+u)
		want := summarise(r.Status, r.JSON(t), r.Header.Get("ETag"))
		e := path(m, "entry."+strconv.Itoa(i))
		status, _ := strconv.Atoi(strings.Fields(str(path(e, "response.status")))[0])
		body, _ := path(e, "resource").(map[string]any)
		if body == nil {
			body, _ = path(e, "response.outcome").(map[string]any)
		}
		got := summarise(status, body, str(path(e, "response.etag")))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET %s as a batch entry (-want +got):\n%s", u, diff)
		}
	}
}

func summarise(status int, body map[string]any, etag string) answer {
	a := answer{Status: status, ResourceType: body["resourceType"], ETag: etag}
	switch body["resourceType"] {
	case "Bundle":
		a.Total = body["total"]
		a.Entries = len(asList(body["entry"]))
	case "OperationOutcome":
		a.Issue = path(body, "issue.0.code")
	case "CapabilityStatement":
	default:
		a.ID = body["id"]
	}
	return a
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
