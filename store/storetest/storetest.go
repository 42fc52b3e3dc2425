// Package storetest is the one conformance suite of the store.Store
// contract. Every backend runs it:
//
//	func TestStore(t *testing.T) { storetest.Run(t, openFreshStore) }
//
// The suite seeds data through the contract itself (hand-built Changes and
// Entries), so it depends on nothing above the store; it never needs
// fhir/search.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucp/store"
)

// Run runs the whole suite. open must return a fresh, empty store for each
// call; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateRead", testCreateRead},
		{"JSONBytesKept", testJSONBytesKept},
		{"UpdateVRead", testUpdateVRead},
		{"PrevVersionConflicts", testPrevVersionConflicts},
		{"Delete", testDelete},
		{"AtomicWrite", testAtomicWrite},
		{"InvalidWrites", testInvalidWrites},
		{"ConditionalCreateConcurrent", testConditionalCreateConcurrent},
		{"ConditionalCreateSameWrite", testConditionalCreateSameWrite},
		{"History", testHistory},
		{"HistoryPagingWhileWriting", testHistoryPagingWhileWriting},
		{"Token", testToken},
		{"String", testString},
		{"Date", testDate},
		{"NumberQuantity", testNumberQuantity},
		{"Reference", testReference},
		{"URI", testURI},
		{"IDLastUpdated", testIDLastUpdated},
		{"Missing", testMissing},
		{"IndexReplacedOnUpdate", testIndexReplacedOnUpdate},
		{"Chain", testChain},
		{"Has", testHas},
		{"OrAndTypes", testOrAndTypes},
		{"Compartment", testCompartment},
		{"Sort", testSort},
		{"PagingWhileWriting", testPagingWhileWriting},
		{"TotalModes", testTotalModes},
		{"BadCursor", testBadCursor},
		{"CanonicalQuantity", testCanonicalQuantity},
		{"Composite", testComposite},
		{"UnsortedCommonValue", testUnsortedCommonValue},
		{"MissingEverywhere", testMissingEverywhere},
		{"SortEveryType", testSortEveryType},
		{"Text", testText},
		{"Reindex", testReindex},
		{"ReindexText", testReindexText},
		{"ReindexInvalid", testReindexInvalid},
		{"Included", testIncluded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// --- seeding helpers --------------------------------------------------------

var ctx = context.Background()

// clock hands out strictly increasing lastUpdated instants (microsecond
// precision) so that history order is predictable.
var clock atomic.Int64

func init() { clock.Store(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()) }

func tick() time.Time { return time.UnixMicro(clock.Add(1000)).UTC() }

func body(typ, id string, v int64, extra string) []byte {
	return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"}%s}`, typ, id, v, extra)
}

// change builds a Change for version v of typ/id (PrevVersion v-1).
func change(typ, id string, v int64, entries ...store.Entry) store.Change {
	method := "PUT"
	if v == 1 {
		method = "POST"
	}
	return store.Change{
		Type: typ, ID: id, VersionID: v, PrevVersion: v - 1, LastUpdated: tick(),
		Method: method, JSON: body(typ, id, v, ""), Entries: entries,
	}
}

func deletion(typ, id string, v int64) store.Change {
	return store.Change{Type: typ, ID: id, VersionID: v, PrevVersion: v - 1, LastUpdated: tick(), Method: "DELETE", Deleted: true}
}

func mustWrite(t testing.TB, s store.Store, changes ...store.Change) []store.Version {
	t.Helper()
	vs, err := s.Write(ctx, changes)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return vs
}

// put creates typ/id at version 1.
func put(t testing.TB, s store.Store, typ, id string, entries ...store.Entry) {
	t.Helper()
	mustWrite(t, s, change(typ, id, 1, entries...))
}

func tok(param, system, code string) store.Entry {
	return store.Entry{Param: param, Type: store.Token, System: system, Code: code}
}

func tokText(param, system, code, text string) store.Entry {
	return store.Entry{Param: param, Type: store.Token, System: system, Code: code, Text: text}
}

func str(param, norm, exact string) store.Entry {
	return store.Entry{Param: param, Type: store.String, Norm: norm, Exact: exact}
}

func date(param string, lo, hi time.Time) store.Entry {
	return store.Entry{Param: param, Type: store.Date, Low: lo, High: hi}
}

func ref(param, typ, id string) store.Entry {
	return store.Entry{Param: param, Type: store.Reference, RefType: typ, RefID: id}
}

func refIdent(param, typ, id, system, value string) store.Entry {
	return store.Entry{Param: param, Type: store.Reference, RefType: typ, RefID: id, System: system, Code: value}
}

func num(param string, v, lo, hi float64) store.Entry {
	return store.Entry{Param: param, Type: store.Number, Num: v, NumLow: lo, NumHigh: hi}
}

func qty(param string, v, lo, hi float64, system, code string) store.Entry {
	return store.Entry{Param: param, Type: store.Quantity, Num: v, NumLow: lo, NumHigh: hi, System: system, Code: code}
}

func uri(param, u string) store.Entry { return store.Entry{Param: param, Type: store.URI, Exact: u} }

// and builds a Where of one-condition clauses.
func and(conds ...store.Cond) []store.Clause {
	w := make([]store.Clause, len(conds))
	for i, c := range conds {
		w[i] = store.Clause{Any: []store.Cond{c}}
	}
	return w
}

func or(conds ...store.Cond) store.Clause { return store.Clause{Any: conds} }

func ptr[T any](v T) *T { return &v }

// search runs q (Count 1000 unless set) and returns "Type/id" of the page, in
// order.
func search(t testing.TB, s store.Store, q store.Query) []string {
	t.Helper()
	if q.Count == 0 {
		q.Count = 1000
	}
	res, err := s.Search(ctx, q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return refs(res.Versions)
}

func refs(vs []store.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Type + "/" + v.ID
	}
	return out
}

// sameSet reports whether got and want hold the same elements, any order.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func wantKind(t testing.TB, err error, k store.Kind) *store.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if got := store.KindOf(err); got != k {
		t.Fatalf("got error %v (kind %v), want kind %v", err, got, k)
	}
	return store.AsError(err)
}

// cases runs table-driven search cases: each query's result set against want.
type searchCase struct {
	name string
	q    store.Query
	want []string
}

func runCases(t *testing.T, s store.Store, cases []searchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := search(t, s, c.q); !sameSet(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// --- versions ---------------------------------------------------------------

func testCreateRead(t *testing.T, s store.Store) {
	c := change("Patient", "p1", 1)
	vs := mustWrite(t, s, c)
	if len(vs) != 1 || vs[0].VersionID != 1 || vs[0].Type != "Patient" || vs[0].ID != "p1" {
		t.Fatalf("Write returned %+v", vs)
	}
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got.VersionID != 1 || got.Deleted || got.Method != "POST" || string(got.JSON) != string(c.JSON) {
		t.Errorf("Read = %+v", got)
	}
	if !got.LastUpdated.Equal(c.LastUpdated) || got.LastUpdated.Location() != time.UTC {
		t.Errorf("LastUpdated = %v, want %v (UTC)", got.LastUpdated, c.LastUpdated)
	}
	_, err = s.Read(ctx, "Patient", "nope")
	wantKind(t, err, store.NotFound)
	_, err = s.Read(ctx, "Observation", "p1")
	wantKind(t, err, store.NotFound)

	// Microsecond precision is kept; finer is not required.
	lu := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 3600))
	c2 := change("Patient", "p2", 1)
	c2.LastUpdated = lu
	mustWrite(t, s, c2)
	got, err = s.Read(ctx, "Patient", "p2")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastUpdated.Equal(lu) {
		t.Errorf("LastUpdated = %v, want %v", got.LastUpdated, lu)
	}
}

func testJSONBytesKept(t *testing.T, s store.Store) {
	// Unusual but valid JSON: the store must never re-encode it.
	raw := []byte("{\"resourceType\":\"Patient\",  \"id\":\"u\",\n \"name\":[{\"text\":\"Zoë Ødegård 李小龍 🚑 \\u00e9\\n\"}],\"_birthDate\":{\"extension\":[]},\"weight\":1.50, \"big\":12345678901234567890}")
	c := change("Patient", "u", 1)
	c.JSON = raw
	mustWrite(t, s, c)
	got, err := s.Read(ctx, "Patient", "u")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JSON) != string(raw) {
		t.Errorf("Read JSON changed:\n got %q\nwant %q", got.JSON, raw)
	}
	v, err := s.VRead(ctx, "Patient", "u", 1)
	if err != nil || string(v.JSON) != string(raw) {
		t.Errorf("VRead JSON = %q, %v", v.JSON, err)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10})
	if err != nil || len(res.Versions) != 1 || string(res.Versions[0].JSON) != string(raw) {
		t.Errorf("Search JSON = %+v, %v", res, err)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "u", Count: 10})
	if err != nil || len(h.Versions) != 1 || string(h.Versions[0].JSON) != string(raw) {
		t.Errorf("History JSON = %+v, %v", h, err)
	}
}

func testUpdateVRead(t *testing.T, s store.Store) {
	put(t, s, "Patient", "p1")
	c2 := change("Patient", "p1", 2)
	c2.JSON = body("Patient", "p1", 2, `,"active":true`)
	mustWrite(t, s, c2)
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil || got.VersionID != 2 || string(got.JSON) != string(c2.JSON) || got.Method != "PUT" {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	v1, err := s.VRead(ctx, "Patient", "p1", 1)
	if err != nil || v1.VersionID != 1 || string(v1.JSON) != string(body("Patient", "p1", 1, "")) {
		t.Fatalf("VRead 1 = %+v, %v", v1, err)
	}
	_, err = s.VRead(ctx, "Patient", "p1", 3)
	wantKind(t, err, store.NotFound)
	_, err = s.VRead(ctx, "Patient", "zz", 1)
	wantKind(t, err, store.NotFound)
}

func testPrevVersionConflicts(t *testing.T, s store.Store) {
	put(t, s, "Patient", "p1")
	tests := []struct {
		name string
		c    store.Change
	}{
		{"create existing", change("Patient", "p1", 1)},
		{"stale version", func() store.Change { c := change("Patient", "p1", 3); c.PrevVersion = 2; return c }()},
		{"update missing", change("Patient", "p2", 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Write(ctx, []store.Change{tt.c})
			wantKind(t, err, store.Conflict)
		})
	}
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil || got.VersionID != 1 {
		t.Errorf("after conflicts Read = %+v, %v", got, err)
	}
	if _, err := s.Read(ctx, "Patient", "p2"); store.KindOf(err) != store.NotFound {
		t.Errorf("p2: %v, want NotFound", err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	active := tok("active", "", "true")
	put(t, s, "Patient", "p1", active)
	put(t, s, "Patient", "p2", active)
	mustWrite(t, s, deletion("Patient", "p1", 2))

	_, err := s.Read(ctx, "Patient", "p1")
	e := wantKind(t, err, store.Gone)
	if e == nil || e.Version == nil || e.Version.VersionID != 2 || !e.Version.Deleted || e.Version.JSON != nil {
		t.Fatalf("Gone error version = %+v", e)
	}
	if e.Version.Method != "DELETE" {
		t.Errorf("deletion method = %q", e.Version.Method)
	}
	dv, err := s.VRead(ctx, "Patient", "p1", 2)
	if err != nil || !dv.Deleted || dv.JSON != nil {
		t.Errorf("VRead deletion = %+v, %v", dv, err)
	}
	if v1, err := s.VRead(ctx, "Patient", "p1", 1); err != nil || v1.Deleted {
		t.Errorf("VRead 1 after delete = %+v, %v", v1, err)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "p1", Count: 10})
	if err != nil || h.Total != 2 || len(h.Versions) != 2 || !h.Versions[0].Deleted || h.Versions[1].VersionID != 1 {
		t.Errorf("History after delete = %+v, %v", h, err)
	}
	q := store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "active", Type: store.Token, Code: "true"})}
	if got := search(t, s, q); !sameSet(got, []string{"Patient/p2"}) {
		t.Errorf("search after delete = %v", got)
	}
	if got := search(t, s, store.Query{}); !sameSet(got, []string{"Patient/p2"}) {
		t.Errorf("system search after delete = %v", got)
	}

	// Deleting again needs the deleted version as PrevVersion.
	_, err = s.Write(ctx, []store.Change{deletion("Patient", "p1", 2)})
	wantKind(t, err, store.Conflict)
	// Re-create after delete: PrevVersion is the deletion's version.
	c := change("Patient", "p1", 3, active)
	if c.PrevVersion != 2 {
		t.Fatal("helper")
	}
	_, err = s.Write(ctx, []store.Change{func() store.Change { c := change("Patient", "p1", 1); return c }()})
	wantKind(t, err, store.Conflict) // PrevVersion 0 on a deleted resource
	mustWrite(t, s, c)
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil || got.VersionID != 3 {
		t.Errorf("Read after re-create = %+v, %v", got, err)
	}
	if got := search(t, s, q); !sameSet(got, []string{"Patient/p1", "Patient/p2"}) {
		t.Errorf("search after re-create = %v", got)
	}
}

func testAtomicWrite(t *testing.T, s store.Store) {
	put(t, s, "Patient", "exists")
	good := change("Patient", "a", 1, tok("active", "", "true"))
	bad := change("Patient", "exists", 1) // conflicts
	_, err := s.Write(ctx, []store.Change{good, bad})
	wantKind(t, err, store.Conflict)
	if _, err := s.Read(ctx, "Patient", "a"); store.KindOf(err) != store.NotFound {
		t.Errorf("first change of a failed write is visible: %v", err)
	}
	if got := search(t, s, store.Query{Where: and(store.Cond{Param: "active", Type: store.Token, Code: "true"})}); len(got) != 0 {
		t.Errorf("index entries of a failed write are visible: %v", got)
	}
	// A good multi-change write returns versions in order.
	vs := mustWrite(t, s, change("Patient", "b", 1), change("Observation", "o", 1, ref("subject", "Patient", "b")), change("Patient", "exists", 2))
	if got := refs(vs); !slices.Equal(got, []string{"Patient/b", "Observation/o", "Patient/exists"}) || vs[2].VersionID != 2 {
		t.Errorf("Write returned %v", vs)
	}
}

func testInvalidWrites(t *testing.T, s store.Store) {
	tests := []struct {
		name    string
		changes []store.Change
	}{
		{"duplicate", []store.Change{change("Patient", "d", 1), change("Patient", "d", 2)}},
		{"no id", []store.Change{change("Patient", "", 1)}},
		{"no type", []store.Change{change("", "x", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Write(ctx, tt.changes)
			wantKind(t, err, store.Invalid)
		})
	}
	if _, err := s.Read(ctx, "Patient", "d"); store.KindOf(err) != store.NotFound {
		t.Errorf("duplicate write stored something: %v", err)
	}
}

func testConditionalCreateConcurrent(t *testing.T, s store.Store) {
	const n = 50
	ident := tok("identifier", "https://fhir.nhs.uk/Id/nhs-number", "9000000009")
	cond := &store.Query{Types: []string{"Patient"}, Where: and(store.Cond{
		Param: "identifier", Type: store.Token, System: "https://fhir.nhs.uk/Id/nhs-number", SystemSet: true, Code: "9000000009"})}
	var wg sync.WaitGroup
	var ok, conflicts atomic.Int32
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := change("Patient", "c"+strconv.Itoa(i), 1, ident)
			c.IfNoneMatch = cond
			<-start
			_, err := s.Write(ctx, []store.Change{c})
			switch e := store.AsError(err); {
			case err == nil:
				ok.Add(1)
			case e != nil && e.Kind == store.Conflict && len(e.Matches) == 1 && e.Matches[0].Type == "Patient":
				conflicts.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected result: %v", err)
	}
	if ok.Load() != 1 || conflicts.Load() != n-1 {
		t.Errorf("stored %d, conflicts %d; want 1 and %d", ok.Load(), conflicts.Load(), n-1)
	}
	if got := search(t, s, *cond); len(got) != 1 {
		t.Errorf("matching resources = %v, want exactly one", got)
	}
}

func testConditionalCreateSameWrite(t *testing.T, s store.Store) {
	// A condition sees earlier changes of the same Write.
	ident := tok("identifier", "sys", "1")
	cond := &store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "identifier", Type: store.Token, System: "sys", SystemSet: true, Code: "1"})}
	a := change("Patient", "a", 1, ident)
	b := change("Patient", "b", 1, ident)
	b.IfNoneMatch = cond
	_, err := s.Write(ctx, []store.Change{a, b})
	e := wantKind(t, err, store.Conflict)
	if len(e.Matches) != 1 || e.Matches[0] != (store.Ref{Type: "Patient", ID: "a"}) {
		t.Errorf("Matches = %v", e.Matches)
	}
	// No match: written.
	c := change("Patient", "c", 1, ident)
	c.IfNoneMatch = cond
	mustWrite(t, s, c)
	d := change("Patient", "d", 1, ident)
	d.IfNoneMatch = cond
	_, err = s.Write(ctx, []store.Change{d})
	if e := wantKind(t, err, store.Conflict); len(e.Matches) != 1 || e.Matches[0].ID != "c" {
		t.Errorf("Matches = %v", e.Matches)
	}
}

// --- history ----------------------------------------------------------------

func testHistory(t *testing.T, s store.Store) {
	put(t, s, "Patient", "a")                            // a1
	put(t, s, "Observation", "o")                        // o1
	mustWrite(t, s, change("Patient", "a", 2))           // a2
	put(t, s, "Patient", "b")                            // b1
	mustWrite(t, s, deletion("Patient", "a", 3))         // a3
	since := tick()                                      // between a3 and o2
	mustWrite(t, s, change("Observation", "o", 2))       // o2
	hist := func(q store.HistoryQuery) ([]string, int) { // all pages
		t.Helper()
		var out []string
		total := -1
		for range 100 {
			p, err := s.History(ctx, q)
			if err != nil {
				t.Fatalf("History(%+v): %v", q, err)
			}
			if total >= 0 && p.Total != total {
				t.Errorf("Total changed between pages: %d then %d", total, p.Total)
			}
			total = p.Total
			for _, v := range p.Versions {
				out = append(out, v.Type+"/"+v.ID+"/"+strconv.FormatInt(v.VersionID, 10))
			}
			if p.Next == "" {
				return out, total
			}
			q.Cursor = p.Next
		}
		t.Fatal("history does not end")
		return nil, 0
	}
	tests := []struct {
		name string
		q    store.HistoryQuery
		want []string
	}{
		{"instance", store.HistoryQuery{Type: "Patient", ID: "a", Count: 10}, []string{"Patient/a/3", "Patient/a/2", "Patient/a/1"}},
		{"instance paged", store.HistoryQuery{Type: "Patient", ID: "a", Count: 1}, []string{"Patient/a/3", "Patient/a/2", "Patient/a/1"}},
		{"type", store.HistoryQuery{Type: "Patient", Count: 2}, []string{"Patient/a/3", "Patient/b/1", "Patient/a/2", "Patient/a/1"}},
		{"system", store.HistoryQuery{Count: 4}, []string{"Observation/o/2", "Patient/a/3", "Patient/b/1", "Patient/a/2", "Observation/o/1", "Patient/a/1"}},
		{"system since", store.HistoryQuery{Since: since, Count: 4}, []string{"Observation/o/2"}},
		{"type since", store.HistoryQuery{Type: "Patient", Since: since, Count: 4}, nil},
		{"none", store.HistoryQuery{Type: "Patient", ID: "zz", Count: 4}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := hist(tt.q)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if total != len(tt.want) {
				t.Errorf("Total = %d, want %d", total, len(tt.want))
			}
		})
	}
	p, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "a", Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Versions[0]; !v.Deleted || v.JSON != nil || v.Method != "DELETE" {
		t.Errorf("deletion in history = %+v", v)
	}
	if v := p.Versions[2]; v.Method != "POST" || v.JSON == nil {
		t.Errorf("first version in history = %+v", v)
	}
	_, err = s.History(ctx, store.HistoryQuery{Count: 2, Cursor: "!!not a cursor"})
	wantKind(t, err, store.Invalid)
}

func testHistoryPagingWhileWriting(t *testing.T, s store.Store) {
	for i := range 20 {
		put(t, s, "Patient", fmt.Sprintf("p%02d", i))
	}
	q := store.HistoryQuery{Type: "Patient", Count: 3}
	var seen []string
	for page := 0; ; page++ {
		p, err := s.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Versions {
			seen = append(seen, v.ID+"/"+strconv.FormatInt(v.VersionID, 10))
		}
		// Writes between pages: new versions and new resources are newer
		// than the cursor, so they neither shift nor repeat older pages.
		mustWrite(t, s, change("Patient", fmt.Sprintf("p%02d", page), 2), change("Patient", fmt.Sprintf("new%02d", page), 1))
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	var want []string
	for i := 19; i >= 0; i-- {
		want = append(want, fmt.Sprintf("p%02d/1", i))
	}
	if !slices.Equal(seen, want) {
		t.Errorf("paged history while writing:\n got %v\nwant %v", seen, want)
	}
}

// --- search: parameter types ------------------------------------------------

func testToken(t *testing.T, s store.Store) {
	put(t, s, "Observation", "a", tokText("code", "http://loinc.org", "1234-5", "Body Weight"), tok("status", "", "final"))
	put(t, s, "Observation", "b", tokText("code", "http://snomed.info/sct", "1234-5", "Heart rate measured"), tok("status", "", "amended"))
	put(t, s, "Observation", "c", tok("code", "", "1234-5"), tok("code", "http://loinc.org", "999"))
	put(t, s, "Observation", "d") // no code at all
	obs := []string{"Observation"}
	code := func(c store.Cond) store.Query {
		c.Param, c.Type = "code", store.Token
		return store.Query{Types: obs, Where: and(c)}
	}
	runCases(t, s, []searchCase{
		{"code any system", code(store.Cond{Code: "1234-5"}), []string{"Observation/a", "Observation/b", "Observation/c"}},
		{"system|code", code(store.Cond{System: "http://loinc.org", SystemSet: true, Code: "1234-5"}), []string{"Observation/a"}},
		{"|code", code(store.Cond{SystemSet: true, Code: "1234-5"}), []string{"Observation/c"}},
		{"system|", code(store.Cond{System: "http://loinc.org", SystemSet: true}), []string{"Observation/a", "Observation/c"}},
		{"no match", code(store.Cond{Code: "nope"}), nil},
		{":text word prefix", code(store.Cond{TextMatch: "weig"}), []string{"Observation/a"}},
		{":text second word", code(store.Cond{TextMatch: "rate"}), []string{"Observation/b"}},
		{":text case", code(store.Cond{TextMatch: "HEART"}), []string{"Observation/b"}},
		{":text not mid-word", code(store.Cond{TextMatch: "eight"}), nil},
		{":not", code(store.Cond{Code: "1234-5", System: "http://loinc.org", SystemSet: true, Not: true}), []string{"Observation/b", "Observation/c", "Observation/d"}},
		{":not any system", code(store.Cond{Code: "1234-5", Not: true}), []string{"Observation/d"}},
		{"status :not final", store.Query{Types: obs, Where: and(store.Cond{Param: "status", Type: store.Token, Code: "final", Not: true})},
			[]string{"Observation/b", "Observation/c", "Observation/d"}},
		{"wrong type", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "code", Type: store.Token, Code: "1234-5"})}, nil},
		{"and", store.Query{Types: obs, Where: and(store.Cond{Param: "code", Type: store.Token, Code: "1234-5"}, store.Cond{Param: "status", Type: store.Token, Code: "amended"})}, []string{"Observation/b"}},
		{"escape like", code(store.Cond{TextMatch: "%"}), nil},
	})
}

func testString(t *testing.T, s store.Store) {
	put(t, s, "Patient", "a", str("name", "eve", "Eve"), str("name", "smith", "Smith"))
	put(t, s, "Patient", "b", str("name", "evelyn", "Evelyn"), str("name", "jones", "Jones"))
	put(t, s, "Patient", "c", str("name", "zoe", "Zoë"), str("name", "o'brien-smithers", "O'Brien-Smithers"))
	put(t, s, "Patient", "d", str("name", "50%_off", "50%_off"))
	name := func(v string, m store.StringMatch) store.Query {
		return store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "name", Type: store.String, Value: v, StringMatch: m})}
	}
	runCases(t, s, []searchCase{
		{"prefix", name("eve", store.StringPrefix), []string{"Patient/a", "Patient/b"}},
		{"prefix longer", name("evel", store.StringPrefix), []string{"Patient/b"}},
		{"prefix whole", name("smith", store.StringPrefix), []string{"Patient/a"}},
		{"prefix none", name("x", store.StringPrefix), nil},
		{"exact", name("Eve", store.StringExact), []string{"Patient/a"}},
		{"exact case", name("eve", store.StringExact), nil},
		{"exact unicode", name("Zoë", store.StringExact), []string{"Patient/c"}},
		{"exact not prefix", name("Ev", store.StringExact), nil},
		{"contains", name("mith", store.StringContains), []string{"Patient/a", "Patient/c"}},
		{"contains wildcard literal", name("%_", store.StringContains), []string{"Patient/d"}},
		{"contains underscore literal", name("o_b", store.StringContains), nil},
		{"not", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "name", Type: store.String, Value: "eve", Not: true})}, []string{"Patient/c", "Patient/d"}},
	})
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func testDate(t *testing.T, s store.Store) {
	// Stored values at different precisions (R4 search.html#date):
	put(t, s, "Observation", "day", date("date", day(2024, 3, 15), day(2024, 3, 16))) // 2024-03-15
	put(t, s, "Observation", "month", date("date", day(2024, 3, 1), day(2024, 4, 1))) // 2024-03
	put(t, s, "Observation", "instant", date("date", time.Date(2024, 3, 31, 23, 30, 0, 0, time.UTC), time.Date(2024, 3, 31, 23, 30, 0, 1000, time.UTC)))
	put(t, s, "Observation", "open", date("date", day(2024, 3, 20), store.MaxTime))    // period with start only
	put(t, s, "Observation", "before", date("date", store.MinTime, day(2024, 3, 10)))  // period with end only
	put(t, s, "Observation", "feb", date("date", day(2024, 2, 1), day(2024, 3, 1)))    // 2024-02
	put(t, s, "Observation", "span", date("date", day(2024, 2, 15), day(2024, 4, 15))) // Feb 15 – Apr 14
	put(t, s, "Observation", "none")
	march := func(p store.Prefix) store.Query { // searched value 2024-03: [Mar 1, Apr 1)
		return store.Query{Types: []string{"Observation"}, Where: and(store.Cond{Param: "date", Type: store.Date, Prefix: p, Low: day(2024, 3, 1), High: day(2024, 4, 1)})}
	}
	day15 := func(p store.Prefix) store.Query { // searched value 2024-03-15
		return store.Query{Types: []string{"Observation"}, Where: and(store.Cond{Param: "date", Type: store.Date, Prefix: p, Low: day(2024, 3, 15), High: day(2024, 3, 16)})}
	}
	o := func(ids ...string) []string {
		for i := range ids {
			ids[i] = "Observation/" + ids[i]
		}
		return ids
	}
	runCases(t, s, []searchCase{
		{"eq month contains day", march(store.Eq), o("day", "month", "instant")},
		{"ne month", march(store.Ne), o("open", "before", "feb", "span")},
		{"gt month", march(store.Gt), o("open", "span")},
		{"lt month", march(store.Lt), o("before", "feb", "span")},
		{"ge month", march(store.Ge), o("day", "month", "instant", "open", "span")},
		{"le month", march(store.Le), o("day", "month", "instant", "before", "feb", "span")},
		{"sa month", march(store.Sa), nil},
		{"eb month", march(store.Eb), o("feb")}, // "before" ends on Mar 10
		{"ap month", march(store.Ap), o("day", "month", "instant", "open", "before", "span")},
		{"eq day: month is wider", day15(store.Eq), o("day")},
		{"gt day", day15(store.Gt), o("month", "instant", "open", "span")},
		{"sa day", day15(store.Sa), o("instant", "open")},
		{"eb day", day15(store.Eb), o("before", "feb")},
		{"lt day", day15(store.Lt), o("month", "before", "feb", "span")},
		{"ap day", day15(store.Ap), o("day", "month", "span")},
		{"not eq month", store.Query{Types: []string{"Observation"}, Where: and(store.Cond{Param: "date", Type: store.Date, Low: day(2024, 3, 1), High: day(2024, 4, 1), Not: true})},
			o("open", "before", "feb", "span", "none")},
	})
}

func testNumberQuantity(t *testing.T, s store.Store) {
	put(t, s, "RiskAssessment", "p100", num("probability", 100, 99.5, 100.5))     // "100"
	put(t, s, "RiskAssessment", "p100.0", num("probability", 100, 99.95, 100.05)) // "100.0"
	put(t, s, "RiskAssessment", "p5", num("probability", 5, 4.5, 5.5))
	put(t, s, "RiskAssessment", "p-1", num("probability", -1, -1.5, -0.5))
	put(t, s, "Observation", "w70kg", qty("value-quantity", 70, 69.5, 70.5, "http://unitsofmeasure.org", "kg"))
	put(t, s, "Observation", "w70lb", qty("value-quantity", 70, 69.5, 70.5, "http://unitsofmeasure.org", "[lb_av]"))
	put(t, s, "Observation", "w80kg", qty("value-quantity", 80, 79.5, 80.5, "http://unitsofmeasure.org", "kg"))
	n := func(p store.Prefix, lo, hi float64) store.Query {
		return store.Query{Types: []string{"RiskAssessment"}, Where: and(store.Cond{Param: "probability", Type: store.Number, Prefix: p, NumLow: lo, NumHigh: hi})}
	}
	qy := func(p store.Prefix, lo, hi float64, system, code string) store.Query {
		return store.Query{Types: []string{"Observation"}, Where: and(store.Cond{Param: "value-quantity", Type: store.Quantity, Prefix: p, NumLow: lo, NumHigh: hi, System: system, Code: code})}
	}
	runCases(t, s, []searchCase{
		{"eq 100", n(store.Eq, 99.5, 100.5), []string{"RiskAssessment/p100", "RiskAssessment/p100.0"}},
		{"eq 100.0", n(store.Eq, 99.95, 100.05), []string{"RiskAssessment/p100.0"}},
		{"gt 5", n(store.Gt, 4.5, 5.5), []string{"RiskAssessment/p100", "RiskAssessment/p100.0"}},
		{"lt 5", n(store.Lt, 4.5, 5.5), []string{"RiskAssessment/p-1"}},
		{"ge 5", n(store.Ge, 4.5, 5.5), []string{"RiskAssessment/p100", "RiskAssessment/p100.0", "RiskAssessment/p5"}},
		{"le 5", n(store.Le, 4.5, 5.5), []string{"RiskAssessment/p-1", "RiskAssessment/p5"}},
		{"ne 5", n(store.Ne, 4.5, 5.5), []string{"RiskAssessment/p100", "RiskAssessment/p100.0", "RiskAssessment/p-1"}},
		{"sa 5", n(store.Sa, 4.5, 5.5), []string{"RiskAssessment/p100", "RiskAssessment/p100.0"}},
		{"eb 5", n(store.Eb, 4.5, 5.5), []string{"RiskAssessment/p-1"}},
		{"ap 100 widened", n(store.Ap, 90, 110), []string{"RiskAssessment/p100", "RiskAssessment/p100.0"}},
		{"qty kg", qy(store.Eq, 69.5, 70.5, "http://unitsofmeasure.org", "kg"), []string{"Observation/w70kg"}},
		{"qty code only", qy(store.Eq, 69.5, 70.5, "", "[lb_av]"), []string{"Observation/w70lb"}},
		{"qty any unit", qy(store.Eq, 69.5, 70.5, "", ""), []string{"Observation/w70kg", "Observation/w70lb"}},
		{"qty gt kg", qy(store.Gt, 69.5, 70.5, "http://unitsofmeasure.org", "kg"), []string{"Observation/w80kg"}},
	})
}

const nhs = "https://fhir.nhs.uk/Id/nhs-number"

func testReference(t *testing.T, s store.Store) {
	put(t, s, "CarePlan", "cp1", refIdent("subject", "Patient", "p1", nhs, "9000000009"), tok("status", "http://hl7.org/fhir/request-status", "active"))
	put(t, s, "CarePlan", "cp2", refIdent("subject", "Patient", "p1", nhs, "9000000009"), tok("status", "http://hl7.org/fhir/request-status", "revoked"))
	put(t, s, "CarePlan", "cp3", refIdent("subject", "Patient", "p2", nhs, "9000000017"), tok("status", "http://hl7.org/fhir/request-status", "active"))
	put(t, s, "CarePlan", "cp4", ref("subject", "Group", "p1"), tok("status", "http://hl7.org/fhir/request-status", "active"))
	put(t, s, "CarePlan", "cp5", store.Entry{Param: "instantiates-canonical", Type: store.Reference, URL: "https://example.org/fhir/PlanDefinition/eol"})
	// Other types referring to the same patient by the same parameter: a
	// search of one type must not find them, one of several or of every
	// type must.
	put(t, s, "Goal", "g1", refIdent("subject", "Patient", "p1", nhs, "9000000009"))
	put(t, s, "Condition", "c1", ref("subject", "Patient", "p1"))
	cp := []string{"CarePlan"}
	subj := func(c store.Cond) store.Cond { c.Param, c.Type = "subject", store.Reference; return c }
	active := store.Cond{Param: "status", Type: store.Token, Code: "active"}
	runCases(t, s, []searchCase{
		{"type/id", store.Query{Types: cp, Where: and(subj(store.Cond{RefType: "Patient", RefID: "p1"}))}, []string{"CarePlan/cp1", "CarePlan/cp2"}},
		{"id only", store.Query{Types: cp, Where: and(subj(store.Cond{RefID: "p1"}))}, []string{"CarePlan/cp1", "CarePlan/cp2", "CarePlan/cp4"}},
		{"type/id over two types", store.Query{Types: []string{"Goal", "Condition"}, Where: and(subj(store.Cond{RefType: "Patient", RefID: "p1"}))}, []string{"Goal/g1", "Condition/c1"}},
		{"type/id over every type", store.Query{Where: and(subj(store.Cond{RefType: "Patient", RefID: "p1"}))}, []string{"CarePlan/cp1", "CarePlan/cp2", "Goal/g1", "Condition/c1"}},
		{":identifier of another type", store.Query{Types: []string{"Goal"}, Where: and(subj(store.Cond{Identifier: true, System: nhs, SystemSet: true, Code: "9000000009"}))}, []string{"Goal/g1"}},
		{":identifier system only", store.Query{Types: cp, Where: and(subj(store.Cond{Identifier: true, System: nhs, SystemSet: true}))}, []string{"CarePlan/cp1", "CarePlan/cp2", "CarePlan/cp3"}},
		{"url", store.Query{Types: cp, Where: and(store.Cond{Param: "instantiates-canonical", Type: store.Reference, URL: "https://example.org/fhir/PlanDefinition/eol"})}, []string{"CarePlan/cp5"}},
		{":identifier", store.Query{Types: cp, Where: and(subj(store.Cond{Identifier: true, System: nhs, SystemSet: true, Code: "9000000009"}))}, []string{"CarePlan/cp1", "CarePlan/cp2"}},
		{":identifier code only", store.Query{Types: cp, Where: and(subj(store.Cond{Identifier: true, Code: "9000000017"}))}, []string{"CarePlan/cp3"}},
		{"hot query", store.Query{Types: cp, Where: and(subj(store.Cond{Identifier: true, System: nhs, SystemSet: true, Code: "9000000009"}), active)}, []string{"CarePlan/cp1"}},
		{"hot query other patient", store.Query{Types: cp, Where: and(active, subj(store.Cond{Identifier: true, System: nhs, SystemSet: true, Code: "9000000017"}))}, []string{"CarePlan/cp3"}},
		{"not", store.Query{Types: cp, Where: and(subj(store.Cond{RefType: "Patient", RefID: "p1", Not: true}))}, []string{"CarePlan/cp3", "CarePlan/cp4", "CarePlan/cp5"}},
	})
}

func testURI(t *testing.T, s store.Store) {
	put(t, s, "ValueSet", "root", uri("url", "http://acme.org/fhir"))
	put(t, s, "ValueSet", "vs", uri("url", "http://acme.org/fhir/ValueSet/123"))
	put(t, s, "ValueSet", "vs2", uri("url", "http://acme.org/fhir/ValueSet/1234"))
	put(t, s, "ValueSet", "other", uri("url", "urn:oid:1.2.3"))
	u := func(v string, m store.URIMatch) store.Query {
		return store.Query{Types: []string{"ValueSet"}, Where: and(store.Cond{Param: "url", Type: store.URI, Value: v, URIMatch: m})}
	}
	runCases(t, s, []searchCase{
		{"exact", u("http://acme.org/fhir/ValueSet/123", store.URIExact), []string{"ValueSet/vs"}},
		{"exact no prefix", u("http://acme.org/fhir/ValueSet", store.URIExact), nil},
		{"below", u("http://acme.org/fhir/ValueSet", store.URIBelow), []string{"ValueSet/vs", "ValueSet/vs2"}},
		{"below root", u("http://acme.org/fhir", store.URIBelow), []string{"ValueSet/root", "ValueSet/vs", "ValueSet/vs2"}},
		{"above", u("http://acme.org/fhir/ValueSet/123/_history/5", store.URIAbove), []string{"ValueSet/root", "ValueSet/vs"}},
		{"above exact", u("urn:oid:1.2.3", store.URIAbove), []string{"ValueSet/other"}},
	})
}

func testIDLastUpdated(t *testing.T, s store.Store) {
	c1 := change("Patient", "a", 1)
	c1.LastUpdated = time.Date(2024, 3, 15, 10, 0, 0, 0, time.UTC)
	c2 := change("Patient", "b", 1)
	c2.LastUpdated = time.Date(2024, 3, 16, 10, 0, 0, 0, time.UTC)
	c3 := change("Observation", "a", 1)
	c3.LastUpdated = time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	mustWrite(t, s, c1, c2, c3)
	lu := func(p store.Prefix, lo, hi time.Time) store.Query {
		return store.Query{Where: and(store.Cond{Param: "_lastUpdated", Type: store.Date, Prefix: p, Low: lo, High: hi})}
	}
	runCases(t, s, []searchCase{
		{"_id", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "_id", Type: store.Token, Code: "a"})}, []string{"Patient/a"}},
		{"_id system", store.Query{Where: and(store.Cond{Param: "_id", Type: store.Token, Code: "a"})}, []string{"Patient/a", "Observation/a"}},
		{"_id or", store.Query{Types: []string{"Patient"}, Where: []store.Clause{or(store.Cond{Param: "_id", Type: store.Token, Code: "a"}, store.Cond{Param: "_id", Type: store.Token, Code: "b"})}}, []string{"Patient/a", "Patient/b"}},
		{"_id not", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "_id", Type: store.Token, Code: "a", Not: true})}, []string{"Patient/b"}},
		{"lu eq day", lu(store.Eq, day(2024, 3, 15), day(2024, 3, 16)), []string{"Patient/a"}},
		{"lu eq month", lu(store.Eq, day(2024, 3, 1), day(2024, 4, 1)), []string{"Patient/a", "Patient/b"}},
		{"lu gt day", lu(store.Gt, day(2024, 3, 15), day(2024, 3, 16)), []string{"Patient/b", "Observation/a"}},
		{"lu ge day", lu(store.Ge, day(2024, 3, 16), day(2024, 3, 17)), []string{"Patient/b", "Observation/a"}},
		{"lu lt day", lu(store.Lt, day(2024, 3, 16), day(2024, 3, 17)), []string{"Patient/a"}},
		{"lu le day", lu(store.Le, day(2024, 3, 16), day(2024, 3, 17)), []string{"Patient/a", "Patient/b"}},
		{"lu ne month", lu(store.Ne, day(2024, 3, 1), day(2024, 4, 1)), []string{"Observation/a"}},
		{"lu sa", lu(store.Sa, day(2024, 3, 15), day(2024, 3, 16)), []string{"Patient/b", "Observation/a"}},
		{"lu eb", lu(store.Eb, day(2024, 3, 16), day(2024, 3, 17)), []string{"Patient/a"}},
		{"lu typed", store.Query{Types: []string{"Patient"}, Where: lu(store.Gt, day(2024, 3, 15), day(2024, 3, 16)).Where}, []string{"Patient/b"}},
	})
}

func testMissing(t *testing.T, s store.Store) {
	put(t, s, "Patient", "with", date("birthdate", day(1950, 1, 1), day(1950, 1, 2)), tok("gender", "", "female"))
	put(t, s, "Patient", "without", tok("gender", "", "male"))
	put(t, s, "Patient", "nothing")
	m := func(param string, typ store.ParamType, missing bool) store.Query {
		return store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: param, Type: typ, Missing: ptr(missing)})}
	}
	runCases(t, s, []searchCase{
		{"date missing true", m("birthdate", store.Date, true), []string{"Patient/without", "Patient/nothing"}},
		{"date missing false", m("birthdate", store.Date, false), []string{"Patient/with"}},
		{"token missing true", m("gender", store.Token, true), []string{"Patient/nothing"}},
		{"token missing false", m("gender", store.Token, false), []string{"Patient/with", "Patient/without"}},
		{"unknown param missing true", m("deceased", store.Token, true), []string{"Patient/with", "Patient/without", "Patient/nothing"}},
		{"unknown param missing false", m("deceased", store.Token, false), nil},
		{"_id missing false", m("_id", store.Token, false), []string{"Patient/with", "Patient/without", "Patient/nothing"}},
		{"missing and value", store.Query{Types: []string{"Patient"}, Where: and(
			store.Cond{Param: "birthdate", Type: store.Date, Missing: ptr(true)},
			store.Cond{Param: "gender", Type: store.Token, Code: "male"})}, []string{"Patient/without"}},
	})
}

func testIndexReplacedOnUpdate(t *testing.T, s store.Store) {
	put(t, s, "Patient", "a", tok("gender", "", "female"), str("name", "ann", "Ann"))
	put(t, s, "Patient", "b", tok("gender", "", "male"))
	mustWrite(t, s, change("Patient", "a", 2, tok("gender", "", "male")))
	g := func(code string) store.Query {
		return store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "gender", Type: store.Token, Code: code})}
	}
	runCases(t, s, []searchCase{
		{"old value gone", g("female"), nil},
		{"new value", g("male"), []string{"Patient/a", "Patient/b"}},
		{"dropped param gone", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "name", Type: store.String, Value: "ann"})}, nil},
		{"dropped param missing", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "name", Type: store.String, Missing: ptr(true)})}, []string{"Patient/a", "Patient/b"}},
	})
	mustWrite(t, s, deletion("Patient", "b", 2))
	if got := search(t, s, g("male")); !sameSet(got, []string{"Patient/a"}) {
		t.Errorf("after delete: %v", got)
	}
	if got := search(t, s, store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "gender", Type: store.Token, Missing: ptr(true)})}); len(got) != 0 {
		t.Errorf("deleted resource matches :missing: %v", got)
	}
}

// --- search: chains, _has, combinations ----------------------------------------

func testChain(t *testing.T, s store.Store) {
	put(t, s, "Organization", "acme", str("name", "acme health", "Acme Health"))
	put(t, s, "Organization", "other", str("name", "other trust", "Other Trust"))
	put(t, s, "Patient", "p1", tok("identifier", nhs, "9000000009"), ref("organization", "Organization", "acme"))
	put(t, s, "Patient", "p2", tok("identifier", nhs, "9000000017"), ref("organization", "Organization", "other"))
	put(t, s, "Group", "p1", tok("identifier", nhs, "9000000009")) // same id, other type
	put(t, s, "CarePlan", "cp1", ref("subject", "Patient", "p1"), tok("status", "", "active"))
	put(t, s, "CarePlan", "cp2", ref("subject", "Patient", "p2"), tok("status", "", "active"))
	put(t, s, "CarePlan", "cp3", ref("subject", "Group", "p1"), tok("status", "", "active"))
	put(t, s, "CarePlan", "cp4", ref("subject", "Patient", "p1"), tok("status", "", "draft"))
	put(t, s, "Patient", "gone", tok("identifier", nhs, "9000000025"))
	mustWrite(t, s, deletion("Patient", "gone", 2))
	put(t, s, "CarePlan", "cp5", ref("subject", "Patient", "gone"))

	byNHS := func(n string) []store.Clause {
		return and(store.Cond{Param: "identifier", Type: store.Token, System: nhs, SystemSet: true, Code: n})
	}
	subjectPatient := func(where []store.Clause) store.Cond {
		return store.Cond{Param: "subject", Type: store.Reference, Chain: &store.Chain{Type: "Patient", Where: where}}
	}
	cp := []string{"CarePlan"}
	runCases(t, s, []searchCase{
		{"subject:Patient.identifier", store.Query{Types: cp, Where: and(subjectPatient(byNHS("9000000009")))}, []string{"CarePlan/cp1", "CarePlan/cp4"}},
		{"chain and status", store.Query{Types: cp, Where: and(subjectPatient(byNHS("9000000009")), store.Cond{Param: "status", Type: store.Token, Code: "active"})}, []string{"CarePlan/cp1"}},
		{"chain to deleted", store.Query{Types: cp, Where: and(subjectPatient(byNHS("9000000025")))}, nil},
		{"two deep", store.Query{Types: cp, Where: and(subjectPatient(and(store.Cond{Param: "organization", Type: store.Reference,
			Chain: &store.Chain{Type: "Organization", Where: and(store.Cond{Param: "name", Type: store.String, Value: "acme"})}})))},
			[]string{"CarePlan/cp1", "CarePlan/cp4"}},
		{"two deep or", store.Query{Types: cp, Where: and(subjectPatient(and(store.Cond{Param: "organization", Type: store.Reference,
			Chain: &store.Chain{Type: "Organization", Where: []store.Clause{or(
				store.Cond{Param: "name", Type: store.String, Value: "acme"},
				store.Cond{Param: "name", Type: store.String, Value: "other"})}}})))},
			[]string{"CarePlan/cp1", "CarePlan/cp2", "CarePlan/cp4"}},
		{"chain not", store.Query{Types: cp, Where: and(store.Cond{Param: "subject", Type: store.Reference, Not: true,
			Chain: &store.Chain{Type: "Patient", Where: byNHS("9000000009")}})}, []string{"CarePlan/cp2", "CarePlan/cp3", "CarePlan/cp5"}},
	})
}

func testHas(t *testing.T, s store.Store) {
	put(t, s, "Patient", "p1")
	put(t, s, "Patient", "p2")
	put(t, s, "Patient", "p3")
	put(t, s, "Encounter", "e1", ref("subject", "Patient", "p1"), tok("class", "", "EMER"))
	put(t, s, "Observation", "o1", ref("subject", "Patient", "p1"), tok("code", "http://loinc.org", "1234-5"), ref("encounter", "Encounter", "e1"))
	put(t, s, "Observation", "o2", ref("subject", "Patient", "p2"), tok("code", "http://loinc.org", "999"))
	put(t, s, "Observation", "o3", ref("subject", "Patient", "p3"), tok("code", "http://loinc.org", "1234-5"))
	mustWrite(t, s, deletion("Observation", "o3", 2))
	pt := []string{"Patient"}
	hasObs := func(where []store.Clause) store.Cond {
		return store.Cond{Param: "_has", Type: store.Special, Has: &store.Has{Type: "Observation", Param: "subject", Where: where}}
	}
	code := store.Cond{Param: "code", Type: store.Token, Code: "1234-5"}
	runCases(t, s, []searchCase{
		{"_has code", store.Query{Types: pt, Where: and(hasObs(and(code)))}, []string{"Patient/p1"}},
		{"_has any", store.Query{Types: pt, Where: and(hasObs(and(store.Cond{Param: "code", Type: store.Token, SystemSet: true, System: "http://loinc.org"})))}, []string{"Patient/p1", "Patient/p2"}},
		{"_has nested", store.Query{Types: pt, Where: and(hasObs(and(store.Cond{Param: "_has", Type: store.Special,
			Has: &store.Has{Type: "Encounter", Param: "subject", Where: and(store.Cond{Param: "class", Type: store.Token, Code: "EMER"})}})))}, nil},
		{"_has with chain inside", store.Query{Types: pt, Where: and(hasObs(and(store.Cond{Param: "encounter", Type: store.Reference,
			Chain: &store.Chain{Type: "Encounter", Where: and(store.Cond{Param: "class", Type: store.Token, Code: "EMER"})}})))}, []string{"Patient/p1"}},
		{"_has and other", store.Query{Types: pt, Where: and(hasObs(and(store.Cond{Param: "code", Type: store.Token, Code: "999"})), store.Cond{Param: "_id", Type: store.Token, Code: "p2"})}, []string{"Patient/p2"}},
		{"_has not", store.Query{Types: pt, Where: and(func() store.Cond { c := hasObs(and(code)); c.Not = true; return c }())}, []string{"Patient/p2", "Patient/p3"}},
	})
	// Nested _has: Encounters that have an Observation (via encounter)
	// whose subject has an Encounter of class EMER.
	q := store.Query{Types: []string{"Encounter"}, Where: and(store.Cond{Param: "_has", Type: store.Special, Has: &store.Has{Type: "Observation", Param: "encounter",
		Where: and(store.Cond{Param: "subject", Type: store.Reference, Chain: &store.Chain{Type: "Patient", Where: and(store.Cond{Param: "_has", Type: store.Special,
			Has: &store.Has{Type: "Encounter", Param: "subject", Where: and(store.Cond{Param: "class", Type: store.Token, Code: "EMER"})}})}})}})}
	if got := search(t, s, q); !sameSet(got, []string{"Encounter/e1"}) {
		t.Errorf("nested _has in chain: %v", got)
	}
}

func testOrAndTypes(t *testing.T, s store.Store) {
	put(t, s, "Patient", "a", tok("gender", "", "female"), tok("active", "", "true"))
	put(t, s, "Patient", "b", tok("gender", "", "male"), tok("active", "", "true"))
	put(t, s, "Patient", "c", tok("gender", "", "other"), tok("active", "", "false"))
	put(t, s, "Practitioner", "d", tok("gender", "", "female"), tok("active", "", "true"))
	put(t, s, "Organization", "e", tok("active", "", "true"))
	g := func(code string) store.Cond { return store.Cond{Param: "gender", Type: store.Token, Code: code} }
	act := store.Cond{Param: "active", Type: store.Token, Code: "true"}
	runCases(t, s, []searchCase{
		{"or", store.Query{Types: []string{"Patient"}, Where: []store.Clause{or(g("female"), g("male"))}}, []string{"Patient/a", "Patient/b"}},
		{"or and", store.Query{Types: []string{"Patient"}, Where: []store.Clause{or(g("female"), g("other")), {Any: []store.Cond{act}}}}, []string{"Patient/a"}},
		{"or with not", store.Query{Types: []string{"Patient"}, Where: []store.Clause{or(g("female"), store.Cond{Param: "active", Type: store.Token, Code: "true", Not: true})}}, []string{"Patient/a", "Patient/c"}},
		{"two types", store.Query{Types: []string{"Patient", "Practitioner"}, Where: and(g("female"))}, []string{"Patient/a", "Practitioner/d"}},
		{"no types", store.Query{Where: and(act)}, []string{"Patient/a", "Patient/b", "Practitioner/d", "Organization/e"}},
		{"all of a type", store.Query{Types: []string{"Patient"}}, []string{"Patient/a", "Patient/b", "Patient/c"}},
		{"everything", store.Query{}, []string{"Patient/a", "Patient/b", "Patient/c", "Practitioner/d", "Organization/e"}},
		{"empty type", store.Query{Types: []string{"CarePlan"}}, nil},
	})
}

func testCompartment(t *testing.T, s store.Store) {
	withPatients := func(c store.Change, ps ...string) store.Change { c.Patients = ps; return c }
	mustWrite(t, s,
		withPatients(change("Patient", "p1", 1), "p1"),
		withPatients(change("Observation", "o1", 1, tok("code", "", "x")), "p1"),
		withPatients(change("Observation", "o2", 1, tok("code", "", "y")), "p2"),
		withPatients(change("Encounter", "e1", 1), "p1", "p2", "p1"),
		change("Organization", "org", 1),
	)
	runCases(t, s, []searchCase{
		{"all types", store.Query{Patient: "p1"}, []string{"Patient/p1", "Observation/o1", "Encounter/e1"}},
		{"typed", store.Query{Patient: "p1", Types: []string{"Observation"}}, []string{"Observation/o1"}},
		{"with cond", store.Query{Patient: "p2", Where: and(store.Cond{Param: "code", Type: store.Token, Code: "y"})}, []string{"Observation/o2"}},
		{"cond other patient", store.Query{Patient: "p1", Where: and(store.Cond{Param: "code", Type: store.Token, Code: "y"})}, nil},
		{"unknown", store.Query{Patient: "zz"}, nil},
	})
	// Compartment follows the current version.
	mustWrite(t, s, withPatients(change("Encounter", "e1", 2), "p2"))
	if got := search(t, s, store.Query{Patient: "p1"}); !sameSet(got, []string{"Patient/p1", "Observation/o1"}) {
		t.Errorf("after update: %v", got)
	}
	mustWrite(t, s, deletion("Observation", "o1", 2))
	if got := search(t, s, store.Query{Patient: "p1"}); !sameSet(got, []string{"Patient/p1"}) {
		t.Errorf("after delete: %v", got)
	}
}

// --- sort, paging, totals -------------------------------------------------------

func testSort(t *testing.T, s store.Store) {
	put(t, s, "Patient", "a", str("family", "smith", "Smith"), date("birthdate", day(1980, 1, 1), day(1980, 1, 2)), tok("gender", "", "male"), num("n", 3, 2.5, 3.5))
	put(t, s, "Patient", "b", str("family", "jones", "Jones"), date("birthdate", day(1970, 1, 1), day(1971, 1, 1)), tok("gender", "", "female"), num("n", 1, 0.5, 1.5))
	put(t, s, "Patient", "c", str("family", "smith", "Smith"), date("birthdate", day(1990, 6, 1), day(1990, 6, 2)), tok("gender", "", "female"), num("n", 2, 1.5, 2.5))
	put(t, s, "Patient", "d", tok("gender", "", "male"))                                                                                         // no family, no birthdate
	put(t, s, "Patient", "e", str("family", "adams", "Adams"), str("family", "zed", "Zed"), date("birthdate", day(1975, 1, 1), day(1976, 1, 1))) // two names
	pt := []string{"Patient"}
	sorted := func(keys ...store.SortKey) []string {
		return search(t, s, store.Query{Types: pt, Sort: keys})
	}
	fam := store.SortKey{Param: "family", Type: store.String}
	famDesc := store.SortKey{Param: "family", Type: store.String, Desc: true}
	bd := store.SortKey{Param: "birthdate", Type: store.Date}
	bdDesc := store.SortKey{Param: "birthdate", Type: store.Date, Desc: true}
	tests := []struct {
		name string
		keys []store.SortKey
		want []string
	}{
		// e sorts by its smallest name ascending (adams), its largest descending (zed).
		{"family asc, missing last", []store.SortKey{fam, {Param: "_id", Type: store.Token}}, []string{"Patient/e", "Patient/b", "Patient/a", "Patient/c", "Patient/d"}},
		{"family desc, missing last", []store.SortKey{famDesc, {Param: "_id", Type: store.Token}}, []string{"Patient/e", "Patient/a", "Patient/c", "Patient/b", "Patient/d"}},
		{"family then birthdate desc", []store.SortKey{fam, bdDesc}, []string{"Patient/e", "Patient/b", "Patient/c", "Patient/a", "Patient/d"}},
		{"birthdate asc", []store.SortKey{bd}, []string{"Patient/b", "Patient/e", "Patient/a", "Patient/c", "Patient/d"}},
		{"birthdate desc uses high", []store.SortKey{bdDesc}, []string{"Patient/c", "Patient/a", "Patient/e", "Patient/b", "Patient/d"}},
		{"token then number", []store.SortKey{{Param: "gender", Type: store.Token}, {Param: "n", Type: store.Number}}, []string{"Patient/b", "Patient/c", "Patient/a", "Patient/d", "Patient/e"}},
		{"number desc", []store.SortKey{{Param: "n", Type: store.Number, Desc: true}}, []string{"Patient/a", "Patient/c", "Patient/b", "Patient/d", "Patient/e"}},
		{"_id desc", []store.SortKey{{Param: "_id", Type: store.Token, Desc: true}}, []string{"Patient/e", "Patient/d", "Patient/c", "Patient/b", "Patient/a"}},
		{"_lastUpdated desc", []store.SortKey{{Param: "_lastUpdated", Type: store.Date, Desc: true}}, []string{"Patient/e", "Patient/d", "Patient/c", "Patient/b", "Patient/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sorted(tt.keys...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			// Paging one at a time gives the same order, forwards and back.
			pages := walk(t, s, store.Query{Types: pt, Sort: tt.keys, Count: 2}, nil)
			if !slices.Equal(pages, tt.want) {
				t.Errorf("paged %v, want %v", pages, tt.want)
			}
		})
	}
	// Sorting by an unsupported type is reported, not ignored.
	_, err := s.Search(ctx, store.Query{Types: pt, Count: 10, Sort: []store.SortKey{{Param: "x", Type: store.Composite}}})
	wantKind(t, err, store.Unsupported)
}

// walk pages through q forwards to the end, checks that walking back with
// Prev from the last page gives the same pages, and returns the refs in
// order. between, if set, runs after every page.
func walk(t *testing.T, s store.Store, q store.Query, between func(page int)) []string {
	t.Helper()
	var pages [][]string
	var res *store.Result
	for i := 0; ; i++ {
		var err error
		res, err = s.Search(ctx, q)
		if err != nil {
			t.Fatalf("Search page %d: %v", i, err)
		}
		if i == 0 && res.Prev != "" {
			t.Errorf("first page has a Prev cursor")
		}
		if len(res.Versions) > q.Count {
			t.Fatalf("page of %d > count %d", len(res.Versions), q.Count)
		}
		pages = append(pages, refs(res.Versions))
		if between != nil {
			between(i)
		}
		if res.Next == "" {
			break
		}
		if i > 1000 {
			t.Fatal("paging does not end")
		}
		q.Cursor = res.Next
	}
	var all []string
	for _, p := range pages {
		all = append(all, p...)
	}
	if between != nil {
		return all
	}
	// Back from the last page.
	for i := len(pages) - 2; i >= 0; i-- {
		if res.Prev == "" {
			t.Fatalf("page %d has no Prev", i+1)
		}
		q.Cursor = res.Prev
		var err error
		res, err = s.Search(ctx, q)
		if err != nil {
			t.Fatalf("Search back to page %d: %v", i, err)
		}
		if got := refs(res.Versions); !slices.Equal(got, pages[i]) {
			t.Errorf("back to page %d: got %v, want %v", i, got, pages[i])
		}
	}
	if len(pages) > 1 && res.Prev != "" {
		t.Errorf("back on the first page, Prev is still set")
	}
	if len(pages) > 1 && res.Next == "" {
		t.Errorf("back on the first page, Next is empty")
	}
	return all
}

func testPagingWhileWriting(t *testing.T, s store.Store) {
	var changes []store.Change
	for i := range 30 {
		changes = append(changes, change("Patient", fmt.Sprintf("p%02d", i), 1, tok("active", "", "true"), str("family", fmt.Sprintf("n%02d", i%10), "")))
	}
	mustWrite(t, s, changes...)
	for _, tc := range []struct {
		name string
		sort []store.SortKey
	}{
		{"default order", nil},
		{"sorted", []store.SortKey{{Param: "family", Type: store.String}}},
		{"sorted desc", []store.SortKey{{Param: "family", Type: store.String, Desc: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "active", Type: store.Token, Code: "true"}), Sort: tc.sort, Count: 4}
			before := search(t, s, store.Query{Types: q.Types, Where: q.Where, Sort: q.Sort, Count: 1000})
			// Writes that do not change what the walked resources sort by:
			// unrelated resources, new versions, a resource that stops matching.
			var mu sync.Mutex
			var wg sync.WaitGroup
			n := 0
			got := walk(t, s, q, func(page int) {
				wg.Add(1)
				go func() { // concurrently with the next page's read
					defer wg.Done()
					mu.Lock()
					defer mu.Unlock()
					n++
					if _, err := s.Write(ctx, []store.Change{change("Patient", fmt.Sprintf("%s-x%02d", tc.name, n), 1, tok("active", "", "false")),
						change("Observation", fmt.Sprintf("%s-o%02d", tc.name, n), 1, tok("active", "", "true"))}); err != nil {
						t.Errorf("concurrent write: %v", err)
					}
				}()
			})
			wg.Wait()
			if !slices.Equal(got, before) {
				t.Errorf("paging while writing:\n got %v\nwant %v", got, before)
			}
			// Each resource exactly once.
			seen := map[string]bool{}
			for _, r := range got {
				if seen[r] {
					t.Errorf("%s seen twice", r)
				}
				seen[r] = true
			}
		})
	}
	// Updates of a resource not yet reached keep it in its place; one
	// inserted behind the cursor is not seen, one ahead is.
	q := store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "active", Type: store.Token, Code: "true"}), Sort: []store.SortKey{{Param: "family", Type: store.String}, {Param: "_id", Type: store.Token}}, Count: 5}
	res, err := s.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	first := refs(res.Versions)
	mustWrite(t, s,
		change("Patient", "p29", 2, tok("active", "", "true"), str("family", "n09", "")), // same sort value, new version
		change("Patient", "zz-behind", 1, tok("active", "", "true"), str("family", "a", "")),
		change("Patient", "zz-ahead", 1, tok("active", "", "true"), str("family", "z", "")))
	var rest []string
	for q.Cursor = res.Next; q.Cursor != ""; q.Cursor = res.Next {
		if res, err = s.Search(ctx, q); err != nil {
			t.Fatal(err)
		}
		rest = append(rest, refs(res.Versions)...)
	}
	all := append(first, rest...)
	if slices.Contains(all, "Patient/zz-behind") || !slices.Contains(all, "Patient/zz-ahead") || !slices.Contains(all, "Patient/p29") {
		t.Errorf("after inserts: %v", all)
	}
	if len(all) != 31 {
		t.Errorf("got %d results, want 31: %v", len(all), all)
	}
}

func testTotalModes(t *testing.T, s store.Store) {
	for i := range 7 {
		put(t, s, "Patient", fmt.Sprintf("p%d", i), tok("active", "", "true"))
	}
	put(t, s, "Patient", "off", tok("active", "", "false"))
	base := store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "active", Type: store.Token, Code: "true"})}
	tests := []struct {
		name      string
		count     int
		total     store.TotalMode
		wantTotal int
		wantN     int
	}{
		{"accurate", 3, store.TotalAccurate, 7, 3},
		{"accurate all on one page", 10, store.TotalAccurate, 7, 7},
		{"none", 3, store.TotalNone, -1, 3},
		{"estimate", 3, store.TotalEstimate, 7, 3},
		{"count 0", 0, store.TotalAccurate, 7, 0},
		{"count 0 none", 0, store.TotalNone, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			q.Count, q.Total = tt.count, tt.total
			res, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if tt.total == store.TotalEstimate {
				if res.Total < 0 {
					t.Errorf("estimate Total = %d", res.Total)
				}
			} else if res.Total != tt.wantTotal {
				t.Errorf("Total = %d, want %d", res.Total, tt.wantTotal)
			}
			if len(res.Versions) != tt.wantN {
				t.Errorf("%d versions, want %d", len(res.Versions), tt.wantN)
			}
			if tt.count == 0 && (res.Next != "" || res.Prev != "") {
				t.Errorf("count 0 returned cursors")
			}
		})
	}
	// Total on a later page is still the whole count.
	q := base
	q.Count = 3
	res, err := s.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	q.Cursor = res.Next
	if res, err = s.Search(ctx, q); err != nil || res.Total != 7 || len(res.Versions) != 3 {
		t.Errorf("second page: %+v, %v", res, err)
	}
	_, err = s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: -1})
	wantKind(t, err, store.Invalid)
}

func testBadCursor(t *testing.T, s store.Store) {
	put(t, s, "Patient", "a", str("family", "x", "X"))
	put(t, s, "Patient", "b", str("family", "y", "Y"))
	for _, c := range []string{"%%%", "bm90IGpzb24", strings.Repeat("A", 40)} {
		_, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Cursor: c})
		wantKind(t, err, store.Invalid)
	}
	// A cursor from a differently sorted search is rejected.
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Sort: []store.SortKey{{Param: "family", Type: store.String}}})
	if err != nil || res.Next == "" {
		t.Fatalf("first page: %+v, %v", res, err)
	}
	_, err = s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Cursor: res.Next})
	wantKind(t, err, store.Invalid)
}
