package rest

import (
	"context"

	"ucp/store"
)

// txView is what a transaction being prepared will write, so that domain
// rules (a WriteInterceptor) can see resources created earlier in the same
// transaction: a care plan and its consent and sections usually arrive in
// one Bundle.
type txView struct {
	versions map[string]*store.Version // "Type/id" -> the version the transaction writes
	order    []*store.Version
}

type txViewKey struct{}

func withTxView(ctx context.Context) (context.Context, *txView) {
	v := &txView{versions: map[string]*store.Version{}}
	return context.WithValue(ctx, txViewKey{}, v), v
}

func (v *txView) add(ch *store.Change) {
	if ch == nil || ch.Deleted {
		return
	}
	ver := &store.Version{Type: ch.Type, ID: ch.ID, VersionID: ch.VersionID, LastUpdated: ch.LastUpdated, Method: ch.Method, JSON: ch.JSON}
	v.versions[ch.Type+"/"+ch.ID] = ver
	v.order = append(v.order, ver)
}

// TransactionVersion returns the version of typ/id that the transaction
// being prepared will write, when an entry prepared before the current one
// writes it. Entries are prepared in the R4 order (DELETE, POST, PUT/PATCH)
// and, within each, after the entries they refer to.
func TransactionVersion(ctx context.Context, typ, id string) (*store.Version, bool) {
	v, _ := ctx.Value(txViewKey{}).(*txView)
	if v == nil {
		return nil, false
	}
	ver, ok := v.versions[typ+"/"+id]
	return ver, ok
}

// TransactionVersions returns every version the transaction being prepared
// will write that has been prepared so far, in order; nil outside a
// transaction.
func TransactionVersions(ctx context.Context) []*store.Version {
	v, _ := ctx.Value(txViewKey{}).(*txView)
	if v == nil {
		return nil
	}
	return v.order
}
