package audit

import (
	"fmt"
	"strconv"
	"time"

	"ucp/auth"
)

// Import describes one file loaded by ucp import, for [ImportEvent].
type Import struct {
	Principal *auth.Principal // who the import acts as
	RunBy     string          // the operating-system account that ran it (user@host)
	File      string
	Start     time.Time
	Err       error // what stopped the file, if anything

	// The counts of bulk.Stats for this file.
	Read, Written, Created, Extra, Unchanged, Rejected, Batches int
}

// ImportEvent is the AuditEvent of one imported file: an "operation"
// $import, by the import's principal, with the file, who ran it and the
// counts as entity details. A file that stopped is a serious failure (8),
// one with rejected resources a minor failure (4), with the reason in
// outcomeDesc.
//
// One event per file, not per resource or per store batch: the file is the
// unit an operator names and a clinician's question ("where did this plan
// come from?") is answered by, and every resource written carries its
// version and lastUpdated to tie it to the file's event. An event per
// resource would double the writes of a load of millions (the reason the
// import is not audited write by write, as the API is); one per batch would
// add hundreds of events that say the same thing.
func ImportEvent(im *Import) *AuditEvent {
	e := &Event{Interaction: "operation", Operation: "import", Time: im.Start, Principal: im.Principal, Status: 200}
	switch {
	case im.Err != nil:
		e.Status, e.Err = 500, im.Err
	case im.Rejected > 0:
		e.Status, e.Err = 422, fmt.Errorf("%d of %d resources rejected", im.Rejected, im.Read)
	}
	e.Details = []Detail{{Type: "file", ValueString: im.File}}
	if im.RunBy != "" {
		e.Details = append(e.Details, Detail{Type: "run-by", ValueString: im.RunBy})
	}
	for _, c := range []struct {
		name string
		n    int
	}{
		{"read", im.Read}, {"written", im.Written}, {"created", im.Created}, {"added-by-rules", im.Extra},
		{"unchanged", im.Unchanged}, {"rejected", im.Rejected}, {"store-transactions", im.Batches},
	} {
		e.Details = append(e.Details, Detail{Type: c.name, ValueString: strconv.Itoa(c.n)})
	}
	return Build(e)
}
