// Package cursor is the paging cursor the SQL stores (store/sqlite,
// store/postgres) share: opaque to clients, base64url of a small JSON
// document holding a keyset position (the sort values of one row and its
// rid), never an offset. One format for both, so a cursor means the same
// whichever store made it.
package cursor

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

// Val is one sort value in a cursor. Values are typed so that an int64
// (a microsecond date) survives JSON exactly; all nil means SQL NULL.
type Val struct {
	S *string  `json:"s,omitempty"`
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
}

// ToVal is the cursor value of a sort value read from the database.
func ToVal(v any) (Val, error) {
	switch x := v.(type) {
	case nil:
		return Val{}, nil
	case int64:
		return Val{I: &x}, nil
	case float64:
		return Val{F: &x}, nil
	case string:
		return Val{S: &x}, nil
	case []byte:
		s := string(x)
		return Val{S: &s}, nil
	}
	return Val{}, fmt.Errorf("store: unexpected sort value %T", v)
}

// Value is the sort value again, for the next page's query.
func (c Val) Value() any {
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

// Search is a position in a search's order: Back pages towards the
// start (for Prev). The position is exclusive; the rid±1 trick turns it into
// an inclusive one where needed (rid is an integer and the last sort key).
type Search struct {
	Back bool   `json:"b,omitempty"`
	Sort string `json:"o,omitempty"` // signature of the sort keys it belongs to
	Keys []Val  `json:"k,omitempty"`
	RID  int64  `json:"r"`
}

// Encode is the cursor text of a position.
func Encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only finite numbers and strings go in; this cannot happen.
		panic("store: cursor: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor's text into v; anything else than a cursor
// Encode made is store.Invalid.
func Decode(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return &store.Error{Kind: store.Invalid, Message: "invalid paging cursor", Err: err}
	}
	return nil
}

// SortSignature identifies a sort order, so that a cursor from one search is
// not silently applied to a differently sorted one.
func SortSignature(keys []store.SortKey) string {
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
