package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"

	"ucp/fhir/outcome"
)

// Paging cursors are the store's, sealed: "<store cursor>.<mac>", where the
// mac is an HMAC (Config.CursorKey) over the caller's identity
// (Config.Caller), the normalised query and the store cursor. A cursor then
// only continues the search, and the caller, that it was handed to: a
// made-up or altered one, or one from another search (a Patient search's
// cursor used on CarePlan, whose keyset position means nothing there) or
// another caller, is refused, never a page of something else. Every door
// that hands cursors to its users seals them here, so one key serves them
// all.

// cursorMACLen is the length of the mac kept in a cursor (128 bits).
const cursorMACLen = 16

// CursorScope is the normalised query a cursor is bound to: what is paged
// (kind: search, everything, history; the path it is paged at) and its
// parameters as the paging links repeat them, _cursor and the format
// parameters left out.
func CursorScope(kind, path string, params url.Values) string {
	return kind + "\x00" + path + "\x00" + EncodeParams(params, "")
}

// EncodeParams encodes query parameters for a paging link, in a stable
// order, with the sealed page cursor when given.
func EncodeParams(p url.Values, cursor string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		for _, v := range p[k] {
			if sb.Len() > 0 {
				sb.WriteByte('&')
			}
			sb.WriteString(url.QueryEscape(k))
			sb.WriteByte('=')
			sb.WriteString(url.QueryEscape(v))
		}
	}
	if cursor != "" {
		if sb.Len() > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString("_cursor=" + url.QueryEscape(cursor))
	}
	return sb.String()
}

// cursorMAC is the mac of cursor for scope and ctx's caller.
func (s *Service) cursorMAC(ctx context.Context, scope, cursor string) []byte {
	m := hmac.New(sha256.New, s.cfg.CursorKey)
	caller := ""
	if s.cfg.Caller != nil {
		caller = s.cfg.Caller(ctx)
	}
	for _, part := range []string{"ucp-cursor-v1", caller, scope, cursor} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return m.Sum(nil)[:cursorMACLen]
}

// SealCursor returns the store's cursor bound to scope and ctx's caller;
// "" stays "" (no page).
func (s *Service) SealCursor(ctx context.Context, scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	return cursor + "." + base64.RawURLEncoding.EncodeToString(s.cursorMAC(ctx, scope, cursor))
}

// OpenCursor returns the store's cursor inside sealed ("" for the first
// page), or an Invalid error at _cursor when sealed was not sealed with
// this service's key for this scope and ctx's caller.
func (s *Service) OpenCursor(ctx context.Context, scope, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	i := strings.LastIndexByte(sealed, '.')
	if i >= 0 {
		cursor := sealed[:i]
		mac, err := base64.RawURLEncoding.DecodeString(sealed[i+1:])
		if err == nil && cursor != "" && hmac.Equal(mac, s.cursorMAC(ctx, scope, cursor)) {
			return cursor, nil
		}
	}
	return "", outcome.At(outcome.Invalid, "_cursor", "_cursor: this paging cursor was not issued for this search (or to you), was altered, "+
		"or is from before the server restarted; follow the next and previous links as given, or repeat the search without _cursor")
}
