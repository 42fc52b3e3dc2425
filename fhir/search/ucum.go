package search

// A small owned table of common clinical UCUM units and their canonical
// forms, so that quantities in comparable units compare after normalising
// (5.4 mg finds 5400 ug). The Go module proxy has no well-kept UCUM library
// (the candidates are unmaintained ports that need the full ucum-essence.xml
// at run time), and a server of care plans sees few units: vital signs,
// doses, common lab results and durations. A unit not in the table is
// compared as written, on both sides, so nothing matches less than before.

// ucumSystem is the system of UCUM units.
const ucumSystem = "http://unitsofmeasure.org"

// ucumUnit converts a value in a unit to its canonical unit:
// canonical = value*factor + offset. Only temperatures have an offset (a
// linear map, so the precision range converts the same way).
type ucumUnit struct {
	canon  string
	factor float64
	offset float64
}

var ucumUnits = map[string]ucumUnit{
	// Mass → g.
	"g": {"g", 1, 0}, "kg": {"g", 1e3, 0}, "mg": {"g", 1e-3, 0}, "ug": {"g", 1e-6, 0},
	"ng": {"g", 1e-9, 0}, "pg": {"g", 1e-12, 0}, "[lb_av]": {"g", 453.59237, 0}, "[oz_av]": {"g", 28.349523125, 0},
	// Volume → L.
	"L": {"L", 1, 0}, "l": {"L", 1, 0}, "dL": {"L", 0.1, 0}, "cL": {"L", 0.01, 0}, "mL": {"L", 1e-3, 0},
	"ml": {"L", 1e-3, 0}, "uL": {"L", 1e-6, 0},
	// Substance concentration → mol/L.
	"mol/L": {"mol/L", 1, 0}, "mmol/L": {"mol/L", 1e-3, 0}, "umol/L": {"mol/L", 1e-6, 0},
	"nmol/L": {"mol/L", 1e-9, 0}, "pmol/L": {"mol/L", 1e-12, 0},
	// Mass concentration → g/L.
	"g/L": {"g/L", 1, 0}, "g/dL": {"g/L", 10, 0}, "mg/dL": {"g/L", 1e-2, 0}, "mg/L": {"g/L", 1e-3, 0},
	"mg/mL": {"g/L", 1, 0}, "ug/mL": {"g/L", 1e-3, 0}, "ug/L": {"g/L", 1e-6, 0}, "ng/mL": {"g/L", 1e-6, 0},
	"pg/mL": {"g/L", 1e-9, 0},
	// Length → m.
	"m": {"m", 1, 0}, "km": {"m", 1e3, 0}, "cm": {"m", 1e-2, 0}, "mm": {"m", 1e-3, 0},
	"[in_i]": {"m", 0.0254, 0}, "[ft_i]": {"m", 0.3048, 0},
	// Time → s. Months and years are left out: UCUM's mo and a are mean
	// Julian lengths that nobody means clinically.
	"s": {"s", 1, 0}, "ms": {"s", 1e-3, 0}, "min": {"s", 60, 0}, "h": {"s", 3600, 0},
	"d": {"s", 86400, 0}, "wk": {"s", 604800, 0},
	// Rates → /s.
	"/s": {"/s", 1, 0}, "/min": {"/s", 1.0 / 60, 0}, "/h": {"/s", 1.0 / 3600, 0},
	"{beats}/min": {"/s", 1.0 / 60, 0}, "{breaths}/min": {"/s", 1.0 / 60, 0},
	// Temperature → K (absolute temperatures: a linear map).
	"K": {"K", 1, 0}, "Cel": {"K", 1, 273.15}, "[degF]": {"K", 5.0 / 9, 459.67 * 5 / 9},
	// Pressure → Pa.
	"Pa": {"Pa", 1, 0}, "kPa": {"Pa", 1e3, 0}, "mm[Hg]": {"Pa", 133.322387415, 0}, "cm[H2O]": {"Pa", 98.0665, 0},
	// Energy → J.
	"J": {"J", 1, 0}, "kJ": {"J", 1e3, 0}, "cal": {"J", 4.184, 0}, "kcal": {"J", 4184, 0},
}

// canonicalQuantity converts a value and its precision range [lo, hi) in a
// unit of system to the unit's canonical form; ok is false unless the system
// is UCUM and the unit is in the table.
func canonicalQuantity(system, code string, v, lo, hi float64) (canon string, cv, clo, chi float64, ok bool) {
	if system != ucumSystem {
		return "", 0, 0, 0, false
	}
	u, ok := ucumUnits[code]
	if !ok {
		return "", 0, 0, 0, false
	}
	conv := func(x float64) float64 { return x*u.factor + u.offset }
	return u.canon, conv(v), conv(lo), conv(hi), true
}
