package synth

import (
	"fmt"
	"math/rand/v2"
	"time"
)

func meta(profile string) map[string]any {
	return map[string]any{"profile": []any{profile}}
}

func ident(system, value string) map[string]any {
	return map[string]any{"system": system, "value": value}
}

func humanName(family string, given []string, prefix string) map[string]any {
	g := make([]any, len(given))
	for i, s := range given {
		g[i] = s
	}
	n := map[string]any{"use": "official", "family": family, "given": g}
	if prefix != "" {
		n["prefix"] = []any{prefix}
	}
	return n
}

// codeable builds a CodeableConcept with one coding and, when text is not
// empty, a text (the EoL API rule: coded and readable).
func codeable(system, code, display, text string) map[string]any {
	c := map[string]any{"coding": []any{coding(system, code, display)}}
	if text != "" {
		c["text"] = text
	}
	return c
}

// coding builds a Coding; an empty display is left out (FHIR strings may
// not be empty).
func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

func ref(typ, id, display string) map[string]any {
	r := map[string]any{"reference": typ + "/" + id}
	if display != "" {
		r["display"] = display
	}
	return r
}

// address builds a London address in borough b: a house number, a real
// street, and a postcode whose district belongs to the borough and whose
// inward part has the Royal Mail's shape (digit, two letters).
func address(r *rand.Rand, b *borough) map[string]any {
	district := pick(r, b.districts)
	inward := fmt.Sprintf("%d%c%c", r.IntN(10), inwardLetters[r.IntN(len(inwardLetters))], inwardLetters[r.IntN(len(inwardLetters))])
	line := []any{fmt.Sprintf("%d %s", 1+r.IntN(240), pick(r, streets))}
	if r.IntN(5) == 0 {
		line = []any{fmt.Sprintf("Flat %d", 1+r.IntN(40)), line[0]}
	}
	return map[string]any{"use": "home", "line": line, "city": "London", "district": b.name,
		"postalCode": district + " " + inward, "country": "GB"}
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// pickWeighted chooses from s with probability proportional to weight.
func pickWeighted[T any](r *rand.Rand, s []T, weight func(T) int) T {
	total := 0
	for _, x := range s {
		total += weight(x)
	}
	n := r.IntN(total)
	for _, x := range s {
		if n -= weight(x); n < 0 {
			return x
		}
	}
	return s[len(s)-1]
}

// chance reports true with probability percent/100.
func chance(r *rand.Rand, percent int) bool { return r.IntN(100) < percent }

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func date(t time.Time) string { return t.UTC().Format("2006-01-02") }

// workingHours moves t to a plausible time of day for clinical work.
func workingHours(r *rand.Rand, t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 8+r.IntN(10), r.IntN(60), 0, 0, time.UTC)
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
