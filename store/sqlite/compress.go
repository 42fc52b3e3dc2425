package sqlite

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"ucp/store"
)

// Options configures a Store; the zero value is Open's.
type Options struct {
	// CompressJSON stores each version's JSON as a zstd frame, made with
	// a dictionary trained on FHIR resources (jsonDicts). Reads
	// decompress it, so every caller still gets the bytes as written.
	// Rows stored without it stay readable either way: a frame is told
	// from JSON by its magic number, which no JSON text starts with.
	CompressJSON bool
}

// Dictionaries trained on FHIR resources (store/sqlite/internal/traindict):
// a care plan's resource is one or two kilobytes, too short for zstd to
// learn the repeated keys, systems and profile URLs from the resource
// itself, and the dictionary halves what plain zstd stores. Every frame
// names its dictionary's id, so each one ever shipped stays in dicts for
// the rows written with it; new rows use the last.
//
//go:embed zdict/json-1.zdict
var dictJSON1 []byte

// jsonDicts is every dictionary a stored frame may name, oldest first.
func jsonDicts() [][]byte { return [][]byte{dictJSON1} }

// zstdMagic starts every zstd frame (RFC 8878, 3.1.1).
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// codec compresses stored JSON. Both halves are safe for concurrent use
// (EncodeAll and DecodeAll keep no state between calls).
type codec struct {
	enc *zstd.Encoder // nil: store JSON as it is
	dec *zstd.Decoder
}

func newCodec(compress bool) (*codec, error) {
	c := &codec{}
	var err error
	dicts := jsonDicts()
	// As many DecodeAll calls at once as there are CPUs, like the readers.
	if c.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true), zstd.WithDecoderDicts(dicts...)); err != nil {
		return nil, fmt.Errorf("sqlite: zstd: %w", err)
	}
	if compress {
		// The fastest level: with the dictionary it stores what the
		// default level does (24% of the JSON of synthetic resources),
		// while the default level's reset of its tables from the
		// dictionary made each call six times slower (130 against 24 µs
		// a resource), a fifth of an import's CPU.
		if c.enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true),
			zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDict(dicts[len(dicts)-1])); err != nil {
			c.dec.Close()
			return nil, fmt.Errorf("sqlite: zstd: %w", err)
		}
	}
	return c, nil
}

// pack is body as stored.
func (c *codec) pack(body []byte) []byte {
	if c.enc == nil || body == nil {
		return body
	}
	return c.enc.EncodeAll(body, make([]byte, 0, len(body)/3))
}

// unpack is the JSON of a stored body, in place when it was stored plain.
func (c *codec) unpack(body []byte) ([]byte, error) {
	if !bytes.HasPrefix(body, zstdMagic) {
		return body, nil
	}
	out, err := c.dec.DecodeAll(body, nil)
	if err != nil {
		return nil, &store.Error{Kind: store.Internal, Message: "sqlite: a stored version does not decompress", Err: err}
	}
	return out, nil
}

func (c *codec) close() {
	if c.enc != nil {
		c.enc.Close()
	}
	c.dec.Close()
}
