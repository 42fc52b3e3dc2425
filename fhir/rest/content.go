package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/fhir/resource"

	"ucp/fhir/outcome"
)

// Media types (R4 http.html#mime-type).
const (
	mimeFHIRJSON  = "application/fhir+json"
	mimeJSON      = "application/json"
	mimeJSONPatch = "application/json-patch+json"
	mimeForm      = "application/x-www-form-urlencoded"
)

const ctypeKey = "ucp.rest.ctype"

// negotiate chooses the response media type from _format, then Accept.
// Clients that ask for application/json (fhir.js, fhirclient) get it back
// under that name; a missing Accept or */* gets application/fhir+json; an
// Accept naming only other types (XML, PDF…) is refused with 406 since this
// server speaks JSON only.
func (s *Server) negotiate(c *gin.Context) error {
	c.Set(ctypeKey, mimeFHIRJSON)
	if f := c.Query("_format"); f != "" {
		mt := strings.ToLower(strings.TrimSpace(strings.SplitN(f, ";", 2)[0]))
		switch mt {
		case "json", mimeFHIRJSON, "application/json+fhir":
			return nil
		case mimeJSON:
			c.Set(ctypeKey, mimeJSON)
			return nil
		case "xml", "text/xml", "application/xml", "application/fhir+xml", "application/xml+fhir":
			return refuse(outcome.NotAcceptable, "_format "+f+": this server supports JSON only")
		default:
			return refuse(outcome.NotAcceptable, "unsupported _format "+f)
		}
	}
	accept := c.GetHeader("Accept")
	if strings.TrimSpace(accept) == "" {
		return nil
	}
	bestQ, best, sawXML, parsed := -1.0, "", false, false
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		parsed = true
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q <= 0 {
			continue
		}
		var cand string
		switch mt {
		case mimeFHIRJSON, "application/json+fhir", "*/*", "application/*":
			cand = mimeFHIRJSON
		case mimeJSON:
			cand = mimeJSON
		case "application/fhir+xml", "application/xml+fhir", "application/xml", "text/xml":
			sawXML = true
		}
		// An equal q prefers FHIR's own type over application/json.
		if cand != "" && (q > bestQ || (q == bestQ && cand == mimeFHIRJSON)) {
			bestQ, best = q, cand
		}
	}
	switch {
	case best != "":
		c.Set(ctypeKey, best)
	case sawXML || parsed:
		// Answering JSON to a client that asked only for, say, a PDF would
		// hand it a body it cannot use under a 200 (RFC 9110 §12.5.1).
		return refuse(outcome.NotAcceptable, "Accept "+accept+": this server supports application/fhir+json and application/json only")
	}
	// An Accept with no media type we could parse at all is treated as
	// missing, as before: refusing it would help nobody.
	return nil
}

// writeRaw writes a JSON body (already serialised) with the negotiated
// type, pretty-printed when _pretty=true. Indenting keeps numbers as written.
func (s *Server) writeRaw(c *gin.Context, status int, body []byte) {
	ct := mimeFHIRJSON
	if v, ok := c.Get(ctypeKey); ok {
		ct = v.(string)
	}
	if c.Query("_pretty") == "true" {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	if c.Request.Method == http.MethodHead {
		c.Header("Content-Type", ct+"; charset=utf-8")
		c.Status(status)
		return
	}
	c.Data(status, ct+"; charset=utf-8", body)
}

func (s *Server) writeJSON(c *gin.Context, status int, body []byte) error {
	s.writeRaw(c, status, body)
	return nil
}

// readBody reads the request body within MaxBodyBytes, checking its media
// type against the allowed ones. A missing Content-Type is taken as JSON:
// some clients omit it and refusing them would help nobody.
func (s *Server) readBody(c *gin.Context, allowed ...string) ([]byte, string, error) {
	ct := c.GetHeader("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		mt, _, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, "", refuse(outcome.UnsupportedMediaType, "malformed Content-Type "+ct)
		}
		mt = strings.ToLower(mt)
		if mt == "application/json+fhir" {
			mt = mimeFHIRJSON
		}
		ok := false
		for _, a := range allowed {
			if a == mt {
				ok = true
			}
		}
		if !ok {
			if strings.Contains(mt, "xml") {
				return nil, "", refuse(outcome.UnsupportedMediaType, "Content-Type "+mt+": this server accepts JSON only")
			}
			return nil, "", refuse(outcome.UnsupportedMediaType, fmt.Sprintf("Content-Type %s not accepted here; use %s", mt, strings.Join(allowed, " or ")))
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", refuse(outcome.TooLarge, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodyBytes))
		}
		return nil, "", invalid("reading request body: %v", err)
	}
	return body, mt, nil
}

// parseResource parses a client resource with numbers kept as written and
// checks its resourceType against want (when want is not "").
func parseResource(body []byte, want string) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("the request body is empty; a resource is required")
	}
	res, err := resource.Parse(body)
	if err != nil {
		var se *resource.SyntaxError
		if errors.As(err, &se) {
			return nil, invalid("malformed JSON at byte offset %d: %s", se.Offset, se.Msg)
		}
		return nil, invalid("malformed JSON: %v", err)
	}
	return res, checkType(res, want)
}

func checkType(res map[string]any, want string) error {
	rt, ok := res["resourceType"].(string)
	switch {
	case !ok || rt == "":
		return invalidAt("resourceType", "the resource has no resourceType")
	case want != "" && rt != want:
		return invalidAt("resourceType", "resourceType %q does not match the type %q in the URL", rt, want)
	}
	return nil
}

// validID reports whether id is a valid FHIR id.
func validID(id string) bool { return resource.ValidID(id) }
