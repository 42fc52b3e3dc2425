package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ConfigDecoder reads a JSON configuration file (--roles, --clients)
// strictly: malformed JSON, unknown fields, wrong types and the caller's own
// checks are all errors that name the file, line and column, so that an
// operator can fix the file before the server starts rather than find out
// from refused tokens.
type ConfigDecoder struct {
	name string
	data []byte
	dec  *json.Decoder
	// malformed is the file's first syntax error, found up front: a
	// stream decoder's syntax offsets drift from the input's, where
	// Unmarshal's are exact.
	malformed error
}

// NewConfigDecoder returns a decoder of data, the content of the file name.
func NewConfigDecoder(name string, data []byte) *ConfigDecoder {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	d := &ConfigDecoder{name: name, data: data, dec: dec}
	var syn *json.SyntaxError
	if err := json.Unmarshal(data, new(any)); errors.As(err, &syn) {
		if syn.Error() == "unexpected end of JSON input" {
			d.malformed = d.Errorf(syn.Offset, "the file ends before its JSON value does")
		} else {
			// Offset counts the byte in error.
			d.malformed = d.Errorf(syn.Offset-1, "malformed JSON: %s", syn.Error())
		}
	}
	return d
}

// Offset is where the next token or value starts (past white space and
// separators), for Errorf.
func (d *ConfigDecoder) Offset() int64 {
	off := d.dec.InputOffset()
	for off < int64(len(d.data)) {
		switch d.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

// Errorf returns an error located at offset.
func (d *ConfigDecoder) Errorf(offset int64, format string, args ...any) error {
	line, col := d.position(offset)
	return fmt.Errorf("%s:%d:%d: %s", d.name, line, col, fmt.Sprintf(format, args...))
}

// position turns a byte offset into a 1-based line and column.
func (d *ConfigDecoder) position(offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(d.data)))
	before := d.data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// Delim reads the next token, which must be the delimiter want ('{', '[',
// '}' or ']'); what names the expected value in the error.
func (d *ConfigDecoder) Delim(want json.Delim, what string) error {
	if d.malformed != nil {
		return d.malformed
	}
	off := d.Offset()
	tok, err := d.dec.Token()
	if err != nil {
		return d.located(off, err)
	}
	if tok != want {
		return d.Errorf(off, "want %s, found %s", what, describe(tok))
	}
	return nil
}

// Key reads an object member's name.
func (d *ConfigDecoder) Key() (string, int64, error) {
	if d.malformed != nil {
		return "", 0, d.malformed
	}
	off := d.Offset()
	tok, err := d.dec.Token()
	if err != nil {
		return "", off, d.located(off, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", off, d.Errorf(off, "want a member name, found %s", describe(tok))
	}
	return s, off, nil
}

// More reports whether the current array or object has another element.
func (d *ConfigDecoder) More() bool { return d.dec.More() }

// Decode decodes the next value into v and returns where it started.
func (d *ConfigDecoder) Decode(v any) (int64, error) {
	if d.malformed != nil {
		return 0, d.malformed
	}
	off := d.Offset()
	if err := d.dec.Decode(v); err != nil {
		return off, d.located(off, err)
	}
	return off, nil
}

// located turns a decoding error of the value starting at off into one
// naming the line and column.
func (d *ConfigDecoder) located(off int64, err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		// The decoder's offset is near the value (before or after it,
		// depending on its kind): point at its member's name when it has
		// one, else at the value decoded.
		at := off
		if typ.Field != "" {
			field := typ.Field[strings.LastIndexByte(typ.Field, '.')+1:]
			at = d.member(off, field)
			return d.Errorf(at, "%q: want %s, found a JSON %s", typ.Field, typ.Type, typ.Value)
		}
		return d.Errorf(at, "want %s, found a JSON %s", typ.Type, typ.Value)
	}
	// An unknown field comes without an offset: point at the first member
	// of that name in the value.
	var name string
	if _, scanErr := fmt.Sscanf(err.Error(), "json: unknown field %q", &name); scanErr == nil {
		return d.Errorf(d.member(off, name), "unknown field %q", name)
	}
	return d.Errorf(off, "%s", err)
}

// member returns where the first member called name after from starts, or
// from if there is none.
func (d *ConfigDecoder) member(from int64, name string) int64 {
	quoted, _ := json.Marshal(name)
	for at := from; at < int64(len(d.data)); {
		i := bytes.Index(d.data[at:], quoted)
		if i < 0 {
			break
		}
		at += int64(i)
		rest := bytes.TrimLeft(d.data[at+int64(len(quoted)):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			return at
		}
		at += int64(len(quoted))
	}
	return from
}

// describe names a JSON token for an error.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		return fmt.Sprintf("the string %q", t)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", t)
	}
}
