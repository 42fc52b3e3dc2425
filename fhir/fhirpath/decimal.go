package fhirpath

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number: Coef × 10^-Scale. It keeps the scale it
// was written with ("1.50" has scale 2). Values are immutable.
type Decimal struct {
	c     *big.Int
	scale int32
}

var (
	bigTen  = big.NewInt(10)
	bigZero = big.NewInt(0)
)

// divScale is the number of decimal places kept by division and by
// functions computed in floating point.
const divScale = 8

// ParseDecimal parses a decimal number written as FHIR JSON writes it
// ("-1.50", "3", "1e3").
func ParseDecimal(s string) (Decimal, error) {
	if s == "" {
		return Decimal{}, errors.New("empty decimal")
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return Decimal{}, errors.New("invalid decimal " + s)
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if strings.HasPrefix(digits, "+") || strings.HasPrefix(digits, "-") {
		if len(digits) == 1 {
			return Decimal{}, errors.New("invalid decimal " + s)
		}
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !(c >= '0' && c <= '9' || i == 0 && (c == '-' || c == '+')) {
			return Decimal{}, errors.New("invalid decimal " + s)
		}
	}
	if strings.Contains(mant, ".") && frac == "" || intPart == "" || intPart == "-" || intPart == "+" {
		return Decimal{}, errors.New("invalid decimal " + s)
	}
	c, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return Decimal{}, errors.New("invalid decimal " + s)
	}
	scale := int32(len(frac) - exp)
	if scale < 0 {
		c.Mul(c, new(big.Int).Exp(bigTen, big.NewInt(int64(-scale)), nil))
		scale = 0
	}
	return Decimal{c: c, scale: scale}, nil
}

// DecimalFromInt returns n as a Decimal with scale 0.
func DecimalFromInt(n int64) Decimal { return Decimal{c: big.NewInt(n)} }

func decimalFromFloat(f float64) (Decimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Decimal{}, false
	}
	d, err := ParseDecimal(strconv.FormatFloat(f, 'f', divScale, 64))
	if err != nil {
		return Decimal{}, false
	}
	return d.trim(0), true
}

func (d Decimal) coef() *big.Int {
	if d.c == nil {
		return bigZero
	}
	return d.c
}

// Scale returns the number of digits after the decimal point.
func (d Decimal) Scale() int { return int(d.scale) }

// String formats d with its scale ("1.50").
func (d Decimal) String() string {
	s := d.coef().String()
	if d.scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	for len(s) <= int(d.scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(d.scale)] + "." + s[len(s)-int(d.scale):]
	if neg {
		s = "-" + s
	}
	return s
}

func pow10(n int32) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

// rescale returns d's coefficient at scale s >= d.scale.
func (d Decimal) at(s int32) *big.Int {
	if s == d.scale {
		return d.coef()
	}
	return new(big.Int).Mul(d.coef(), pow10(s-d.scale))
}

func (d Decimal) Add(e Decimal) Decimal {
	s := max(d.scale, e.scale)
	return Decimal{c: new(big.Int).Add(d.at(s), e.at(s)), scale: s}
}

func (d Decimal) Sub(e Decimal) Decimal {
	s := max(d.scale, e.scale)
	return Decimal{c: new(big.Int).Sub(d.at(s), e.at(s)), scale: s}
}

func (d Decimal) Mul(e Decimal) Decimal {
	return Decimal{c: new(big.Int).Mul(d.coef(), e.coef()), scale: d.scale + e.scale}
}

// Div divides to divScale places and drops trailing zeros; ok is false on
// division by zero.
func (d Decimal) Div(e Decimal) (Decimal, bool) {
	if e.coef().Sign() == 0 {
		return Decimal{}, false
	}
	// d/e = (dc/10^ds) / (ec/10^es); result at scale divScale+1, then round.
	const s = divScale + 1
	num := new(big.Int).Mul(d.coef(), pow10(s+e.scale))
	den := new(big.Int).Mul(e.coef(), pow10(d.scale))
	q := new(big.Int).Quo(num, den)
	r := Decimal{c: q, scale: s}.Round(divScale)
	return r.trim(0), true
}

// trim removes trailing zeros down to scale min.
func (d Decimal) trim(min int32) Decimal {
	c := new(big.Int).Set(d.coef())
	s := d.scale
	m := new(big.Int)
	for s > min {
		q, r := new(big.Int).QuoRem(c, bigTen, m)
		if r.Sign() != 0 {
			break
		}
		c = q
		s--
	}
	return Decimal{c: c, scale: s}
}

func (d Decimal) Cmp(e Decimal) int {
	s := max(d.scale, e.scale)
	return d.at(s).Cmp(e.at(s))
}

func (d Decimal) Sign() int { return d.coef().Sign() }

func (d Decimal) Neg() Decimal { return Decimal{c: new(big.Int).Neg(d.coef()), scale: d.scale} }

func (d Decimal) Abs() Decimal { return Decimal{c: new(big.Int).Abs(d.coef()), scale: d.scale} }

// Round rounds half away from zero to n places.
func (d Decimal) Round(n int32) Decimal {
	if n >= d.scale {
		return Decimal{c: d.at(n), scale: n}
	}
	p := pow10(d.scale - n)
	q, r := new(big.Int).QuoRem(d.coef(), p, new(big.Int))
	r2 := new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2))
	if r2.Cmp(p) >= 0 {
		if d.coef().Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return Decimal{c: q, scale: n}
}

// Truncate drops digits beyond n places (toward zero).
func (d Decimal) Truncate(n int32) Decimal {
	if n >= d.scale {
		return Decimal{c: d.at(n), scale: n}
	}
	return Decimal{c: new(big.Int).Quo(d.coef(), pow10(d.scale-n)), scale: n}
}

// Floor rounds toward negative infinity to n places.
func (d Decimal) Floor(n int32) Decimal {
	t := d.Truncate(n)
	if d.Sign() < 0 && t.Cmp(d) != 0 {
		t = Decimal{c: new(big.Int).Sub(t.c, big.NewInt(1)), scale: n}
	}
	return t
}

// Ceil rounds toward positive infinity to n places.
func (d Decimal) Ceil(n int32) Decimal {
	t := d.Truncate(n)
	if d.Sign() > 0 && t.Cmp(d) != 0 {
		t = Decimal{c: new(big.Int).Add(t.c, big.NewInt(1)), scale: n}
	}
	return t
}

// IsInteger reports whether d has no fractional value.
func (d Decimal) IsInteger() bool { return d.trim(0).scale == 0 }

// Int64 returns the integer part of d and whether it fits.
func (d Decimal) Int64() (int64, bool) {
	t := d.Truncate(0)
	if !t.c.IsInt64() {
		return 0, false
	}
	return t.c.Int64(), true
}

func (d Decimal) Float64() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}
