# The README's commands. Everything the targets need comes from the Go module
# proxy through go.mod; nothing is installed by hand.
GO      ?= go
BIN     := bin/ucp
ADDR    ?= 127.0.0.1:8080
DB      ?= ./data/ucp.db
FUZZTIME ?= 30s
# The official HL7 suites, when ../shared sits beside the clone: make test
# runs them (see README "Tests"). A variable already set wins.
SHARED := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../shared)
ifneq ($(wildcard $(SHARED)/fhirpath-tests/tests-fhir-r4.xml),)
export FHIRPATH_TESTS ?= $(SHARED)/fhirpath-tests
endif
ifneq ($(wildcard $(SHARED)/patch-tests),)
export PATCH_TESTS ?= $(SHARED)/patch-tests
endif
ifneq ($(wildcard $(SHARED)/fhir-r4-examples),)
export FHIR_EXAMPLES ?= $(SHARED)/fhir-r4-examples
endif
# UK Core, which ucp's profiles derive from, is read at run time from the
# package as published (never copied into ucp): ../shared/ukcore when it is
# there. Without it the server warns and validates against ucp's profiles
# alone; the UK Core tests skip.
ifneq ($(wildcard $(SHARED)/ukcore/package.json),)
export UKCORE_DIR ?= $(SHARED)/ukcore
endif
# NRL's producer API specification, which the local NRL (nrl/nrltest) checks
# every request and response against; without it the NRL tests skip.
ifneq ($(wildcard $(SHARED)/specs/nrl-producer.yaml),)
export NRL_SPEC ?= $(SHARED)/specs/nrl-producer.yaml
endif

.PHONY: build run run-nrl test test-env test-postgres vet mutants bench fuzz clean screenshots

build:
	$(GO) build -o $(BIN) ./cmd/ucp

## run: start the server on $(DB) with demo data, at http://$(ADDR)/fhir
run: build
	@mkdir -p $(dir $(DB))
	./$(BIN) serve --addr $(ADDR) --store sqlite:$(DB) --demo --dev

NRL_ADDR ?= 127.0.0.1:9090
## run-nrl: make run, publishing NRL pointers to a local NRL (ucp nrl sandbox
## on $(NRL_ADDR), which logs each pointer it keeps); needs NRL_SPEC
run-nrl: build
	@mkdir -p $(dir $(DB))
	./$(BIN) nrl sandbox --addr $(NRL_ADDR) & trap 'kill $$!' EXIT; \
	./$(BIN) serve --addr $(ADDR) --store sqlite:$(DB) --demo --dev \
		--nrl-url http://$(NRL_ADDR)/record-locator/producer/FHIR/R4 --nrl-ods X26

# The packages whose code runs goroutines or shares state between them
# (the audit drainer, import workers, export jobs, caches and memos, the
# registry, the store's pools, the load generator): make test runs their
# tests under the race detector instead of plainly. On a 2-core machine the
# whole tree under -race takes several minutes more, so the rest run once,
# plainly. Left out of the race run:
#   cmd/ucp, synth: end-to-end and generator tests, minutes under -race,
#     exercising the same concurrent code as the packages above.
RACE_PKGS := ./auth/... ./bulk/... ./careplan/... ./fhir/fhirpath/... ./fhir/rest/... ./fhir/search/... ./fhir/service/... ./fhir/validate/... ./loadgen/... ./store/... ./outbox/... ./notify/...
# Recursive (=), so go list runs only for make test.
race_list = $(shell $(GO) list $(RACE_PKGS))
plain_list = $(filter-out $(race_list),$(shell $(GO) list ./...))

## test: vet, then every test (with the official suites when ../shared has
## them): RACE_PKGS under the race detector, the others plainly
test: vet
	$(GO) test -race -count=1 $(race_list)
	$(GO) test -count=1 $(plain_list)
	@$(MAKE) --no-print-directory test-postgres

## test-postgres: the HTTP tests of the API and the server again, each on a
## database of a throwaway PostgreSQL cluster (pgrun); without PostgreSQL's
## binaries it says that it skips them (store/postgres's own tests skip too)
PG_TEST_PKGS := ./fhir/rest/ ./cmd/ucp/ ./careplan/ ./bulk/...
test-postgres:
	$(GO) run ./store/postgres/pgtest/pgrun $(GO) test -count=1 $(PG_TEST_PKGS)

## test-env: the official suites' variables as make test's recipes see them
test-env:
	@for v in FHIRPATH_TESTS PATCH_TESTS FHIR_EXAMPLES UKCORE_DIR NRL_SPEC; do echo "$$v=$$(printenv $$v)"; done

## vet: gofmt, go vet, tidy go.mod files (a diff fails) and staticcheck
## (pinned in tools/go.mod, built from the module proxy into bin/)
vet: bin/staticcheck
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	./bin/staticcheck ./...

bin/staticcheck: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../bin/staticcheck honnef.co/go/tools/cmd/staticcheck

## mutants: one-line mutations of the access-control and clinical-safety code
## (.ci/mutants.tsv); each must make a test fail
mutants:
	GO=$(GO) bash .ci/mutants

BENCH_PATIENTS ?= 10000
export BENCH_PATIENTS

## bench: Go benchmarks of the hot paths, then a load run over loopback HTTP
## against a server filled with $(BENCH_PATIENTS) synthetic patients; the
## report is also written as JSON to bench/results/.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	./$(BIN) bench --patients $(BENCH_PATIENTS) --out bench/results

## fuzz: each fuzz target for $(FUZZTIME)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./fhir/resource/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./fhir/fhirpath/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./fhir/search/
	$(GO) test -run '^$$' -fuzz '^FuzzParseXML$$' -fuzztime $(FUZZTIME) ./fhir/resource/
	$(GO) test -run '^$$' -fuzz '^FuzzParseScope$$' -fuzztime $(FUZZTIME) ./auth/
	$(GO) test -run '^$$' -fuzz '^FuzzTSQuery$$' -fuzztime $(FUZZTIME) ./store/postgres/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDeathDate$$' -fuzztime $(FUZZTIME) ./careplan/
	$(GO) test -run '^$$' -fuzz '^FuzzParams$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzFormValues$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzQuestionnaireAnswers$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzStoredAnswers$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzDashboardForm$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyLink$$' -fuzztime $(FUZZTIME) ./auth/launch/
	$(GO) test -run '^$$' -fuzz '^FuzzProofingLevel$$' -fuzztime $(FUZZTIME) ./auth/launch/
	$(GO) test -run '^$$' -fuzz '^FuzzLocalPath$$' -fuzztime $(FUZZTIME) ./auth/session/
	$(GO) test -run '^$$' -fuzz '^FuzzParseVTR$$' -fuzztime $(FUZZTIME) ./auth/launch/nhslogintest/
	$(GO) test -run '^$$' -fuzz '^FuzzGrant$$' -fuzztime $(FUZZTIME) ./auth/oauth/
	$(GO) test -run '^$$' -fuzz '^FuzzJobOf$$' -fuzztime $(FUZZTIME) ./nrl/
	$(GO) test -run '^$$' -fuzz '^FuzzAnswerError$$' -fuzztime $(FUZZTIME) ./nrl/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSMTPURL$$' -fuzztime $(FUZZTIME) ./notify/
	$(GO) test -run '^$$' -fuzz '^FuzzCursor$$' -fuzztime $(FUZZTIME) ./store/split/
	$(GO) test -run '^$$' -fuzz '^FuzzSSPRequest$$' -fuzztime $(FUZZTIME) ./nrl/
	$(GO) test -run '^$$' -fuzz '^FuzzPlanOfMaster$$' -fuzztime $(FUZZTIME) ./nrl/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./outbox/

clean:
	rm -rf bin data

## screenshots: PNGs of the web app's main pages (urgent care view, edit form,
## history, patient view, find a patient, print preview), 1280 and 375 px wide,
## from the web package's browser tests, into screenshots/ (not committed)
screenshots:
	@mkdir -p screenshots
	UCP_SCREENSHOTS=$(abspath screenshots) $(GO) test -count=1 -run 'TestUrgentView|TestClinician|TestPatientSees|TestFindAPatient|TestPrint|TestDashboard' ./web/
	@ls screenshots
