// Package migrate copies a register from one store to another exactly:
// every version of every resource, with its id, version id, lastUpdated,
// method and JSON byte for byte, deletions and history included, so that
// a register moves between SQLite and PostgreSQL without a rule running
// again or a plan being approved again.
//
// It is a copy below the FHIR service, through the store.Store contract:
// what it writes was already written, through the service, into the
// source. Index entries are extracted again from each version's JSON (the
// contract does not expose a store's own), with the registry the server
// uses.
//
// A copy is resumable: Copy first reads how far the target has got (each
// resource's current version there) and writes only what is missing, in
// writes that are atomic, so an interrupted copy is run again to finish it.
// Compare then checks counts and a checksum per type on both sides.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"ucp/fhir/resource"
	"ucp/store"
)

// Indexer extracts a resource's index entries and compartment, as the
// server does on every write (search.Registry).
type Indexer interface {
	Extract(res map[string]any) (entries []store.Entry, patients []string, err error)
}

// Options tune a copy.
type Options struct {
	// Batch is the most versions per target write (default 500).
	Batch int
	// Progress, when set, is told after each write how many versions have
	// been copied and how many there are to copy.
	Progress func(copied, total int)
}

// Inventory is every version a store holds, by resource: ascending version
// ids.
type Inventory map[store.Ref][]int64

// Take reads the inventory of st from its system history.
func Take(ctx context.Context, st store.Store) (Inventory, error) {
	inv := Inventory{}
	q := store.HistoryQuery{Count: 1000}
	for {
		page, err := st.History(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("reading the history: %w", err)
		}
		for _, v := range page.Versions {
			ref := store.Ref{Type: v.Type, ID: v.ID}
			inv[ref] = append(inv[ref], v.VersionID)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	for ref := range inv {
		slices.Sort(inv[ref])
		inv[ref] = slices.Compact(inv[ref])
	}
	return inv, nil
}

// refs returns the inventory's resources in a stable order (type, id).
func (inv Inventory) refs() []store.Ref {
	out := make([]store.Ref, 0, len(inv))
	for r := range inv {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// current returns the version st holds as current for ref (a deletion's
// too), 0 when it has none.
func current(ctx context.Context, st store.Store, ref store.Ref) (int64, error) {
	v, err := st.Read(ctx, ref.Type, ref.ID)
	switch e := store.AsError(err); {
	case err == nil:
		return v.VersionID, nil
	case e != nil && e.Kind == store.NotFound:
		return 0, nil
	case e != nil && e.Kind == store.Gone && e.Version != nil:
		return e.Version.VersionID, nil
	}
	return 0, fmt.Errorf("reading %s: %w", ref, err)
}

// pending is what is left to copy of one resource.
type pending struct {
	ref      store.Ref
	prev     int64   // the target's current version
	versions []int64 // still to copy, ascending
}

// Copy copies into to every version of from that to lacks. It refuses to
// start when to holds a resource at a version from does not have (another
// register, or one written since): nothing is overwritten. It returns how
// many versions it wrote.
func Copy(ctx context.Context, from, to store.Store, idx Indexer, opts Options) (int, error) {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	inv, err := Take(ctx, from)
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	var todo []*pending
	total := 0
	for _, ref := range inv.refs() {
		vs := inv[ref]
		cur, err := current(ctx, to, ref)
		if err != nil {
			return 0, fmt.Errorf("target: %w", err)
		}
		if cur != 0 && !slices.Contains(vs, cur) {
			return 0, fmt.Errorf("the target holds %s at version %d, which the source does not have: it is not a copy of this source; nothing was written", ref, cur)
		}
		i, _ := slices.BinarySearch(vs, cur+1)
		if i < len(vs) {
			todo = append(todo, &pending{ref: ref, prev: cur, versions: vs[i:]})
			total += len(vs) - i
		}
	}
	copied := 0
	// Rounds: one version of each resource per write, oldest first, so
	// every change's PrevVersion is what the target holds.
	for len(todo) > 0 {
		for start := 0; start < len(todo); start += opts.Batch {
			batch := todo[start:min(start+opts.Batch, len(todo))]
			changes := make([]store.Change, 0, len(batch))
			for _, p := range batch {
				c, err := change(ctx, from, idx, p)
				if err != nil {
					return copied, err
				}
				changes = append(changes, c)
			}
			if _, err := to.Write(ctx, changes); err != nil {
				return copied, fmt.Errorf("writing to the target: %w", err)
			}
			for _, p := range batch {
				p.prev = p.versions[0]
				p.versions = p.versions[1:]
			}
			copied += len(changes)
			if opts.Progress != nil {
				opts.Progress(copied, total)
			}
		}
		todo = slices.DeleteFunc(todo, func(p *pending) bool { return len(p.versions) == 0 })
	}
	return copied, nil
}

// change is the Change that writes p's next version as the source holds it.
func change(ctx context.Context, from store.Store, idx Indexer, p *pending) (store.Change, error) {
	v, err := from.VRead(ctx, p.ref.Type, p.ref.ID, p.versions[0])
	if err != nil {
		return store.Change{}, fmt.Errorf("source: %s version %d: %w", p.ref, p.versions[0], err)
	}
	c := store.Change{Type: v.Type, ID: v.ID, VersionID: v.VersionID, LastUpdated: v.LastUpdated, Method: v.Method,
		Deleted: v.Deleted, JSON: v.JSON, PrevVersion: p.prev}
	if v.Deleted {
		return c, nil
	}
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return store.Change{}, fmt.Errorf("source: %s version %d: %w", p.ref, v.VersionID, err)
	}
	if c.Entries, c.Patients, err = idx.Extract(res); err != nil {
		return store.Change{}, fmt.Errorf("source: %s version %d: indexing: %w", p.ref, v.VersionID, err)
	}
	return c, nil
}

// TypeSum is what one store holds of one resource type.
type TypeSum struct {
	Resources int
	Versions  int
	// Checksum is a SHA-256 over every version's type, id, version id,
	// lastUpdated (to the microsecond), deletion, method and JSON bytes,
	// independent of the order the store keeps them in.
	Checksum string
}

// Sum reads every version st holds and sums them per type.
func Sum(ctx context.Context, st store.Store) (map[string]TypeSum, error) {
	inv, err := Take(ctx, st)
	if err != nil {
		return nil, err
	}
	hashes := map[string][][32]byte{}
	resources := map[string]int{}
	for _, ref := range inv.refs() {
		resources[ref.Type]++
		for _, n := range inv[ref] {
			v, err := st.VRead(ctx, ref.Type, ref.ID, n)
			if err != nil {
				return nil, fmt.Errorf("%s version %d: %w", ref, n, err)
			}
			hashes[ref.Type] = append(hashes[ref.Type], versionHash(v))
		}
	}
	out := make(map[string]TypeSum, len(hashes))
	for typ, hs := range hashes {
		slices.SortFunc(hs, func(a, b [32]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
		h := sha256.New()
		for _, x := range hs {
			h.Write(x[:])
		}
		out[typ] = TypeSum{Resources: resources[typ], Versions: len(hs), Checksum: hex.EncodeToString(h.Sum(nil))}
	}
	return out, nil
}

func versionHash(v *store.Version) [32]byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(v.Type))
	field([]byte(v.ID))
	binary.BigEndian.PutUint64(n[:], uint64(v.VersionID))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(v.LastUpdated.UnixMicro()))
	h.Write(n[:])
	if v.Deleted {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	field([]byte(v.Method))
	field(v.JSON)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Line is one type's row of a comparison.
type Line struct {
	Type           string
	Source, Target TypeSum
}

// Match reports whether both sides hold the same.
func (l Line) Match() bool { return l.Source == l.Target }

// Compare sums both stores and lines them up by type, sorted.
func Compare(ctx context.Context, from, to store.Store) ([]Line, error) {
	a, err := Sum(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	b, err := Sum(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	types := map[string]bool{}
	for t := range a {
		types[t] = true
	}
	for t := range b {
		types[t] = true
	}
	var out []Line
	for t := range types {
		out = append(out, Line{Type: t, Source: a[t], Target: b[t]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out, nil
}
