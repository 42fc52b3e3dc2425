package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"ucp/nrl/nrltest"
)

// ucp bench's NRL part times approvals until the local NRL has each
// pointer, and PDF renderings, and says so. (Timings are reported, never
// asserted.)
func TestBenchNRL(t *testing.T) {
	spec := os.Getenv(nrltest.SpecEnv)
	if spec == "" {
		t.Skip(nrltest.SpecEnv + " is not set; make test sets it")
	}
	var out bytes.Buffer
	got, err := benchNRL(context.Background(), t.TempDir(), spec, 5, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Approvals != 5 || got.Renders != 5 || got.ApprovalP50Ms <= 0 || got.ApprovalP99Ms < got.ApprovalP50Ms || got.PDFRenderP50Ms <= 0 {
		t.Errorf("timings %+v", got)
	}
	t.Log(out.String())
	for _, want := range []string{"approval → pointer accepted by the local NRL", "PDF rendering per plan"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
