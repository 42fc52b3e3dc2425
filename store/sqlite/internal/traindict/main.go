// Command traindict trains the zstd dictionary the SQLite store compresses
// stored JSON with (store/sqlite/zdict), from synthetic patients.
//
// Run from the module root:
//
//	go run ./store/sqlite/internal/traindict -id 1 > store/sqlite/zdict/json-1.zdict
//
// A dictionary once shipped is never changed or removed: rows written with
// it name it by id and need it to read. A better one is added under the
// next id (see store/sqlite/compress.go).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"

	"ucp/synth"
)

// idBase puts ucp's dictionary ids in the range RFC 8878 (5) leaves to
// private use: 0–32767 are reserved for registered dictionaries.
const idBase = 0x75630000 // "uc"

func main() {
	id := flag.Uint("id", 1, "the dictionary's version: ids are never reused")
	patients := flag.Int("patients", 2000, "synthetic patients to train on")
	seed := flag.Uint64("seed", 1, "their seed (the bench measures seed 7, so train on another)")
	size := flag.Int("size", 64<<10, "the dictionary's largest size in bytes")
	flag.Parse()
	if err := run(uint32(*id), *patients, *seed, *size); err != nil {
		fmt.Fprintln(os.Stderr, "traindict:", err)
		os.Exit(1)
	}
}

func run(id uint32, patients int, seed uint64, size int) error {
	var samples [][]byte
	w := synth.NDJSON(func(_ string, line []byte) error {
		samples = append(samples, append([]byte(nil), line...))
		return nil
	})
	if err := synth.Generate(synth.Options{Patients: patients, Seed: seed}, w); err != nil {
		return err
	}
	d, err := dict.BuildZstdDict(samples, dict.Options{
		MaxDictSize: size,
		HashBytes:   6,
		ZstdDictID:  idBase + id,
		ZstdLevel:   zstd.SpeedDefault,
	})
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(d)
	return err
}
