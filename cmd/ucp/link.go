package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"ucp/auth"
	"ucp/auth/launch"
	"ucp/profiles"
)

// runLink prints a signed in-context link for a server started with --dev:
// what a GP system does, signed with the development launcher's key.
func runLink(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8080/fhir", "the FHIR `BASE` URL of a server started with --dev")
	nhs := fs.String("nhs", "", "the patient's NHS `NUMBER` (required)")
	role := fs.String("role", "clinical", "clinical, view or admin")
	org := fs.String("org", devOrg, "the user's organisation, an `ODS` code")
	user := fs.String("user", "dev-user", "the user's SDS user `ID`")
	name := fs.String("name", "Dr Dev Clinician", "the user's `NAME`")
	birthDate := fs.String("birthdate", "", "the patient's date of birth, `YYYY-MM-DD` (default: looked up on the server)")
	keyFile := fs.String("key", devLauncherKeyFile("data"), "the development launcher's key `FILE` (written by serve --dev beside its database)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ucp link: unexpected arguments:", fs.Args())
		return 2
	}
	n := strings.ReplaceAll(*nhs, " ", "")
	if !profiles.ValidNHSNumber(n) {
		fmt.Fprintln(stderr, "ucp link: --nhs must be a valid NHS number (10 digits with a correct check digit)")
		return 2
	}
	r, err := auth.ParseRole(*role)
	if err != nil || (r != auth.RoleClinical && r != auth.RoleView && r != auth.RoleAdmin) {
		fmt.Fprintln(stderr, "ucp link: --role must be clinical, view or admin")
		return 2
	}
	if _, err := os.Stat(*keyFile); err != nil {
		fmt.Fprintf(stderr, "ucp link: %v (%v)\n", errNoDevLauncher, err)
		return 1
	}
	key, err := auth.LoadOrCreateSigningKey(*keyFile, "ES384")
	if err != nil {
		fmt.Fprintln(stderr, "ucp link:", err)
		return 1
	}
	public := publicOrigin(*server)
	dob := *birthDate
	if dob == "" {
		dob, err = lookUpBirthDate(ctx, public, *server, n)
		if err != nil {
			fmt.Fprintln(stderr, "ucp link:", err)
			return 1
		}
	}
	tok, err := launch.SignLink(key, devLauncherID, public+"/launch/link", time.Now(), launch.LinkClaims{
		NHSNumber: n, BirthDate: dob, UserID: *user, Name: *name, RoleCode: auth.DevRoleCode(r), Org: *org,
	})
	if err != nil {
		fmt.Fprintln(stderr, "ucp link:", err)
		return 1
	}
	fmt.Fprintln(stdout, public+"/launch/link?token="+tok)
	return 0
}

// lookUpBirthDate reads the patient's date of birth over the FHIR API,
// as a GP system reads it from its own record, with a development token.
func lookUpBirthDate(ctx context.Context, public, base, nhs string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	form := url.Values{"role": {"clinical"}, "ttl": {"60"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, public+"/dev-issuer/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := getJSON(client, req, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("a development token from %s: %v (was the server started with --dev?)", public, err)
	}
	q := url.Values{"identifier": {profiles.SystemNHSNumber + "|" + nhs}, "_elements": {"birthDate"}}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/Patient?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var bundle struct {
		Entry []struct {
			Resource struct {
				BirthDate string `json:"birthDate"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := getJSON(client, req, &bundle); err != nil {
		return "", fmt.Errorf("looking up the patient: %w", err)
	}
	if len(bundle.Entry) == 0 || bundle.Entry[0].Resource.BirthDate == "" {
		return "", fmt.Errorf("the server holds no patient with NHS number %s and a date of birth; give --birthdate to make a link anyway", nhs)
	}
	return bundle.Entry[0].Resource.BirthDate, nil
}

func getJSON(client *http.Client, req *http.Request, v any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s answered %s", req.Method, req.URL.Path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
