package postgres

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

	"ucp/store"
)

// A cursor is opaque to clients: base64url of a small JSON document. It holds
// a keyset position (the sort values of one row plus its rid, the unique
// tiebreaker), never an offset, so pages stay stable while writes go on.

// cval is one sort value in a cursor. Values are typed so that an int64
// (a microsecond date) survives JSON exactly; all nil means SQL NULL.
type cval struct {
	S *string  `json:"s,omitempty"`
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
}

func toCval(v any) (cval, error) {
	switch x := v.(type) {
	case nil:
		return cval{}, nil
	case int64:
		return cval{I: &x}, nil
	case float64:
		return cval{F: &x}, nil
	case string:
		return cval{S: &x}, nil
	case []byte:
		s := string(x)
		return cval{S: &s}, nil
	}
	return cval{}, fmt.Errorf("postgres: unexpected sort value %T", v)
}

func (c cval) value() any {
	switch {
	case c.S != nil:
		return *c.S
	case c.I != nil:
		return *c.I
	case c.F != nil:
		return *c.F
	}
	return nil
}

// searchCursor is a position in a search's order: Back pages towards the
// start (for Prev). The position is exclusive; the rid±1 trick turns it into
// an inclusive one where needed (rid is an integer and the last sort key).
type searchCursor struct {
	Back bool   `json:"b,omitempty"`
	Sort string `json:"o,omitempty"` // signature of the sort keys it belongs to
	Keys []cval `json:"k,omitempty"`
	RID  int64  `json:"r"`
}

func encodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only finite numbers and strings go in; this cannot happen.
		panic("postgres: cursor: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return &store.Error{Kind: store.Invalid, Message: "invalid paging cursor", Err: err}
	}
	return nil
}

// sortSignature identifies a sort order, so that a cursor from one search is
// not silently applied to a differently sorted one.
func sortSignature(keys []store.SortKey) string {
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s|%s|%t;", k.Param, k.Type, k.Desc)
	}
	h := fnv.New32a()
	h.Write([]byte(b.String()))
	return fmt.Sprintf("%08x", h.Sum32())
}
