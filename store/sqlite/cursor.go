package sqlite

import (
	"ucp/store"
	"ucp/store/internal/cursor"
)

// The paging cursor is store/internal/cursor's, shared with the other SQL
// store; these names keep the search code's.
type (
	cval         = cursor.Val
	searchCursor = cursor.Search
)

func toCval(v any) (cval, error)                { return cursor.ToVal(v) }
func encodeCursor(v any) string                 { return cursor.Encode(v) }
func decodeCursor(s string, v any) error        { return cursor.Decode(s, v) }
func sortSignature(keys []store.SortKey) string { return cursor.SortSignature(keys) }
