package fhirpath

import (
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Quantity is a computed System.Quantity: a decimal value and a unit, which
// is a UCUM code or one of the calendar duration keywords (year, month, week,
// day, hour, minute, second, millisecond).
type Quantity struct {
	Value Decimal
	Unit  string
}

// String formats q as a FHIRPath quantity literal: 4.5 'mg', 3 days.
func (q Quantity) String() string {
	u := q.Unit
	if _, ok := calendarUnits[u]; ok {
		return q.Value.String() + " " + u
	}
	return q.Value.String() + " '" + u + "'"
}

// unitDef is a unit reduced to base dimensions: value × factor (in base units).
type unitDef struct {
	factor *big.Rat
	dims   map[string]int
}

func rat(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }

type atom struct {
	factor string
	unit   string // definition in other units ("" = base)
	base   string // base dimension name when a base unit
	metric bool   // accepts prefixes
}

// A small UCUM subset: base units, the common derived clinical units and the
// definite durations. Calendar durations year/month have their own dimension
// (they are not UCUM's 'a' and 'mo'); week … millisecond equal wk … ms.
var atoms = map[string]atom{
	"m": {"1", "", "m", true}, "g": {"1", "", "g", true}, "s": {"1", "", "s", true}, "K": {"1", "", "K", true},
	"mol": {"1", "", "mol", true}, "cd": {"1", "", "cd", true}, "A": {"1", "", "A", true}, "rad": {"1", "", "rad", true},
	"L": {"1", "dm3", "", true}, "l": {"1", "dm3", "", true}, "min": {"60", "s", "", false}, "h": {"3600", "s", "", false},
	"d": {"86400", "s", "", false}, "wk": {"604800", "s", "", false}, "mo": {"2629800", "s", "", false},
	"a": {"31557600", "s", "", false}, "Hz": {"1", "s-1", "", true}, "N": {"1000", "g.m.s-2", "", true},
	"Pa": {"1", "N.m-2", "", true}, "J": {"1", "N.m", "", true}, "W": {"1", "J.s-1", "", true},
	"%": {"1/100", "1", "", false}, "[lb_av]": {"453.59237", "g", "", false}, "[oz_av]": {"28.349523125", "g", "", false},
	"[in_i]": {"0.0254", "m", "", false}, "[ft_i]": {"0.3048", "m", "", false}, "[mi_i]": {"1609.344", "m", "", false},
	"[yd_i]": {"0.9144", "m", "", false}, "mm[Hg]": {"133322/1000", "Pa", "", false}, "eq": {"1", "mol", "", true},
	"t": {"1000000", "g", "", false}, "u": {"1", "g", "", false}, "[iU]": {"1", "", "[iU]", true}, "[IU]": {"1", "[iU]", "", true},
	"year": {"1", "", "calyear", false}, "month": {"1/12", "year", "", false}, "week": {"604800", "s", "", false},
	"day": {"86400", "s", "", false}, "hour": {"3600", "s", "", false}, "minute": {"60", "s", "", false},
	"second": {"1", "s", "", false}, "millisecond": {"1/1000", "s", "", false},
}

var prefixes = map[string]string{"Y": "1e24", "Z": "1e21", "E": "1e18", "P": "1e15", "T": "1e12", "G": "1e9",
	"M": "1e6", "k": "1e3", "h": "1e2", "da": "1e1", "d": "1/10", "c": "1/100", "m": "1/1000", "u": "1/1000000",
	"n": "1/1000000000", "p": "1/1000000000000", "f": "1/1000000000000000"}

func prefixRat(p string) *big.Rat {
	s := prefixes[p]
	if strings.HasPrefix(s, "1e") {
		n, _ := strconv.Atoi(s[2:])
		return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
	}
	return rat(s)
}

// parseUnit reduces a UCUM unit expression; ok is false for what this subset
// does not understand.
func parseUnit(u string) (unitDef, bool) {
	return parseUnitDepth(u, 0)
}

func parseUnitDepth(u string, depth int) (unitDef, bool) {
	if depth > 8 || len(u) > 64 {
		return unitDef{}, false
	}
	res := unitDef{factor: big.NewRat(1, 1), dims: map[string]int{}}
	// strip annotations {…}
	for {
		i := strings.IndexByte(u, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(u[i:], '}')
		if j < 0 {
			return unitDef{}, false
		}
		rep := ""
		if (i == 0 || u[i-1] == '.' || u[i-1] == '/') && (i+j+1 == len(u) || u[i+j+1] == '.' || u[i+j+1] == '/') {
			rep = "1"
		}
		u = u[:i] + rep + u[i+j+1:]
	}
	if u == "" {
		return res, true
	}
	// split into terms at top-level '.' and '/'
	sign := 1
	start := 0
	level := 0
	inBracket := false
	apply := func(term string, sgn int) bool {
		if strings.HasPrefix(term, "(") && strings.HasSuffix(term, ")") {
			d, ok := parseUnitDepth(term[1:len(term)-1], depth+1)
			if !ok {
				return false
			}
			mul(&res, d, sgn)
			return true
		}
		d, ok := parseTerm(term, depth)
		if !ok {
			return false
		}
		mul(&res, d, sgn)
		return true
	}
	for i := 0; i <= len(u); i++ {
		if i < len(u) {
			switch u[i] {
			case '[':
				inBracket = true
				continue
			case ']':
				inBracket = false
				continue
			case '(':
				level++
				continue
			case ')':
				level--
				continue
			}
			if inBracket || level > 0 || (u[i] != '.' && u[i] != '/') {
				continue
			}
		}
		term := u[start:i]
		if term == "" && !(i == 0 && i < len(u) && u[i] == '/') {
			return unitDef{}, false
		}
		if term != "" && !apply(term, sign) {
			return unitDef{}, false
		}
		if i < len(u) {
			if u[i] == '/' {
				sign = -1
			} else {
				sign = 1
			}
		}
		start = i + 1
	}
	return res, true
}

func mul(res *unitDef, d unitDef, sgn int) {
	f := new(big.Rat).Set(d.factor)
	if sgn < 0 {
		if f.Sign() == 0 {
			return
		}
		f.Inv(f)
	}
	res.factor.Mul(res.factor, f)
	for k, v := range d.dims {
		res.dims[k] += sgn * v
		if res.dims[k] == 0 {
			delete(res.dims, k)
		}
	}
}

func parseTerm(term string, depth int) (unitDef, bool) {
	// 10*3 / 10^3
	if strings.HasPrefix(term, "10*") || strings.HasPrefix(term, "10^") {
		n, err := strconv.Atoi(term[3:])
		if err != nil || n > 30 || n < -30 {
			return unitDef{}, false
		}
		f := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n))), nil))
		if n < 0 {
			f.Inv(f)
		}
		return unitDef{factor: f, dims: map[string]int{}}, true
	}
	if n, err := strconv.Atoi(term); err == nil {
		return unitDef{factor: big.NewRat(int64(n), 1), dims: map[string]int{}}, true
	}
	// exponent suffix
	i := len(term)
	for i > 0 && (term[i-1] >= '0' && term[i-1] <= '9') {
		i--
	}
	if i > 0 && (term[i-1] == '-' || term[i-1] == '+') && i < len(term) {
		i--
	}
	exp := 1
	if i < len(term) && i > 0 && !strings.HasSuffix(term[:i], "]") || i < len(term) && i > 0 && strings.HasSuffix(term[:i], "]") {
		e, err := strconv.Atoi(term[i:])
		if err != nil {
			return unitDef{}, false
		}
		exp = e
		term = term[:i]
	}
	base, ok := lookupAtom(term, depth)
	if !ok {
		return unitDef{}, false
	}
	res := unitDef{factor: big.NewRat(1, 1), dims: map[string]int{}}
	for k := 0; k < abs(exp); k++ {
		mul(&res, base, sign(exp))
	}
	return res, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
func sign(n int) int {
	if n < 0 {
		return -1
	}
	return 1
}

func lookupAtom(name string, depth int) (unitDef, bool) {
	if a, ok := atoms[name]; ok {
		return atomDef(a, depth)
	}
	for _, pl := range []int{2, 1} {
		if len(name) > pl {
			p, rest := name[:pl], name[pl:]
			if _, ok := prefixes[p]; ok {
				if a, ok := atoms[rest]; ok && a.metric {
					d, ok := atomDef(a, depth)
					if !ok {
						return unitDef{}, false
					}
					d.factor = new(big.Rat).Mul(d.factor, prefixRat(p))
					return d, true
				}
			}
		}
	}
	return unitDef{}, false
}

func atomDef(a atom, depth int) (unitDef, bool) {
	f := rat(a.factor)
	if a.base != "" {
		return unitDef{factor: f, dims: map[string]int{a.base: 1}}, true
	}
	d, ok := parseUnitDepth(a.unit, depth+1)
	if !ok {
		return unitDef{}, false
	}
	d.factor = new(big.Rat).Mul(d.factor, f)
	return d, true
}

func sameDims(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func decToRat(d Decimal) *big.Rat {
	return new(big.Rat).SetFrac(d.coef(), pow10(d.scale))
}

func ratToDecimal(r *big.Rat, scale int32) Decimal {
	num := new(big.Int).Mul(r.Num(), pow10(scale+1))
	q := new(big.Int).Quo(num, r.Denom())
	return Decimal{c: q, scale: scale + 1}.Round(scale)
}

// convertQuantity expresses q in unit to. ok is false if the units are not
// commensurable.
func convertQuantity(q Quantity, to string) (Quantity, bool) {
	if q.Unit == to {
		return q, true
	}
	a, ok1 := parseUnit(normCal(q.Unit))
	b, ok2 := parseUnit(normCal(to))
	if !ok1 || !ok2 || !sameDims(a.dims, b.dims) {
		return Quantity{}, false
	}
	r := decToRat(q.Value)
	r.Mul(r, a.factor)
	r.Quo(r, b.factor)
	scale := q.Value.scale + 8
	return Quantity{Value: ratToDecimal(r, scale).trim(q.Value.scale), Unit: to}, true
}

// compareQuantity compares two quantities after unit conversion.
func compareQuantity(a, b Quantity) (int, bool) {
	if a.Unit == b.Unit || normCal(a.Unit) == normCal(b.Unit) {
		return a.Value.Cmp(b.Value), true
	}
	// calendar year/month are not comparable to UCUM a/mo
	if isCalYM(a.Unit) != isCalYM(b.Unit) {
		return 0, false
	}
	bc, ok := convertQuantity(b, a.Unit)
	if !ok {
		return 0, false
	}
	return a.Value.Cmp(bc.Value), true
}

func isCalYM(u string) bool {
	switch u {
	case "year", "years", "month", "months":
		return true
	}
	return false
}

func normCal(u string) string {
	if c, ok := calendarUnits[u]; ok {
		return c
	}
	return u
}

// equivQuantity implements ~ for quantities: equal at the lesser precision.
func equivQuantity(a, b Quantity) bool {
	bc, ok := convertQuantity(b, a.Unit)
	if !ok {
		if isCalYM(a.Unit) != isCalYM(b.Unit) {
			// calendar durations are equivalent to their UCUM definite durations
			ac, ok := map[string]string{"year": "a", "month": "mo"}[normCal(a.Unit)]
			if ok {
				return equivQuantity(Quantity{a.Value, ac}, b)
			}
			bcu, ok := map[string]string{"year": "a", "month": "mo"}[normCal(b.Unit)]
			if ok {
				return equivQuantity(a, Quantity{b.Value, bcu})
			}
		}
		return false
	}
	return equivDecimal(a.Value, bc.Value)
}

func equivDecimal(a, b Decimal) bool {
	s := min(a.scale, b.scale)
	return a.Round(s).Cmp(b.Round(s)) == 0
}

// mulQuantity multiplies or divides two quantities (div=true).
func mulQuantity(a, b Quantity, div bool) (Quantity, bool) {
	ua, ok1 := parseUnit(calToUCUM(a.Unit))
	ub, ok2 := parseUnit(calToUCUM(b.Unit))
	if !ok1 || !ok2 {
		return Quantity{}, false
	}
	var v Decimal
	unit := ""
	if div {
		var ok bool
		v, ok = a.Value.Div(b.Value)
		if !ok {
			return Quantity{}, false
		}
		unit = "(" + calToUCUM(a.Unit) + ")/(" + calToUCUM(b.Unit) + ")"
		mul(&ua, ub, -1)
	} else {
		v = a.Value.Mul(b.Value)
		unit = "(" + calToUCUM(a.Unit) + ").(" + calToUCUM(b.Unit) + ")"
		mul(&ua, ub, 1)
	}
	if len(ua.dims) == 0 {
		r := decToRat(v)
		r.Mul(r, ua.factor)
		return Quantity{Value: ratToDecimal(r, v.scale+8).trim(v.scale), Unit: "1"}, true
	}
	// Simplify the unit to base dimensions when possible.
	keys := make([]string, 0, len(ua.dims))
	for k := range ua.dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if a.Unit == "1" {
		unit = b.Unit
		if div {
			unit = "/" + b.Unit
		}
	} else if b.Unit == "1" {
		unit = a.Unit
	}
	return Quantity{Value: v, Unit: unit}, true
}

func calToUCUM(u string) string {
	switch normCal(u) {
	case "week":
		return "wk"
	case "day":
		return "d"
	case "hour":
		return "h"
	case "minute":
		return "min"
	case "second":
		return "s"
	case "millisecond":
		return "ms"
	case "year":
		return "a"
	case "month":
		return "mo"
	}
	return u
}
