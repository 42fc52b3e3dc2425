package service

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCallRemember: a value is computed once per key and interaction, an
// error keeps nothing, a nil Call keeps nothing, and forget (a committed
// write) drops everything.
func TestCallRemember(t *testing.T) {
	type key string
	tests := []struct {
		name  string
		call  *Call
		steps []string // "a", "b": Remember that key; "!": forget; "x": Remember key x, whose f fails
		want  []string // the keys whose f ran, in order
	}{
		{"once per key", &Call{}, []string{"a", "a", "b", "a", "b"}, []string{"a", "b"}},
		{"an error keeps nothing", &Call{}, []string{"x", "x"}, []string{"x", "x"}},
		{"a nil call keeps nothing", nil, []string{"a", "a"}, []string{"a", "a"}},
		{"a write drops everything", &Call{}, []string{"a", "b", "!", "a", "b", "a"}, []string{"a", "b", "a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran []string
			for _, s := range tt.steps {
				if s == "!" {
					tt.call.forget()
					continue
				}
				v, err := tt.call.Remember(key(s), func() (any, error) {
					ran = append(ran, s)
					if s == "x" {
						return nil, errors.New("store down")
					}
					return "value of " + s, nil
				})
				if s == "x" {
					if err == nil {
						t.Errorf("Remember(x): no error")
					}
					continue
				}
				if err != nil || v != "value of "+s {
					t.Errorf("Remember(%s) = %v, %v; want its value", s, v, err)
				}
			}
			if diff := cmp.Diff(tt.want, ran); diff != "" {
				t.Errorf("computed (-want +got):\n%s", diff)
			}
		})
	}
}
