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
	"strings"
	"time"
)

// runToken asks the development issuer of a server started with --dev for
// an access token and prints it.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8080/fhir", "the `BASE` URL of a server started with --dev")
	role := fs.String("role", "clinical", "clinical, view, patient, admin, report or system")
	org := fs.String("org", "", "the `ODS` code of the user's organisation (default F84012)")
	user := fs.String("user", "", "the user `ID`")
	patient := fs.String("patient", "", "the patient `ID` (the caller, for --role patient; the launch context otherwise)")
	scope := fs.String("scope", "", "the SMART `scopes` (default: the role's)")
	ttl := fs.Duration("ttl", time.Hour, "the token's lifetime")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ucp token: unexpected arguments:", fs.Args())
		return 2
	}
	root := strings.TrimSuffix(strings.TrimSuffix(*server, "/"), "/fhir")
	form := url.Values{"role": {*role}, "ttl": {fmt.Sprint(int(ttl.Seconds()))}}
	for k, v := range map[string]string{"org": *org, "user": *user, "patient": *patient, "scope": *scope} {
		if v != "" {
			form.Set(k, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, root+"/dev-issuer/token", strings.NewReader(form.Encode()))
	if err != nil {
		fmt.Fprintln(stderr, "ucp token:", err)
		return 2
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "ucp token:", err)
		return 1
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken      string `json:"access_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		if resp.StatusCode == http.StatusNotFound {
			fmt.Fprintf(stderr, "ucp token: %s has no development issuer: was it started with --dev?\n", root)
			return 1
		}
		fmt.Fprintf(stderr, "ucp token: %s answered %d %s %s\n", root, resp.StatusCode, body.Error, body.ErrorDescription)
		return 1
	}
	fmt.Fprintln(stdout, body.AccessToken)
	return 0
}
