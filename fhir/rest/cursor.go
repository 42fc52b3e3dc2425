package rest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// Paging cursors are the store's, sealed: "<store cursor>.<mac>", where the
// mac is an HMAC (key held by the server) over the caller's identity, the
// search's normalised query and the store cursor. A cursor then only
// continues the search, and the caller, that it was handed to: a made-up
// or altered one, or one from another search (a Patient search's cursor
// used on CarePlan, whose keyset position means nothing there) or another
// caller, is a 400, never a page of something else.

// cursorMACLen is the length of the mac kept in a cursor (128 bits).
const cursorMACLen = 16

// cursorScope is the normalised query a cursor is bound to: what is paged
// (kind: search, everything, history; the path it is paged at) and its
// parameters as the paging links repeat them, _cursor and the format
// parameters left out.
func cursorScope(kind, path string, params url.Values) string {
	return kind + "\x00" + path + "\x00" + encodeParams(params, "")
}

// cursorMAC is the mac of cursor for scope and ctx's caller.
func (s *Server) cursorMAC(ctx context.Context, scope, cursor string) []byte {
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

// sealCursor returns the store's cursor bound to scope and the caller;
// "" stays "" (no page).
func (s *Server) sealCursor(ctx context.Context, scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	return cursor + "." + base64.RawURLEncoding.EncodeToString(s.cursorMAC(ctx, scope, cursor))
}

// openCursor returns the store's cursor inside sealed ("" for the first
// page), or an Invalid error when sealed was not made by this server for
// this scope and caller.
func (s *Server) openCursor(ctx context.Context, scope, sealed string) (string, error) {
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
	return "", invalidAt("_cursor", "_cursor: this paging cursor was not issued for this search (or to you), was altered, "+
		"or is from before the server restarted; follow the next and previous links as given, or repeat the search without _cursor")
}
