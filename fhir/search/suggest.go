package search

import (
	"fmt"
	"strings"
)

// paramCodes returns every parameter name a search of typ ("" for a
// system search) understands, for suggesting the one a client meant.
// The caller holds r.mu.
func (r *Registry) paramCodes(typ string) []string {
	// The result and control parameters Parse takes besides the registry's.
	codes := []string{"_count", "_elements", "_format", "_include", "_pretty", "_revinclude", "_sort", "_summary", "_total", "_type"}
	if typ != "" {
		for code := range r.byType[typ] {
			codes = append(codes, code)
		}
	}
	for code := range r.byType[resourceBase] {
		codes = append(codes, code)
	}
	for _, p := range TextParams(typ) {
		codes = append(codes, p.Code)
	}
	return codes
}

// didYouMean returns `; did you mean "x"?` for the candidate nearest to
// got by edit distance, or "" when none is near enough to be a likely
// typo. A client told which name it probably meant fixes its query at
// once, instead of guessing why a search it thought narrow was refused.
func didYouMean(got string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(got), strings.ToLower(c))
		// Ties go to the alphabetically first, so the message is stable
		// whatever the order of candidates (a map's).
		if best == "" || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	// A third of the name, at least 1 and at most 3 edits: "identifer" and
	// "subjet" are typos, "foo" for "code" is not.
	limit := min(max(len(got)/3, 1), 3)
	if best == "" || bestD > limit {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, by bytes
// (parameter names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
