package service

import (
	"bytes"
	"encoding/json"
)

// Bundle is a Bundle the server authors (a searchset, a history, a batch or
// transaction response). The shapes are small structs of our own: entries
// embed stored resource JSON verbatim as json.RawMessage, so client data is
// never decoded into structs and re-encoded.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Meta         *BundleMeta   `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleMeta is Bundle.meta.
type BundleMeta struct {
	LastUpdated string `json:"lastUpdated,omitempty"`
}

// BundleLink is one Bundle.link (self, next, previous).
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one Bundle.entry.
type BundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *BundleSearch   `json:"search,omitempty"`
	Request  *BundleRequest  `json:"request,omitempty"`
	Response *BundleResponse `json:"response,omitempty"`
}

// BundleSearch is Bundle.entry.search (match, include, outcome).
type BundleSearch struct {
	Mode string `json:"mode,omitempty"`
}

// BundleRequest is Bundle.entry.request.
type BundleRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// BundleResponse is Bundle.entry.response.
type BundleResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

// MarshalBundle encodes b without HTML escaping, so embedded resources keep
// their strings byte for byte ("<div>" narratives stay readable).
func MarshalBundle(b *Bundle) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		// Only a RawMessage that is not JSON can fail, and every one comes
		// from the store or from resource.Marshal.
		panic("service: encoding a bundle: " + err.Error())
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
