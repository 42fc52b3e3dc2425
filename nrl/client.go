package nrl

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// fhirJSON is the media type of NRL's producer API, with its version.
const fhirJSON = "application/fhir+json;version=1"

// APIError is an answer of NRL other than success, or no answer at all.
type APIError struct {
	Status      int    // HTTP status; 0 when no answer came
	Code        string // NRL's error code (Spine-ErrorOrWarningCode), when given
	Diagnostics string // NRL's words
	Err         error  // the transport error when no answer came
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return "NRL did not answer: " + e.Err.Error()
	}
	msg := fmt.Sprintf("NRL answered %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Diagnostics != "" {
		msg += ": " + e.Diagnostics
	}
	return msg
}

func (e *APIError) Unwrap() error { return e.Err }

// Permanent reports whether NRL refused the request for good: sending it
// again unchanged would be refused again. Codes differ between NRL versions
// (business-rule, UNPROCESSABLE_ENTITY, INVALID_RESOURCE), so the status
// decides, not the code: a 4xx is permanent except an expired token (401),
// a timeout (408) and throttling (429); no answer and 5xx are transient.
func (e *APIError) Permanent() bool {
	switch {
	case e.Status == 0 || e.Status >= 500:
		return false
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400
}

// Client calls NRL's producer API.
type Client struct {
	// Base is the producer API's base URL (…/record-locator/producer/FHIR/R4).
	Base string
	// ODS is the producer's ODS code (NHSD-End-User-Organisation-ODS).
	ODS string
	// HTTP sends the requests (with an mTLS certificate where configured);
	// nil means a client with a 30 second timeout.
	HTTP *http.Client
	// Tokens authenticates the requests; nil sends no Authorization header
	// (a local sandbox).
	Tokens *TokenSource
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// do sends one request; correlation is the X-Correlation-ID, the same for
// every attempt of one job so that NRL can trace (and de-duplicate) them.
// The _search body is plain JSON (application/json), a pointer FHIR JSON.
func (c *Client) do(ctx context.Context, method, path, correlation, contentType string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", fhirJSON)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("NHSD-End-User-Organisation-ODS", c.ODS)
	req.Header.Set("X-Request-ID", uuid.NewString())
	req.Header.Set("X-Correlation-ID", correlation)
	if c.Tokens != nil {
		tok, err := c.Tokens.Token(ctx)
		if err != nil {
			return nil, nil, &APIError{Err: fmt.Errorf("getting an access token: %w", err)}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, nil, &APIError{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, &APIError{Err: err}
	}
	if resp.StatusCode >= 300 {
		if resp.StatusCode == http.StatusUnauthorized && c.Tokens != nil {
			c.Tokens.Forget()
		}
		return nil, nil, answerError(resp.StatusCode, b)
	}
	return resp, b, nil
}

// answerError reads NRL's OperationOutcome into an APIError.
func answerError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var oo struct {
		Issue []struct {
			Code    string `json:"code"`
			Details struct {
				Coding []Coding `json:"coding"`
			} `json:"details"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) == nil && len(oo.Issue) > 0 {
		is := oo.Issue[0]
		e.Code = is.Code
		if len(is.Details.Coding) > 0 {
			e.Code = is.Details.Coding[0].Code
		}
		e.Diagnostics = is.Diagnostics
	}
	return e
}

// Search returns the producer's own pointers for an NHS number, of one type
// ("" for every type).
func (c *Client) Search(ctx context.Context, correlation, nhsNumber, typ string) ([]Pointer, error) {
	q := map[string]string{"subject:identifier": SystemNHSNumber + "|" + nhsNumber}
	if typ != "" {
		q["type"] = SystemSNOMED + "|" + typ
	}
	_, b, err := c.do(ctx, http.MethodPost, "/DocumentReference/_search", correlation, "application/json", q)
	if err != nil {
		return nil, err
	}
	var bundle struct {
		Entry []struct {
			Resource Pointer `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return nil, &APIError{Status: http.StatusOK, Diagnostics: "unreadable search answer", Err: err}
	}
	out := make([]Pointer, 0, len(bundle.Entry))
	for _, e := range bundle.Entry {
		out = append(out, e.Resource)
	}
	return out, nil
}

// Create posts a pointer (a supersede when it has relatesTo) and returns the
// id NRL gave it, from the Location header.
func (c *Client) Create(ctx context.Context, correlation string, p *Pointer) (string, error) {
	resp, _, err := c.do(ctx, http.MethodPost, "/DocumentReference", correlation, fhirJSON, p)
	if err != nil {
		return "", err
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	if id == "" {
		return "", &APIError{Status: resp.StatusCode, Diagnostics: "created, but no Location header names the pointer"}
	}
	return id, nil
}

// Delete deletes a pointer; one already gone (404) counts as deleted.
func (c *Client) Delete(ctx context.Context, correlation, id string) error {
	_, _, err := c.do(ctx, http.MethodDelete, "/DocumentReference/"+url.PathEscape(id), correlation, "", nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// TokenSource gets access tokens from the NHS API platform with
// application-restricted signed-JWT authentication: a client assertion
// signed with the application's private key (RS512, with its kid) is
// exchanged at TokenURL (client_credentials), and the token is kept until
// shortly before it expires.
type TokenSource struct {
	TokenURL string
	ClientID string
	Key      crypto.Signer // the application's RSA private key
	KID      string
	HTTP     *http.Client
	Now      func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// Forget drops the cached token (NRL said it is no longer valid).
func (t *TokenSource) Forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.token = ""
}

func (t *TokenSource) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Token returns a valid access token, from the cache while it has more than
// a minute left.
func (t *TokenSource) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.token != "" && now.Add(time.Minute).Before(t.expires) {
		return t.token, nil
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS512, Key: t.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", t.KID))
	if err != nil {
		return "", err
	}
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: t.ClientID, Subject: t.ClientID, Audience: jwt.Audience{t.TokenURL},
		ID: uuid.NewString(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).Serialize()
	if err != nil {
		return "", err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := t.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		// The NHS API platform sends expires_in as a string.
		ExpiresIn json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: no access_token in its answer")
	}
	secs, err := strconv.Atoi(strings.Trim(string(tr.ExpiresIn), `"`))
	if err != nil {
		return "", fmt.Errorf("token endpoint: expires_in %s: %w", tr.ExpiresIn, err)
	}
	t.token, t.expires = tr.AccessToken, now.Add(time.Duration(secs)*time.Second)
	return t.token, nil
}
