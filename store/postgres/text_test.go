package postgres

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Heart failure", []string{"heart", "failure"}},
		{"Dr Émile Zoë", []string{"dr", "emile", "zoe"}},
		{"heart-failure, COPD; 2024", []string{"heart", "failure", "copd", "2024"}},
		{`heart" OR "copd ':*&|!`, []string{"heart", "or", "copd"}},
		{" ,; ", []string{}},
		{strings.Repeat("a", 3000), []string{strings.Repeat("a", maxLexeme)}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, words(tt.in)); diff != "" {
			t.Errorf("words(%.20q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestNextPrefix(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abd", true},
		{"zo\u00eb", "zo\u00ec", true},
		{"a\U0010FFFF", "b", true},
		{"a\uD7FF", "a\uE000", true},
		{"\U0010FFFF", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := nextPrefix(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("nextPrefix(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzTSQuery checks that whatever a client searches for, the tsquery
// holds only quoted lexemes of letters and digits joined by & (no syntax of
// the client's), or the value is refused for having no word.
func FuzzTSQuery(f *testing.F) {
	for _, s := range []string{"heart fail", `heart" OR "copd`, "':*", "Émile", " ,; ", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		q, err := tsQuery("_text", value)
		if err != nil {
			if len(words(value)) != 0 {
				t.Fatalf("refused %q, which has words", value)
			}
			return
		}
		if !utf8.ValidString(q) && utf8.ValidString(value) {
			t.Fatalf("tsQuery(%q) = %q: not UTF-8", value, q)
		}
		for _, term := range strings.Split(q, " & ") {
			w, ok := strings.CutPrefix(term, "'")
			if ok {
				w, ok = strings.CutSuffix(w, "':*")
			}
			if !ok || w == "" || strings.ContainsAny(w, "'&|!:()<> \\") {
				t.Fatalf("tsQuery(%q) = %q: term %q is not a quoted lexeme", value, q, term)
			}
		}
	})
}
