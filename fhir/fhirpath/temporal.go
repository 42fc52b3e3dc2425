package fhirpath

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TemporalKind says whether a Temporal is a Date, DateTime or Time.
type TemporalKind uint8

// Temporal kinds.
const (
	KindDate TemporalKind = iota
	KindDateTime
	KindTime
)

// Precisions of a Temporal, from coarsest to finest.
const (
	PrecYear = iota
	PrecMonth
	PrecDay
	PrecHour
	PrecMinute
	PrecSecond
	PrecMillisecond
)

// Temporal is a computed System.Date, System.DateTime or System.Time value with
// its precision. Components beyond Prec are zero. For a Time, Year/Month/Day
// are unused.
type Temporal struct {
	Kind                        TemporalKind
	Prec                        int
	Year, Month, Day            int
	Hour, Minute, Second, Milli int
	HasTZ                       bool
	TZOffset                    int // seconds east of UTC, when HasTZ
}

var (
	fhirDateTimeRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+\-]\d{2}:\d{2})?)?)?)?$`)
	fhirTimeRE     = regexp.MustCompile(`^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$`)
)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func parseMilli(frac string) int {
	for len(frac) < 3 {
		frac += "0"
	}
	return atoi(frac[:3])
}

// parseDateTime parses a FHIR date/dateTime/instant string (also the
// FHIRPath literal form without '@', where "2015T" is a year-precision
// DateTime). kind is KindDate when there is no time part.
func parseDateTime(s string) (Temporal, bool) {
	forceDT := false
	if strings.HasSuffix(s, "T") {
		s = s[:len(s)-1]
		forceDT = true
	}
	m := fhirDateTimeRE.FindStringSubmatch(s)
	if m == nil {
		return Temporal{}, false
	}
	t := Temporal{Kind: KindDate, Year: atoi(m[1]), Month: 1, Day: 1}
	t.Prec = PrecYear
	if m[2] != "" {
		t.Month, t.Prec = atoi(m[2]), PrecMonth
		if t.Month < 1 || t.Month > 12 {
			return Temporal{}, false
		}
	}
	if m[3] != "" {
		t.Day, t.Prec = atoi(m[3]), PrecDay
		if t.Day < 1 || t.Day > daysIn(t.Year, t.Month) {
			return Temporal{}, false
		}
	}
	if forceDT {
		t.Kind = KindDateTime
	}
	if m[4] != "" {
		t.Kind = KindDateTime
		t.Hour, t.Prec = atoi(m[4]), PrecHour
		if m[5] != "" {
			t.Minute, t.Prec = atoi(m[5]), PrecMinute
		}
		if m[6] != "" {
			t.Second, t.Prec = atoi(m[6]), PrecSecond
		}
		if m[7] != "" {
			t.Milli, t.Prec = parseMilli(m[7]), PrecMillisecond
		}
		if t.Hour > 23 || t.Minute > 59 || t.Second > 59 {
			return Temporal{}, false
		}
	}
	if m[8] != "" {
		t.Kind = KindDateTime
		t.HasTZ = true
		if m[8] != "Z" {
			sign := 1
			if m[8][0] == '-' {
				sign = -1
			}
			t.TZOffset = sign * (atoi(m[8][1:3])*3600 + atoi(m[8][4:6])*60)
		}
	}
	return t, true
}

// parseTime parses a FHIR time ("10:30:00") or the literal form after 'T'.
func parseTime(s string) (Temporal, bool) {
	m := fhirTimeRE.FindStringSubmatch(s)
	if m == nil {
		return Temporal{}, false
	}
	t := Temporal{Kind: KindTime, Hour: atoi(m[1]), Prec: PrecHour}
	if m[2] != "" {
		t.Minute, t.Prec = atoi(m[2]), PrecMinute
	}
	if m[3] != "" {
		t.Second, t.Prec = atoi(m[3]), PrecSecond
	}
	if m[4] != "" {
		t.Milli, t.Prec = parseMilli(m[4]), PrecMillisecond
	}
	if t.Hour > 23 || t.Minute > 59 || t.Second > 59 {
		return Temporal{}, false
	}
	return t, true
}

func parseTemporalLiteral(s string) (Item, error) {
	if strings.HasPrefix(s, "T") {
		t, ok := parseTime(s[1:])
		if !ok {
			return Item{}, fmt.Errorf("invalid time literal @%s", s)
		}
		return Item{v: t, typ: tTime}, nil
	}
	t, ok := parseDateTime(s)
	if !ok {
		return Item{}, fmt.Errorf("invalid date/time literal @%s", s)
	}
	if t.Kind == KindDate {
		return Item{v: t, typ: tDate}, nil
	}
	return Item{v: t, typ: tDateTime}, nil
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func pad(n, w int) string {
	s := strconv.Itoa(n)
	for len(s) < w {
		s = "0" + s
	}
	return s
}

// String formats t in FHIR/ISO 8601 form at its precision (no '@').
func (t Temporal) String() string {
	var b strings.Builder
	if t.Kind != KindTime {
		b.WriteString(pad(t.Year, 4))
		if t.Prec >= PrecMonth {
			b.WriteString("-" + pad(t.Month, 2))
		}
		if t.Prec >= PrecDay {
			b.WriteString("-" + pad(t.Day, 2))
		}
		if t.Kind == KindDate {
			return b.String()
		}
		if t.Prec >= PrecHour {
			b.WriteString("T")
		}
	}
	if t.Prec >= PrecHour {
		b.WriteString(pad(t.Hour, 2))
	}
	if t.Prec >= PrecMinute {
		b.WriteString(":" + pad(t.Minute, 2))
	}
	if t.Prec >= PrecSecond {
		b.WriteString(":" + pad(t.Second, 2))
	}
	if t.Prec >= PrecMillisecond {
		b.WriteString("." + pad(t.Milli, 3))
	}
	if t.Kind == KindDateTime && t.HasTZ && t.Prec >= PrecHour {
		if t.TZOffset == 0 {
			b.WriteString("Z")
		} else {
			o := t.TZOffset
			sign := "+"
			if o < 0 {
				sign, o = "-", -o
			}
			b.WriteString(sign + pad(o/3600, 2) + ":" + pad(o%3600/60, 2))
		}
	}
	return b.String()
}

func (t Temporal) goTime() time.Time {
	loc := time.UTC
	if t.HasTZ && t.TZOffset != 0 {
		loc = time.FixedZone("", t.TZOffset)
	}
	y, mo, d := t.Year, t.Month, t.Day
	if t.Kind == KindTime {
		y, mo, d = 2000, 1, 1
	}
	return time.Date(y, time.Month(mo), d, t.Hour, t.Minute, t.Second, t.Milli*1e6, loc)
}

func fromGoTime(g time.Time, like Temporal) Temporal {
	r := like
	if like.Kind != KindTime {
		r.Year, r.Month, r.Day = g.Year(), int(g.Month()), g.Day()
	}
	r.Hour, r.Minute, r.Second, r.Milli = g.Hour(), g.Minute(), g.Second(), g.Nanosecond()/1e6
	return r.clearBelow()
}

func (t Temporal) clearBelow() Temporal {
	if t.Kind != KindTime {
		if t.Prec < PrecMonth {
			t.Month = 1
		}
		if t.Prec < PrecDay {
			t.Day = 1
		}
	}
	if t.Prec < PrecHour {
		t.Hour = 0
	}
	if t.Prec < PrecMinute {
		t.Minute = 0
	}
	if t.Prec < PrecSecond {
		t.Second = 0
	}
	if t.Prec < PrecMillisecond {
		t.Milli = 0
	}
	return t
}

// inUTC converts a DateTime with a time zone to UTC components.
func (t Temporal) inUTC() Temporal {
	if !t.HasTZ || t.TZOffset == 0 || t.Prec < PrecHour {
		return t
	}
	g := t.goTime().UTC()
	r := fromGoTime(g, t)
	r.TZOffset = 0
	return r
}

// compareTemporal compares a and b. ok is false when the result is unknown
// (different precision with equal common components, incomparable kinds, or
// a time-zone mismatch).
func compareTemporal(a, b Temporal) (c int, ok bool) {
	if (a.Kind == KindTime) != (b.Kind == KindTime) {
		return 0, false
	}
	if a.Kind != KindTime && a.Prec >= PrecHour && b.Prec >= PrecHour {
		if a.HasTZ != b.HasTZ {
			return 0, false
		}
		a, b = a.inUTC(), b.inUTC()
	}
	pa, pb := min(a.Prec, PrecSecond), min(b.Prec, PrecSecond)
	start := PrecYear
	if a.Kind == KindTime {
		start = PrecHour
	}
	for p := start; p <= min(pa, pb); p++ {
		var x, y int
		switch p {
		case PrecYear:
			x, y = a.Year, b.Year
		case PrecMonth:
			x, y = a.Month, b.Month
		case PrecDay:
			x, y = a.Day, b.Day
		case PrecHour:
			x, y = a.Hour, b.Hour
		case PrecMinute:
			x, y = a.Minute, b.Minute
		case PrecSecond:
			x, y = a.Second*1000+a.Milli, b.Second*1000+b.Milli
		}
		if x != y {
			if x < y {
				return -1, true
			}
			return 1, true
		}
	}
	if pa != pb {
		return 0, false
	}
	return 0, true
}

// calendar units and their precision level.
var unitPrec = map[string]int{
	"year": PrecYear, "month": PrecMonth, "week": PrecDay, "day": PrecDay, "hour": PrecHour,
	"minute": PrecMinute, "second": PrecSecond, "millisecond": PrecMillisecond,
	"wk": PrecDay, "d": PrecDay, "h": PrecHour, "min": PrecMinute,
	"s": PrecSecond, "ms": PrecMillisecond,
}

// UCUM definite durations usable in date arithmetic ('a' and 'mo' are not
// calendar years and months, so they are refused).
var ucumToCalendar = map[string]string{"wk": "week", "d": "day", "h": "hour",
	"min": "minute", "s": "second", "ms": "millisecond"}

// addQuantity adds (sign=1) or subtracts (sign=-1) a time-valued quantity.
func addQuantity(t Temporal, q Quantity, sign int) (Temporal, bool) {
	unit := normCal(q.Unit)
	if c, ok := ucumToCalendar[unit]; ok {
		unit = c
	}
	if _, ok := unitPrec[unit]; !ok {
		return Temporal{}, false
	}
	if t.Kind == KindTime && (unit == "year" || unit == "month" || unit == "week" || unit == "day") {
		return Temporal{}, false
	}
	val := q.Value
	if sign < 0 {
		val = val.Neg()
	}
	// Express the quantity at the value's precision when it is finer.
	switch {
	case unit == "week":
		val, unit = val.Mul(DecimalFromInt(7)), "day"
	}
	conv := []struct {
		from, to string
		f        int64
	}{{"millisecond", "second", 1000}, {"second", "minute", 60}, {"minute", "hour", 60}, {"hour", "day", 24}, {"month", "year", 12}}
	maxPrec := t.Prec
	if t.Kind == KindDate && maxPrec > PrecDay {
		maxPrec = PrecDay
	}
	for changed := true; changed; {
		changed = false
		if unitPrec[unit] > maxPrec {
			for _, c := range conv {
				if c.from == unit {
					val, _ = val.Div(DecimalFromInt(c.f))
					unit = c.to
					changed = true
					break
				}
			}
			if unit == "day" && maxPrec < PrecDay {
				// days to months/years are not defined: truncate to nothing added
				if maxPrec <= PrecMonth {
					val, unit = val.Truncate(0), "day"
				}
				break
			}
		}
	}
	n := val.Truncate(0) // the decimal part of a time-valued quantity is ignored
	g := t.goTime()
	iv, _ := n.Int64()
	switch unit {
	case "year":
		g = addMonths(g, int(iv)*12)
	case "month":
		g = addMonths(g, int(iv))
	case "day":
		if t.Prec < PrecDay {
			return t, true
		}
		g = g.AddDate(0, 0, int(iv))
	case "hour":
		g = g.Add(time.Duration(iv) * time.Hour)
	case "minute":
		g = g.Add(time.Duration(iv) * time.Minute)
	case "second":
		g = g.Add(time.Duration(iv) * time.Second)
	case "millisecond":
		g = g.Add(time.Duration(iv) * time.Millisecond)
	}
	return fromGoTime(g, t), true
}

// addMonths adds months, clamping the day to the end of the month.
func addMonths(g time.Time, n int) time.Time {
	y, m, d := g.Date()
	tm := int(m) - 1 + n
	y += tm / 12
	tm %= 12
	if tm < 0 {
		tm += 12
		y--
	}
	if dm := daysIn(y, tm+1); d > dm {
		d = dm
	}
	return time.Date(y, time.Month(tm+1), d, g.Hour(), g.Minute(), g.Second(), g.Nanosecond(), g.Location())
}

// precisionDigits is the precision() of a temporal: the number of digits.
func (t Temporal) precisionDigits() int {
	if t.Kind == KindTime {
		return []int{0, 0, 0, 2, 4, 6, 9}[t.Prec]
	}
	return []int{4, 6, 8, 10, 12, 14, 17}[t.Prec]
}

func precFromDigits(kind TemporalKind, digits int) (int, bool) {
	var table []int
	if kind == KindTime {
		table = []int{-1, -1, -1, 2, 4, 6, 9}
	} else {
		table = []int{4, 6, 8, 10, 12, 14, 17}
	}
	for p, d := range table {
		if d == digits {
			return p, true
		}
	}
	return 0, false
}

// boundary returns the lowest or highest value t could stand for at the
// given precision (in digits; 0 = the finest).
func (t Temporal) boundary(high bool, digits int, hasDigits bool) (Temporal, bool) {
	prec := PrecMillisecond
	if hasDigits {
		p, ok := precFromDigits(t.Kind, digits)
		if !ok {
			return Temporal{}, false
		}
		prec = p
	}
	if t.Kind == KindDate && !hasDigits {
		prec = PrecDay
	}
	r := t
	if prec > t.Prec {
		for p := t.Prec + 1; p <= prec; p++ {
			switch p {
			case PrecMonth:
				r.Month = pick(high, 1, 12)
			case PrecDay:
				r.Day = pick(high, 1, daysIn(r.Year, r.Month))
			case PrecHour:
				r.Hour = pick(high, 0, 23)
			case PrecMinute:
				r.Minute = pick(high, 0, 59)
			case PrecSecond:
				r.Second = pick(high, 0, 59)
			case PrecMillisecond:
				r.Milli = pick(high, 0, 999)
			}
		}
		if r.Kind == KindDateTime && !r.HasTZ && prec >= PrecHour {
			r.HasTZ = true
			r.TZOffset = pick(high, 14*3600, -12*3600)
		}
	}
	r.Prec = prec
	if r.Kind == KindDateTime && prec <= PrecDay && hasDigits {
		r.Kind = KindDate
	}
	return r.clearBelow(), true
}

func pick(high bool, lo, hi int) int {
	if high {
		return hi
	}
	return lo
}
