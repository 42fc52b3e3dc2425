package synth

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ucp/fhir/resource"
)

// Format names an output form.
type Format string

// Output forms.
const (
	FormatNDJSON Format = "ndjson" // one resource per line
	FormatBundle Format = "bundle" // transaction Bundles
)

// ParseFormat checks a format name given on a command line.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatNDJSON, FormatBundle:
		return f, nil
	}
	return "", fmt.Errorf("synth: unknown format %q (want ndjson or bundle)", s)
}

type writerFunc func(*Record) error

func (f writerFunc) Write(r *Record) error { return f(r) }

// NDJSON returns a Writer that serialises each resource canonically and
// passes it, without a trailing newline, to emit with its resource type
// (so a caller can write one stream or one file per type). Shared
// resources are emitted once, where first used; plan versions in order.
func NDJSON(emit func(resourceType string, line []byte) error) Writer {
	var buf []byte
	return writerFunc(func(rec *Record) error {
		for _, e := range rec.Entries {
			if e.Shared && !e.FirstUse {
				continue
			}
			buf = resource.AppendJSON(buf[:0], e.Resource)
			if err := emit(e.Type, buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// NDJSONStream writes every resource as one line of w.
func NDJSONStream(w io.Writer) Writer {
	return NDJSON(func(_ string, line []byte) error {
		if _, err := w.Write(line); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
}

// Bundles returns a Writer that turns each Record into transaction Bundles,
// one per step of the patient's story (see the package comment), and passes
// each, serialised canonically, to emit with the patient's index and the
// step number.
func Bundles(emit func(patient, step int, bundle []byte) error) Writer {
	return writerFunc(func(rec *Record) error {
		bundles := BundlesFor(rec)
		for step, b := range bundles {
			if err := emit(rec.Index, step, resource.Marshal(b)); err != nil {
				return err
			}
		}
		return nil
	})
}

// BundleStream writes each transaction Bundle as one line of w.
func BundleStream(w io.Writer) Writer {
	return Bundles(func(_, _ int, b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
}

// BundlesFor builds the transaction Bundles for one patient, in the order
// they must be applied.
//
// Step 0 creates everything: each resource has a urn:uuid fullUrl and
// references between entries use them; shared Organizations and
// Practitioners are conditional creates (ifNoneExist on their identifier),
// so loading many patients creates each once; the plan is a conditional
// update on its identifier, which creates it. Each later step is a
// conditional update of the plan (a new version) plus, for an approval,
// its Provenance; references to resources created earlier are conditional
// references on their identifiers, since their server ids are not known.
func BundlesFor(rec *Record) []map[string]any {
	byID := make(map[string]*Entry, len(rec.Entries))
	steps := 1
	for i := range rec.Entries {
		e := &rec.Entries[i]
		byID[e.Type+"/"+e.ID] = e
		steps = max(steps, e.Step+1)
	}
	out := make([]map[string]any, steps)
	for step := range out {
		var entries []any
		inBundle := map[string]string{} // Type/id → urn:uuid, for entries of this bundle
		for i := range rec.Entries {
			if e := &rec.Entries[i]; e.Step == step {
				inBundle[e.Type+"/"+e.ID] = "urn:uuid:" + uuidFor(e.ID+"/"+strconv.Itoa(step))
			}
		}
		for i := range rec.Entries {
			e := &rec.Entries[i]
			if e.Step != step {
				continue
			}
			res := rewrite(clone(e.Resource).(map[string]any), func(ref string) string {
				key := ref
				if t, id, ok := strings.Cut(ref, "/"); ok {
					if id2, _, ok := strings.Cut(id, "/_history/"); ok {
						key = t + "/" + id2
					}
				}
				if u, ok := inBundle[key]; ok {
					return u
				}
				if target, ok := byID[key]; ok && target.IdentifierSystem != "" {
					return target.Type + "?identifier=" + target.IdentifierSystem + "|" + target.IdentifierValue
				}
				return ref
			})
			// The server assigns ids; a urn:uuid fullUrl stands for the
			// resource until then.
			delete(res, "id")
			req := map[string]any{"method": "POST", "url": e.Type}
			switch {
			case e.Shared:
				req["ifNoneExist"] = "identifier=" + e.IdentifierSystem + "|" + e.IdentifierValue
			case e.Type == "CarePlan":
				req["method"] = "PUT"
				req["url"] = "CarePlan?identifier=" + e.IdentifierSystem + "|" + e.IdentifierValue
			}
			entries = append(entries, map[string]any{
				"fullUrl":  inBundle[e.Type+"/"+e.ID],
				"resource": res,
				"request":  req,
			})
		}
		out[step] = map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}
	}
	return out
}

// clone deep-copies a JSON tree, so rewriting references for a Bundle
// leaves the Record as generated.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = clone(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = clone(x)
		}
		return s
	}
	return v
}

// rewrite replaces every Reference.reference in the tree.
func rewrite(v any, f func(string) string) map[string]any {
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "reference" {
					v[k] = f(s)
				} else {
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	m, _ := v.(map[string]any)
	return m
}

// A DirWriter writes generated data into a directory: NDJSON as one file
// per resource type (Patient.ndjson, CarePlan.ndjson …, the layout of a
// FHIR bulk export), Bundles as one file per transaction
// (bundle-000042-0.json). Call Close to flush.
type DirWriter struct {
	dir    string
	w      Writer
	files  map[string]*os.File
	bufs   map[string]*bufio.Writer
	order  []string
	closed bool
}

// NewDirWriter creates dir if needed and returns a writer for format f.
func NewDirWriter(dir string, f Format) (*DirWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &DirWriter{dir: dir, files: map[string]*os.File{}, bufs: map[string]*bufio.Writer{}}
	switch f {
	case FormatNDJSON:
		d.w = NDJSON(d.line)
	case FormatBundle:
		d.w = Bundles(func(patient, step int, b []byte) error {
			return os.WriteFile(filepath.Join(dir, fmt.Sprintf("bundle-%06d-%d.json", patient, step)), append(b, '\n'), 0o644)
		})
	default:
		return nil, fmt.Errorf("synth: unknown format %q", f)
	}
	return d, nil
}

func (d *DirWriter) line(typ string, line []byte) error {
	b, ok := d.bufs[typ]
	if !ok {
		f, err := os.Create(filepath.Join(d.dir, typ+".ndjson"))
		if err != nil {
			return err
		}
		d.files[typ] = f
		b = bufio.NewWriterSize(f, 64<<10)
		d.bufs[typ] = b
		d.order = append(d.order, typ)
	}
	if _, err := b.Write(line); err != nil {
		return err
	}
	return b.WriteByte('\n')
}

// Write implements Writer.
func (d *DirWriter) Write(r *Record) error { return d.w.Write(r) }

// Close flushes and closes the NDJSON files.
func (d *DirWriter) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var first error
	for _, typ := range d.order {
		if err := d.bufs[typ].Flush(); err != nil && first == nil {
			first = err
		}
		if err := d.files[typ].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
