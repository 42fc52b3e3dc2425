package postgres

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"ucp/store"
)

// isText reports whether c is a _text or _content condition (see
// store.TextParam), answered from idx_text.
func isText(c *store.Cond) bool {
	return c.Type == store.Special && (c.Param == store.TextParam || c.Param == store.ContentParam)
}

// maxLexeme is the longest word kept, in bytes: PostgreSQL refuses a
// lexeme of 2 KiB or more. A longer "word" (a base64 blob in a narrative)
// is cut; a search for its first 2,000 bytes still finds it.
const maxLexeme = 2000

// words splits s into the words full-text search matches: runs of letters
// and digits, lower case, accents removed (as SQLite's unicode61 tokenizer
// with remove_diacritics 2, so both stores match alike). The words become
// lexemes as they are (array_to_tsvector, a tsquery of quoted lexemes):
// PostgreSQL's own parsers, which split "heart-failure" three ways and
// stem, never see them.
func words(s string) []string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	folded, _, err := transform.String(t, s)
	if err != nil {
		folded = s
	}
	ws := strings.FieldsFunc(strings.ToLower(folded), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range ws {
		if len(w) > maxLexeme {
			cut := maxLexeme
			for cut > 0 && !isRuneStart(w[cut]) {
				cut--
			}
			ws[i] = w[:cut]
		}
	}
	return ws
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// textSet writes a SELECT of the rids whose text (c.Param's column of
// idx_text) has every word of c.Value as a word prefix.
func (q *sqlb) textSet(c *store.Cond) error {
	if c.Missing != nil {
		return store.Errorf(store.Unsupported, "%s:missing is not supported", c.Param)
	}
	tsq, err := tsQuery(c.Param, c.Value)
	if err != nil {
		return err
	}
	col := "text"
	if c.Param == store.ContentParam {
		col = "content"
	}
	q.w("SELECT rid FROM idx_text WHERE ", col, " @@ ")
	q.a(tsq)
	q.w("::tsquery")
	return nil
}

// tsQuery builds a tsquery matching every word of value as a word prefix:
// 'w1':* & 'w2':*. Words hold letters and digits only, so no character of a
// client's value can act as tsquery syntax.
func tsQuery(param, value string) (string, error) {
	ws := words(value)
	if len(ws) == 0 {
		return "", store.Errorf(store.Invalid, "%s: %q has no word to search for", param, value)
	}
	var b strings.Builder
	for i, w := range ws {
		if i > 0 {
			b.WriteString(" & ")
		}
		b.WriteString("'")
		b.WriteString(w)
		b.WriteString("':*")
	}
	return b.String(), nil
}
