package search

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalize is the string-search form of s: accents folded (NFD then
// combining marks dropped), lower case, whitespace collapsed to one space
// and trimmed. Both index entries (Entry.Norm, Entry.Text) and search values
// go through it, so "Zoë  O'Brien" is found by "zoe o'b".
func normalize(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	write := func(r rune) {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			return
		}
		if unicode.Is(unicode.Mn, r) {
			return
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	if ascii {
		for _, r := range s {
			write(r)
		}
		return b.String()
	}
	for _, r := range norm.NFD.String(s) {
		write(r)
	}
	// Recompose what remains (e.g. letters whose marks are not Mn).
	return norm.NFC.String(b.String())
}

// dateRange parses a FHIR date, dateTime or instant (or a search date value)
// into the range [low, high) it covers at its precision: "2024" is the year,
// "2024-03" March, "2024-03-05T10:00" that minute, "…T10:00:00.50Z" those ten
// milliseconds. A time without a zone is taken as UTC: the spec leaves it to
// the server, and UTC keeps index and search values consistent whatever
// machine runs the server. Results are in UTC.
func dateRange(s string) (low, high time.Time, ok bool) {
	n := len(s)
	num := func(i, w int) (int, bool) {
		if i+w > n {
			return 0, false
		}
		v := 0
		for j := i; j < i+w; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok := num(0, 4)
	if !ok {
		return low, high, false
	}
	month, day, hour, min, sec, nsec := 1, 1, 0, 0, 0, 0
	var step func(time.Time) time.Time
	loc := time.UTC
	i := 4
	valid := func(t time.Time) bool {
		return t.Year() == year && int(t.Month()) == month && t.Day() == day
	}
	if i == n {
		step = func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
		goto done
	}
	if s[i] != '-' {
		return low, high, false
	}
	if month, ok = num(i+1, 2); !ok || month < 1 || month > 12 {
		return low, high, false
	}
	i += 3
	if i == n {
		step = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
		goto done
	}
	if s[i] != '-' {
		return low, high, false
	}
	if day, ok = num(i+1, 2); !ok || day < 1 {
		return low, high, false
	}
	i += 3
	if i == n {
		step = func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
		goto done
	}
	if s[i] != 'T' {
		return low, high, false
	}
	if hour, ok = num(i+1, 2); !ok || hour > 23 || i+3 >= n || s[i+3] != ':' {
		return low, high, false
	}
	if min, ok = num(i+4, 2); !ok || min > 59 {
		return low, high, false
	}
	i += 6
	step = func(t time.Time) time.Time { return t.Add(time.Minute) }
	if i < n && s[i] == ':' {
		if sec, ok = num(i+1, 2); !ok || sec > 59 {
			return low, high, false
		}
		i += 3
		step = func(t time.Time) time.Time { return t.Add(time.Second) }
		if i < n && s[i] == '.' {
			j := i + 1
			for j < n && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			digits := j - i - 1
			if digits == 0 || digits > 9 {
				return low, high, false
			}
			f, _ := num(i+1, digits)
			unit := time.Duration(1)
			for k := digits; k < 9; k++ {
				f *= 10
				unit *= 10
			}
			nsec = f
			step = func(t time.Time) time.Time { return t.Add(unit) }
			i = j
		}
	}
	// The zone: Z, ±hh:mm, or none (UTC).
	if i < n {
		switch s[i] {
		case 'Z':
			if i+1 != n {
				return low, high, false
			}
		case '+', '-':
			zh, ok1 := num(i+1, 2)
			zm, ok2 := num(i+4, 2)
			if !ok1 || !ok2 || s[i+3] != ':' || i+6 != n || zh > 14 || zm > 59 {
				return low, high, false
			}
			off := zh*3600 + zm*60
			if s[i] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		default:
			return low, high, false
		}
	}
done:
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
	if !valid(t) {
		return low, high, false
	}
	return t.UTC(), step(t).UTC(), true
}

// decimal is a parsed FHIR decimal with the range its written precision
// implies.
type decimal struct {
	v, lo, hi float64
}

// parseDecimal parses a decimal as written ("100", "1.50", "-3", "1e2") and
// computes its implicit range: half a unit of the last written digit either
// side ("100" → [99.5, 100.5), "1.50" → [1.495, 1.505)), computed exactly
// (big.Rat) so that the bounds are the nearest float64s.
func parseDecimal(s string) (decimal, bool) {
	if s == "" || len(s) > 64 {
		return decimal{}, false
	}
	// Only plain decimals: strconv would also take "inf", "0x1p3", "1_000".
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 300 || e < -300 {
			return decimal{}, false
		}
		mant, exp = s[:i], e
	}
	digits, decimals, dot := 0, 0, false
	for i := 0; i < len(mant); i++ {
		c := mant[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if dot {
				decimals++
			}
		case c == '.' && !dot:
			dot = true
		case (c == '-' || c == '+') && i == 0:
		default:
			return decimal{}, false
		}
	}
	if digits == 0 {
		return decimal{}, false
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return decimal{}, false
	}
	// half = 5 × 10^(exp - decimals - 1)
	p := exp - decimals - 1
	half := big.NewRat(5, 1)
	ten := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(p))), nil))
	if p >= 0 {
		half.Mul(half, ten)
	} else {
		half.Quo(half, ten)
	}
	f, _ := v.Float64()
	lo, _ := new(big.Rat).Sub(v, half).Float64()
	hi, _ := new(big.Rat).Add(v, half).Float64()
	if math.IsInf(f, 0) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return decimal{}, false
	}
	return decimal{v: f, lo: lo, hi: hi}, true
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// splitEscaped splits s at each sep not escaped by a backslash. The parts
// keep their escapes (unescape them once split completely).
func splitEscaped(s string, sep byte) []string {
	if strings.IndexByte(s, sep) < 0 {
		return []string{s}
	}
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescape removes the search escapes \, \| \$ \\ (R4 search.html#escaping);
// a backslash before any other character is kept as written.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,|$\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// The open ends of number ranges (a Range without low or high). Finite, so
// that every backend can store them.
const (
	negInf = -math.MaxFloat64
	posInf = math.MaxFloat64
)
