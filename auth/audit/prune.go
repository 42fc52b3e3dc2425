package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"ucp/auth"
	"ucp/store"
)

// Expirer is a store of AuditEvents that can list and remove those older
// than a date (store/sqlite's Expired and Purge).
type Expirer interface {
	Expired(ctx context.Context, typ string, before time.Time, limit int) ([][]store.Version, error)
	Purge(ctx context.Context, refs []store.Ref) (int, error)
}

// Prune says what PruneBefore removes.
type Prune struct {
	Before time.Time // AuditEvents last written before this go
	// Archive is the file every pruned AuditEvent is appended to first, one
	// JSON version a line, zstd-compressed when it ends in ".zst". Empty
	// removes without archiving (ucp audit prune --no-archive).
	Archive string
	Batch   int // AuditEvents per archive write and store transaction; 0: 1000
}

// Pruned counts what PruneBefore did.
type Pruned struct {
	Archived int // versions appended to the archive
	Removed  int // AuditEvents removed from the store
}

// PruneBefore removes the AuditEvents last written before p.Before, in
// batches: each batch is appended to the archive and fsynced before it is
// removed, so an AuditEvent is never gone from both. Interrupted, it is
// run again with the same arguments: the archive's last line says which
// AuditEvents of the next batch it already holds (the order is the
// store's, oldest first), so none is archived twice; a torn last line of a
// plain archive is cut off. A .zst archive gets one zstd frame a batch.
func PruneBefore(ctx context.Context, st Expirer, p Prune) (Pruned, error) {
	var done Pruned
	if p.Before.IsZero() {
		return done, errors.New("audit prune: a date is required")
	}
	batch := p.Batch
	if batch <= 0 {
		batch = 1000
	}
	var arch *archive
	if p.Archive != "" {
		var err error
		if arch, err = openArchive(p.Archive); err != nil {
			return done, err
		}
		defer arch.f.Close()
	}
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		got, err := st.Expired(ctx, "AuditEvent", p.Before, batch)
		if err != nil {
			return done, err
		}
		if len(got) == 0 {
			break
		}
		if arch != nil {
			n, err := arch.append(got)
			done.Archived += n
			if err != nil {
				return done, err
			}
		}
		refs := make([]store.Ref, len(got))
		for i, vs := range got {
			refs[i] = store.Ref{Type: vs[0].Type, ID: vs[0].ID}
		}
		n, err := st.Purge(ctx, refs)
		done.Removed += n
		if err != nil {
			return done, err
		}
	}
	if arch != nil {
		return done, arch.f.Close()
	}
	return done, nil
}

// archive is an archive file open for appending.
type archive struct {
	f    *os.File
	zst  bool
	last string // id of the last AuditEvent in the file; "" if none
}

func openArchive(path string) (*archive, error) {
	a := &archive{zst: strings.HasSuffix(path, ".zst")}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit prune: %w", err)
	}
	a.f = f
	data, err := io.ReadAll(f)
	if err == nil && a.zst && len(data) > 0 {
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err == nil {
			data, err = d.DecodeAll(data, nil)
			d.Close()
		}
		if err != nil {
			err = fmt.Errorf("%s does not decompress to the end (%v): an earlier run was interrupted while writing it; "+
				"keep it, and archive into a new file: the AuditEvents it holds completely were removed, the others are still stored", path, err)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit prune: %w", err)
	}
	good := bytes.LastIndexByte(data, '\n') + 1
	if !a.zst && good < len(data) {
		// A batch torn by a crash: it was not removed, so it is archived
		// again.
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit prune: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit prune: %w", err)
	}
	if good > 0 {
		lines := bytes.Split(bytes.TrimSuffix(data[:good], []byte("\n")), []byte("\n"))
		var last struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil || last.ID == "" {
			f.Close()
			return nil, fmt.Errorf("audit prune: %s does not end in an AuditEvent: is it an archive?", path)
		}
		a.last = last.ID
	}
	return a, nil
}

// append writes the versions of got the file does not hold yet, and
// syncs it.
func (a *archive) append(got [][]store.Version) (int, error) {
	skip := 0
	if a.last != "" {
		for i, vs := range got {
			if vs[0].ID == a.last {
				skip = i + 1 // archived before the run that was interrupted removed them
			}
		}
		a.last = ""
	}
	var buf bytes.Buffer
	n := 0
	for _, vs := range got[skip:] {
		for _, v := range vs {
			if v.Deleted {
				continue
			}
			buf.Write(v.JSON)
			buf.WriteByte('\n')
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	body := buf.Bytes()
	if a.zst {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return 0, fmt.Errorf("audit prune: %w", err)
		}
		body = enc.EncodeAll(body, nil)
		enc.Close()
	}
	w := bufio.NewWriter(a.f)
	if _, err := w.Write(body); err != nil {
		return 0, fmt.Errorf("audit prune: %w", err)
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("audit prune: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return 0, fmt.Errorf("audit prune: %w", err)
	}
	return n, nil
}

// PruneRun describes one ucp audit prune, for [PruneEvent].
type PruneRun struct {
	Principal *auth.Principal // who the prune acts as
	RunBy     string          // the operating-system account that ran it (user@host)
	Start     time.Time
	Prune     Prune
	Done      Pruned
	Err       error
}

// PruneEvent is the AuditEvent of one ucp audit prune: an "operation"
// $audit-prune by its principal, with the date, the archive (or none), who
// ran it and the counts as entity details; a prune that stopped is a
// serious failure (8).
func PruneEvent(r *PruneRun) *AuditEvent {
	e := &Event{Interaction: "operation", Operation: "audit-prune", Time: r.Start, Principal: r.Principal, Status: 200}
	if r.Err != nil {
		e.Status, e.Err = 500, r.Err
	}
	archive := r.Prune.Archive
	if archive == "" {
		archive = "(none: --no-archive)"
	}
	e.Details = []Detail{
		{Type: "before", ValueString: r.Prune.Before.UTC().Format(time.RFC3339)},
		{Type: "archive", ValueString: archive},
	}
	if r.RunBy != "" {
		e.Details = append(e.Details, Detail{Type: "run-by", ValueString: r.RunBy})
	}
	e.Details = append(e.Details,
		Detail{Type: "archived", ValueString: strconv.Itoa(r.Done.Archived)},
		Detail{Type: "removed", ValueString: strconv.Itoa(r.Done.Removed)})
	return Build(e)
}
