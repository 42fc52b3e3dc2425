package rest_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// cursorOf returns the _cursor of a paging link.
func cursorOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("_cursor") == "" {
		t.Fatalf("link %q has no _cursor", link)
	}
	return u.Query().Get("_cursor")
}

// TestCursorBinding: a paging cursor continues the search it was issued
// for, page after page, and nothing else: a made-up, altered or foreign
// one (another search's, another type's, a history's) is a 400.
func TestCursorBinding(t *testing.T) {
	ts := mustServer(t)
	var pid, otherPid string
	for i := range 5 {
		otherPid, pid = pid, ts.create(t, patientWith(fmt.Sprintf("90000004%02d", i)))
		ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+pid+`"}}`)
	}

	// Every page of the same search, forwards and back.
	seen := map[string]bool{}
	next := ts.base + "/Patient?_count=2&gender=female"
	var first map[string]any
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		b := ts.do(t, "GET", next).want(t, http.StatusOK).JSON(t)
		if first == nil {
			first = b
		}
		for _, e := range b["entry"].([]any) {
			seen[str(path(e, "resource.id"))] = true
		}
		if prev := link(b, "previous"); prev != "" {
			ts.do(t, "GET", prev).want(t, http.StatusOK)
		}
		next = link(b, "next")
	}
	if len(seen) != 5 {
		t.Errorf("paging saw %d patients, want 5", len(seen))
	}

	patientCursor := cursorOf(t, link(first, "next"))
	storePart, _, _ := strings.Cut(patientCursor, ".")
	madeUp := base64.RawURLEncoding.EncodeToString([]byte(`{"x":1}`))
	histCursor := cursorOf(t, link(ts.do(t, "GET", "/Patient/_history?_count=2").want(t, http.StatusOK).JSON(t), "next"))
	everything := cursorOf(t, link(ts.do(t, "GET", "/Patient/"+pid+"/$everything?_count=1").want(t, http.StatusOK).JSON(t), "next"))
	for _, tc := range []struct{ name, query string }{
		{"made up", "/Patient?_count=2&gender=female&_cursor=" + madeUp},
		{"made up on a fresh search", "/CarePlan?_cursor=" + madeUp},
		{"garbage", "/Patient?_count=2&gender=female&_cursor=%25%25%25"},
		{"another type's", "/CarePlan?_count=2&gender=female&_cursor=" + url.QueryEscape(patientCursor)},
		{"another query's", "/Patient?_count=2&gender=male&_cursor=" + url.QueryEscape(patientCursor)},
		{"another page size's", "/Patient?_count=3&gender=female&_cursor=" + url.QueryEscape(patientCursor)},
		{"a system search's", "/?_type=Patient&_count=2&gender=female&_cursor=" + url.QueryEscape(patientCursor)},
		{"a compartment's", "/Patient/" + pid + "/CarePlan?_count=2&gender=female&_cursor=" + url.QueryEscape(patientCursor)},
		{"unsealed store cursor", "/Patient?_count=2&gender=female&_cursor=" + url.QueryEscape(storePart)},
		{"altered", "/Patient?_count=2&gender=female&_cursor=" + url.QueryEscape("A"+patientCursor[1:])},
		{"history's on a search", "/Patient?_count=2&_cursor=" + url.QueryEscape(histCursor)},
		{"search's on a history", "/Patient/_history?_count=2&_cursor=" + url.QueryEscape(patientCursor)},
		{"another patient's $everything", "/Patient/" + otherPid + "/$everything?_count=1&_cursor=" + url.QueryEscape(everything)},
		{"search's on $everything", "/Patient/" + pid + "/$everything?_count=1&_cursor=" + url.QueryEscape(patientCursor)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "GET", tc.query).want(t, http.StatusBadRequest)
			if !strings.Contains(string(r.Body), "_cursor") {
				t.Errorf("error does not name _cursor: %s", r.Body)
			}
		})
	}
	// History and $everything page on with their own cursors.
	ts.do(t, "GET", "/Patient/_history?_count=2&_cursor="+url.QueryEscape(histCursor)).want(t, http.StatusOK)
	ts.do(t, "GET", "/Patient/"+pid+"/$everything?_count=1&_cursor="+url.QueryEscape(everything)).want(t, http.StatusOK)
}
