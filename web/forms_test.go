package web

import "testing"

func TestValidSCTID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"254637007", true},  // Non-small cell lung cancer
		{"37340000", true},   // Motor neuron disease
		{"304251008", true},  // Resuscitation status
		{"254637008", false}, // check digit wrong
		{"254637", false},    // too short for its check digit
		{"0254637007", false},
		{"25463700x", false},
		{"", false},
		{"450476018", false}, // partition 01: a description id, not a concept
	} {
		if got := validSCTID(tc.id); got != tc.want {
			t.Errorf("validSCTID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
