package validate_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"ucp/fhir/resource"
	"ucp/fhir/validate"
)

// FuzzValidate feeds arbitrary JSON through resource.Parse and Validate
// (base structure plus the testdata profiles): it must never panic.
func FuzzValidate(f *testing.F) {
	for _, name := range []string{"Patient-valid.json", "CarePlan-valid.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
		`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":{}}]}}]}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Patient","contained":[{"resourceType":"Patient"}]}]}`,
		`{"resourceType":"Observation","valueQuantity":[],"_status":[null],"component":[{"code":{}}]}`,
		`{"resourceType":"CarePlan","meta":{"profile":["https://ucp.example.org/fhir/StructureDefinition/UCPCarePlan"]},"category":[1,"x",null]}`,
		`[]`, `{}`, `{"resourceType":7}`,
	} {
		f.Add([]byte(s))
	}
	v := testValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := resource.Parse(data)
		if err != nil {
			return
		}
		_ = v.Validate(context.Background(), res, "https://ucp.example.org/fhir/StructureDefinition/UCPPublishedCarePlan")
		_ = validate.Resource(res)
	})
}
