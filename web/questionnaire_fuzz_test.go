package web

import (
	"testing"
	"unicode/utf8"

	"ucp/fhir/resource"
)

// FuzzQuestionnaireAnswers feeds arbitrary form values to every page of
// the questionnaire: nothing panics, each field is either refused with a
// message or kept, what is kept is within its limits and, for a coded
// question, one of the page's choices, and the saved section reads back
// into the form as it was typed.
func FuzzQuestionnaireAnswers(f *testing.F) {
	f.Add(uint8(0), "jo@example.com", "020 7946 0000", "yes")
	f.Add(uint8(1), "Sam", "07700 900123", "http://terminology.hl7.org/CodeSystem/v3-RoleCode|DAU")
	f.Add(uint8(3), "https://ucp.example.org/fhir/CodeSystem/death-location-type|21", "\xff", "no")
	f.Add(uint8(4), "", "yes", "In the drawer")
	f.Fuzz(func(t *testing.T, sec uint8, a, b, c string) {
		all := sections()
		s := all[int(sec)%len(all)]
		vals := []string{a, b, c}
		i := 0
		for _, g := range s.Groups {
			for _, fl := range g.Fields {
				fl.Value = vals[i%len(vals)]
				i++
			}
		}
		errs := map[string]string{}
		var items []any
		for gi, g := range s.Groups {
			own := gi == 0 && g.Legend == ""
			sub := checkGroup(g, errs, !own)
			if own {
				items = append(items, sub...)
			} else if len(sub) > 0 {
				items = append(items, map[string]any{"linkId": "contacts.person", "item": sub})
			}
		}
		kept := map[string]string{}
		for _, g := range s.Groups {
			for _, fl := range g.Fields {
				if fl.Error != "" {
					if errs[fl.Name] == "" {
						t.Fatalf("%s refused without a message in the summary", fl.Name)
					}
					continue
				}
				if fl.Value == "" {
					continue
				}
				kept[fl.Name] = fl.Value
				switch fl.Type {
				case "string":
					if utf8.RuneCountInString(fl.Value) > maxShort {
						t.Fatalf("%s kept %d characters", fl.Name, utf8.RuneCountInString(fl.Value))
					}
				case "text":
					if utf8.RuneCountInString(fl.Value) > maxLong {
						t.Fatalf("%s kept %d characters", fl.Name, utf8.RuneCountInString(fl.Value))
					}
				case "choice":
					if _, ok := chosen(fl.Choices, fl.Value); !ok {
						t.Fatalf("%s kept %q, not one of its choices", fl.Name, fl.Value)
					}
				case "boolean":
					if fl.Value != "yes" && fl.Value != "no" {
						t.Fatalf("%s kept %q", fl.Name, fl.Value)
					}
				}
			}
		}
		if len(errs) > 0 {
			return // nothing is saved
		}
		again, _ := sectionOf(sections(), s.LinkID)
		fill(again, map[string]any{"linkId": s.LinkID, "item": items})
		for _, g := range again.Groups {
			for _, fl := range g.Fields {
				if fl.Value != kept[fl.Name] {
					t.Fatalf("%s reads back %q, saved %q", fl.Name, fl.Value, kept[fl.Name])
				}
			}
		}
	})
}

// FuzzStoredAnswers reads arbitrary stored answers (a client may write a
// QuestionnaireResponse of any shape over FHIR) into the pages: nothing
// panics, and nothing but strings reach the page's fields.
func FuzzStoredAnswers(f *testing.F) {
	f.Add([]byte(`{"resourceType":"QuestionnaireResponse","item":[{"linkId":"contacts","item":[{"linkId":"contacts.person","item":[{"linkId":"contacts.person.name","answer":[{"valueString":"Sam"}]}]},{"linkId":"contacts.person","item":[]},{"linkId":"contacts.person","item":[{"linkId":"x"}]}]}]}`))
	f.Add([]byte(`{"resourceType":"QuestionnaireResponse","item":[{"linkId":"personal","item":[{"linkId":"personal.email","answer":[{"valueBoolean":true},{"valueCoding":1}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		qr, err := resource.Parse(b)
		if err != nil {
			return
		}
		for _, cs := range answerSections(qr) {
			for _, r := range cs.Rows {
				if r.Question == "" {
					t.Fatalf("an answer without its question in %s", cs.Title)
				}
			}
		}
	})
}
