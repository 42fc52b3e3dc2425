package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"ucp/fhir/model"
)

type funcNode struct {
	name string
	args []node
	def  *funcDef
	ts   typeSpec // for is/as/ofType
}

type funcDef struct {
	min, max int
	call     func(c *evalCtx, in Collection, n *funcNode) (Collection, error)
}

var funcs map[string]*funcDef

func init() {
	funcs = map[string]*funcDef{
		// existence
		"empty":      {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) { return boolColl(len(in) == 0), nil }},
		"exists":     {0, 1, fnExists},
		"all":        {1, 1, fnAll},
		"allTrue":    {0, 0, boolAgg(true, true)},
		"anyTrue":    {0, 0, boolAgg(true, false)},
		"allFalse":   {0, 0, boolAgg(false, true)},
		"anyFalse":   {0, 0, boolAgg(false, false)},
		"subsetOf":   {1, 1, fnSubset(false)},
		"supersetOf": {1, 1, fnSubset(true)},
		"count": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			return Collection{intItem(int64(len(in)))}, nil
		}},
		"distinct": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) { return union(in, nil), nil }},
		"isDistinct": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			return boolColl(len(union(in, nil)) == len(in)), nil
		}},
		// filtering and projection
		"where":  {1, 1, fnWhere},
		"select": {1, 1, fnSelect},
		"repeat": {1, 1, fnRepeat},
		"ofType": {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			var out Collection
			for _, it := range in {
				if n.ts.matchesExact(it) {
					out = append(out, it)
				}
			}
			return out, nil
		}},
		// subsetting
		"single": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			if len(in) > 1 {
				return nil, errf("single() on a collection of %d items", len(in))
			}
			return in, nil
		}},
		"first": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			if len(in) == 0 {
				return nil, nil
			}
			return in[:1:1], nil
		}},
		"last": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			if len(in) == 0 {
				return nil, nil
			}
			return in[len(in)-1:], nil
		}},
		"tail": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			if len(in) <= 1 {
				return nil, nil
			}
			return in[1:], nil
		}},
		"skip":      {1, 1, fnSkipTake(true)},
		"take":      {1, 1, fnSkipTake(false)},
		"intersect": {1, 1, fnIntersect(true)},
		"exclude":   {1, 1, fnIntersect(false)},
		// combining
		"union": {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			o, err := c.arg(n, 0)
			if err != nil {
				return nil, err
			}
			return union(in, o), nil
		}},
		"combine": {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			o, err := c.arg(n, 0)
			if err != nil {
				return nil, err
			}
			out := make(Collection, 0, len(in)+len(o))
			return append(append(out, in...), o...), nil
		}},
		// conversion
		"iif":                {2, 3, fnIif},
		"toBoolean":          {0, 0, conv(toBoolean, false)},
		"convertsToBoolean":  {0, 0, conv(toBoolean, true)},
		"toInteger":          {0, 0, conv(toInteger, false)},
		"convertsToInteger":  {0, 0, conv(toInteger, true)},
		"toLong":             {0, 0, conv(toLong, false)},
		"convertsToLong":     {0, 0, conv(toLong, true)},
		"toDecimal":          {0, 0, conv(toDecimalItem, false)},
		"convertsToDecimal":  {0, 0, conv(toDecimalItem, true)},
		"toString":           {0, 0, conv(toStringItem, false)},
		"convertsToString":   {0, 0, conv(toStringItem, true)},
		"toDate":             {0, 0, conv(toTemporal(KindDate), false)},
		"convertsToDate":     {0, 0, conv(toTemporal(KindDate), true)},
		"toDateTime":         {0, 0, conv(toTemporal(KindDateTime), false)},
		"convertsToDateTime": {0, 0, conv(toTemporal(KindDateTime), true)},
		"toTime":             {0, 0, conv(toTemporal(KindTime), false)},
		"convertsToTime":     {0, 0, conv(toTemporal(KindTime), true)},
		"toQuantity":         {0, 1, fnToQuantity(false)},
		"convertsToQuantity": {0, 1, fnToQuantity(true)},
		// strings
		"indexOf":     {1, 1, strFn(fnIndexOf)},
		"lastIndexOf": {1, 1, strFn(fnLastIndexOf)},
		"substring":   {1, 2, strFn(fnSubstring)},
		"startsWith": {1, 1, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			return strPred(c, n, s, strings.HasPrefix)
		})},
		"endsWith": {1, 1, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			return strPred(c, n, s, strings.HasSuffix)
		})},
		"contains": {1, 1, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) { return strPred(c, n, s, strings.Contains) })},
		"upper": {0, 0, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			return Collection{strItem(strings.ToUpper(s))}, nil
		})},
		"lower": {0, 0, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			return Collection{strItem(strings.ToLower(s))}, nil
		})},
		"replace":        {2, 2, strFn(fnReplace)},
		"matches":        {1, 1, strFn(fnMatches(false))},
		"matchesFull":    {1, 1, strFn(fnMatches(true))},
		"replaceMatches": {2, 2, strFn(fnReplaceMatches)},
		"length": {0, 0, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			return Collection{intItem(int64(utf8.RuneCountInString(s)))}, nil
		})},
		"toChars": {0, 0, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			var out Collection
			for _, r := range s {
				out = append(out, strItem(string(r)))
			}
			return out, nil
		})},
		"trim": {0, 0, strFn(func(c *evalCtx, s string, n *funcNode) (Collection, error) {
			return Collection{strItem(strings.TrimSpace(s))}, nil
		})},
		"split":    {1, 1, strFn(fnSplit)},
		"join":     {0, 1, fnJoin},
		"encode":   {1, 1, strFn(fnEncode(true))},
		"decode":   {1, 1, strFn(fnEncode(false))},
		"escape":   {1, 1, strFn(fnEscape(true))},
		"unescape": {1, 1, strFn(fnEscape(false))},
		// math
		"abs":      {0, 0, mathFn(fnAbs)},
		"ceiling":  {0, 0, mathFn(func(v any) (Item, bool) { return roundFn(v, Decimal.Ceil) })},
		"floor":    {0, 0, mathFn(func(v any) (Item, bool) { return roundFn(v, Decimal.Floor) })},
		"truncate": {0, 0, mathFn(func(v any) (Item, bool) { return roundFn(v, Decimal.Truncate) })},
		"exp":      {0, 0, mathFn(floatFn(math.Exp))},
		"ln":       {0, 0, mathFn(floatFn(math.Log))},
		"sqrt":     {0, 0, mathFn(floatFn(math.Sqrt))},
		"log":      {1, 1, fnLog},
		"power":    {1, 1, fnPower},
		"round":    {0, 1, fnRound},
		// tree navigation
		"children": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			var out Collection
			for _, it := range in {
				out = c.children(out, it)
			}
			return out, nil
		}},
		"descendants": {0, 0, fnDescendants},
		// utility
		"trace":     {1, 2, fnTrace},
		"now":       {0, 0, fnNow(KindDateTime)},
		"today":     {0, 0, fnNow(KindDate)},
		"timeOfDay": {0, 0, fnNow(KindTime)},
		"not": {0, 0, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
			b, ok, err := toBool(in)
			if err != nil || !ok {
				return nil, err
			}
			return boolColl(!b), nil
		}},
		"is":           {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) { return typeOp(c, "is", in, n.ts) }},
		"as":           {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) { return typeOp(c, "as", in, n.ts) }},
		"type":         {0, 0, fnType},
		"aggregate":    {1, 2, fnAggregate},
		"sort":         {0, -1, fnSort},
		"lowBoundary":  {0, 1, fnBoundary(false)},
		"highBoundary": {0, 1, fnBoundary(true)},
		"precision":    {0, 0, fnPrecision},
		"comparable":   {1, 1, fnComparable},
		// FHIR additions
		"extension":  {1, 1, fnExtension},
		"hasValue":   {0, 0, fnHasValue},
		"getValue":   {0, 0, fnGetValue},
		"resolve":    {0, 0, fnResolve},
		"htmlChecks": {0, 0, fnHTMLChecks},
		"memberOf":   {1, 1, fnMemberOf},
		"conformsTo": {1, 1, fnConformsTo},
		"subsumes":   {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) { return nil, nil }},
		"subsumedBy": {1, 1, func(c *evalCtx, in Collection, n *funcNode) (Collection, error) { return nil, nil }},
	}
}

func newFunc(t token, args []node, p *parser) (node, error) {
	def, ok := funcs[t.text]
	if !ok {
		return nil, p.errf(t.pos, "unknown function %s()", t.text)
	}
	if len(args) < def.min || def.max >= 0 && len(args) > def.max {
		return nil, p.errf(t.pos, "%s() takes %s arguments, got %d", t.text, arity(def), len(args))
	}
	n := &funcNode{name: t.text, args: args, def: def}
	switch t.text {
	case "is", "as", "ofType":
		name, ok := typeNameOf(args[0])
		if !ok {
			return nil, p.errf(t.pos, "%s() needs a type name", t.text)
		}
		n.ts = newTypeSpec(name)
		if !n.ts.valid() {
			return nil, p.errf(t.pos, "unknown type %s", name)
		}
	}
	return n, nil
}

func arity(d *funcDef) string {
	if d.max < 0 {
		return strconv.Itoa(d.min) + " or more"
	}
	if d.min == d.max {
		return strconv.Itoa(d.min)
	}
	return strconv.Itoa(d.min) + " to " + strconv.Itoa(d.max)
}

func (n *funcNode) eval(c *evalCtx, focus Collection) (Collection, error) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth*4 {
		return nil, errf("evaluation nested too deeply")
	}
	return n.def.call(c, focus, n)
}

// arg evaluates a non-iterating argument in the scope of the invocation.
func (c *evalCtx) arg(n *funcNode, i int) (Collection, error) {
	if i >= len(n.args) {
		return nil, nil
	}
	return n.args[i].eval(c, c.this)
}

// each evaluates body once per item with $this/$index set.
func (c *evalCtx) each(in Collection, body node, f func(i int, it Item, r Collection) (bool, error)) error {
	savedThis, savedIdx := c.this, c.index
	defer func() { c.this, c.index = savedThis, savedIdx }()
	for i := range in {
		one := in[i : i+1 : i+1]
		c.this, c.index = one, i
		r, err := body.eval(c, one)
		if err != nil {
			return err
		}
		stop, err := f(i, in[i], r)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

func fnExists(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	if len(n.args) == 0 {
		return boolColl(len(in) > 0), nil
	}
	found := false
	err := c.each(in, n.args[0], func(i int, it Item, r Collection) (bool, error) {
		b, ok, err := toBool(r)
		if err != nil {
			return true, err
		}
		if ok && b {
			found = true
			return true, nil
		}
		return false, nil
	})
	return boolColl(found), err
}

func fnAll(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	all := true
	err := c.each(in, n.args[0], func(i int, it Item, r Collection) (bool, error) {
		b, ok, err := toBool(r)
		if err != nil {
			return true, err
		}
		if !ok || !b {
			all = false
			return true, nil
		}
		return false, nil
	})
	return boolColl(all), err
}

func boolAgg(want, all bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		for _, it := range in {
			b, ok := it.sys().(bool)
			if !ok {
				return nil, errf("%s() needs Boolean items", n.name)
			}
			if all && b != want {
				return boolColl(false), nil
			}
			if !all && b == want {
				return boolColl(true), nil
			}
		}
		return boolColl(all), nil
	}
}

func fnSubset(super bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		o, err := c.arg(n, 0)
		if err != nil {
			return nil, err
		}
		a, b := in, o
		if super {
			a, b = o, in
		}
		for _, x := range a {
			if !contains(b, x) {
				return boolColl(false), nil
			}
		}
		return boolColl(true), nil
	}
}

func fnWhere(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var out Collection
	err := c.each(in, n.args[0], func(i int, it Item, r Collection) (bool, error) {
		b, ok, err := toBool(r)
		if err != nil {
			return true, err
		}
		if ok && b {
			out = append(out, it)
		}
		return false, nil
	})
	return out, err
}

func fnSelect(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var out Collection
	err := c.each(in, n.args[0], func(i int, it Item, r Collection) (bool, error) {
		out = append(out, r...)
		return false, nil
	})
	return out, err
}

func fnRepeat(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var out Collection
	queue := in
	for len(queue) > 0 {
		var next Collection
		err := c.each(queue, n.args[0], func(i int, it Item, r Collection) (bool, error) {
			for _, x := range r {
				if !contains(out, x) {
					out = append(out, x)
					next = append(next, x)
				}
			}
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) > 100000 {
			return nil, errf("repeat() produced too many items")
		}
		queue = next
	}
	return out, nil
}

func fnSkipTake(skip bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		a, err := c.arg(n, 0)
		if err != nil {
			return nil, err
		}
		k, ok := toInt(a)
		if !ok {
			return nil, errf("%s() needs an integer", n.name)
		}
		if k < 0 {
			k = 0
		}
		if k > int64(len(in)) {
			k = int64(len(in))
		}
		if skip {
			return in[k:], nil
		}
		return in[:k:k], nil
	}
}

func fnIntersect(keep bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		o, err := c.arg(n, 0)
		if err != nil {
			return nil, err
		}
		var out Collection
		for _, x := range in {
			if contains(o, x) == keep {
				if keep && contains(out, x) {
					continue
				}
				out = append(out, x)
			}
		}
		return out, nil
	}
}

func fnIif(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	if len(in) > 1 {
		return nil, errf("iif() on a collection of %d items", len(in))
	}
	saved := c.this
	if len(in) == 1 {
		c.this = in
	}
	defer func() { c.this = saved }()
	crit, err := n.args[0].eval(c, c.this)
	if err != nil {
		return nil, err
	}
	if len(crit) == 1 {
		if _, isBool := crit[0].sys().(bool); !isBool {
			return nil, errf("iif() criterion is not a Boolean")
		}
	}
	b, ok, err := toBool(crit)
	if err != nil {
		return nil, err
	}
	if ok && b {
		return n.args[1].eval(c, c.this)
	}
	if len(n.args) > 2 {
		return n.args[2].eval(c, c.this)
	}
	return nil, nil
}

// ---- conversions ----

func conv(f func(Item) (Item, bool), test bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, errf("%s() on a collection of %d items", n.name, len(in))
		}
		r, ok := f(in[0])
		if test {
			return boolColl(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return Collection{r}, nil
	}
}

var (
	intRE = regexp.MustCompile(`^[+-]?\d+$`)
	decRE = regexp.MustCompile(`^[+-]?\d+(\.\d+)?$`)
	qtyRE = regexp.MustCompile(`^([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?$`)
)

func toBoolean(it Item) (Item, bool) {
	switch v := it.sys().(type) {
	case bool:
		return boolItem(v), true
	case int64:
		if v == 0 || v == 1 {
			return boolItem(v == 1), true
		}
	case Decimal:
		if v.Cmp(DecimalFromInt(1)) == 0 {
			return boolItem(true), true
		}
		if v.Sign() == 0 {
			return boolItem(false), true
		}
	case string:
		switch strings.ToLower(v) {
		case "true", "t", "yes", "y", "1", "1.0":
			return boolItem(true), true
		case "false", "f", "no", "n", "0", "0.0":
			return boolItem(false), true
		}
	}
	return Item{}, false
}

func toInteger(it Item) (Item, bool) {
	switch v := it.sys().(type) {
	case int64:
		return intItem(v), true
	case bool:
		if v {
			return intItem(1), true
		}
		return intItem(0), true
	case string:
		if intRE.MatchString(v) {
			n, err := strconv.ParseInt(v, 10, 32)
			if err == nil {
				return intItem(n), true
			}
		}
	}
	return Item{}, false
}

func toLong(it Item) (Item, bool) {
	switch v := it.sys().(type) {
	case int64:
		return Item{v: v, typ: tLong_}, true
	case bool:
		if v {
			return Item{v: int64(1), typ: tLong_}, true
		}
		return Item{v: int64(0), typ: tLong_}, true
	case string:
		if intRE.MatchString(v) {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return Item{v: n, typ: tLong_}, true
			}
		}
	}
	return Item{}, false
}

func toDecimalItem(it Item) (Item, bool) {
	switch v := it.sys().(type) {
	case int64:
		return decItem(DecimalFromInt(v)), true
	case Decimal:
		return decItem(v), true
	case bool:
		if v {
			return decItem(Decimal{c: DecimalFromInt(10).c, scale: 1}), true
		}
		return decItem(Decimal{c: DecimalFromInt(0).c, scale: 1}), true
	case string:
		if decRE.MatchString(v) {
			d, err := ParseDecimal(v)
			if err == nil {
				return decItem(d), true
			}
		}
	}
	return Item{}, false
}

func toStringItem(it Item) (Item, bool) {
	s, ok := stringOf(it)
	if !ok {
		return Item{}, false
	}
	return strItem(s), true
}

// stringOf renders a primitive value as a String.
func stringOf(it Item) (string, bool) {
	switch v := it.sys().(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case Decimal:
		return v.String(), true
	case Temporal:
		return v.String(), true
	case Quantity:
		return v.String(), true
	}
	return "", false
}

func toTemporal(kind TemporalKind) func(Item) (Item, bool) {
	return func(it Item) (Item, bool) {
		var t Temporal
		switch v := it.sys().(type) {
		case Temporal:
			t = v
		case string:
			var ok bool
			if kind == KindTime {
				t, ok = parseTime(v)
			} else {
				t, ok = parseDateTime(v)
			}
			if !ok {
				return Item{}, false
			}
		default:
			return Item{}, false
		}
		switch kind {
		case KindTime:
			if t.Kind != KindTime {
				return Item{}, false
			}
		case KindDate:
			if t.Kind == KindTime {
				return Item{}, false
			}
			t.Kind = KindDate
			if t.Prec > PrecDay {
				t.Prec = PrecDay
			}
			t.HasTZ, t.TZOffset = false, 0
			t = t.clearBelow()
		case KindDateTime:
			if t.Kind == KindTime {
				return Item{}, false
			}
			t.Kind = KindDateTime
		}
		return temporalItem(t), true
	}
}

func quantityOf(it Item) (Quantity, bool) {
	switch v := it.sys().(type) {
	case Quantity:
		return v, true
	case int64:
		return Quantity{DecimalFromInt(v), "1"}, true
	case Decimal:
		return Quantity{v, "1"}, true
	case bool:
		if v {
			return Quantity{Decimal{c: DecimalFromInt(10).c, scale: 1}, "1"}, true
		}
		return Quantity{Decimal{c: DecimalFromInt(0).c, scale: 1}, "1"}, true
	case string:
		m := qtyRE.FindStringSubmatch(strings.TrimSpace(v))
		if m == nil {
			return Quantity{}, false
		}
		d, err := ParseDecimal(m[1])
		if err != nil {
			return Quantity{}, false
		}
		unit := "1"
		if m[2] != "" {
			unit = m[2]
		} else if m[3] != "" {
			u, ok := calendarUnits[m[3]]
			if !ok {
				return Quantity{}, false
			}
			unit = u
		}
		return Quantity{d, unit}, true
	}
	return Quantity{}, false
}

func fnToQuantity(test bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, errf("%s() on a collection of %d items", n.name, len(in))
		}
		q, ok := quantityOf(in[0])
		if ok && len(n.args) > 0 {
			a, err := c.arg(n, 0)
			if err != nil {
				return nil, err
			}
			u, _, err := toStringVal(a)
			if err != nil {
				return nil, err
			}
			q, ok = convertQuantity(q, u)
			if !ok && normCal(q.Unit) == normCal(u) {
				ok = true
			}
		}
		if test {
			return boolColl(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return Collection{qtyItem(q)}, nil
	}
}

// ---- strings ----

func strFn(f func(c *evalCtx, s string, n *funcNode) (Collection, error)) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, errf("%s() on a collection of %d items", n.name, len(in))
		}
		s, ok := in[0].sys().(string)
		if !ok {
			return nil, errf("%s() needs a String, got %s", n.name, typeLabel(in[0]))
		}
		return f(c, s, n)
	}
}

func strArg(c *evalCtx, n *funcNode, i int) (string, bool, error) {
	a, err := c.arg(n, i)
	if err != nil {
		return "", false, err
	}
	return toStringVal(a)
}

func strPred(c *evalCtx, n *funcNode, s string, f func(a, b string) bool) (Collection, error) {
	a, ok, err := strArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	return boolColl(f(s, a)), nil
}

func fnIndexOf(c *evalCtx, s string, n *funcNode) (Collection, error) {
	a, ok, err := strArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	i := strings.Index(s, a)
	if i > 0 {
		i = utf8.RuneCountInString(s[:i])
	}
	return Collection{intItem(int64(i))}, nil
}

func fnLastIndexOf(c *evalCtx, s string, n *funcNode) (Collection, error) {
	a, ok, err := strArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	i := strings.LastIndex(s, a)
	if i > 0 {
		i = utf8.RuneCountInString(s[:i])
	}
	return Collection{intItem(int64(i))}, nil
}

func fnSubstring(c *evalCtx, s string, n *funcNode) (Collection, error) {
	a, err := c.arg(n, 0)
	if err != nil {
		return nil, err
	}
	if len(a) == 0 {
		return nil, nil
	}
	start, ok := toInt(a)
	if !ok {
		return nil, errf("substring() start must be an integer")
	}
	r := []rune(s)
	if start < 0 || start >= int64(len(r)) {
		return nil, nil
	}
	end := int64(len(r))
	if len(n.args) > 1 {
		b, err := c.arg(n, 1)
		if err != nil {
			return nil, err
		}
		if len(b) > 0 {
			l, ok := toInt(b)
			if !ok {
				return nil, errf("substring() length must be an integer")
			}
			if l < 0 {
				l = 0
			}
			end = min(start+l, end)
		}
	}
	return Collection{strItem(string(r[start:end]))}, nil
}

func fnReplace(c *evalCtx, s string, n *funcNode) (Collection, error) {
	pat, ok1, err := strArg(c, n, 0)
	if err != nil {
		return nil, err
	}
	rep, ok2, err := strArg(c, n, 1)
	if err != nil || !ok1 || !ok2 {
		return nil, err
	}
	return Collection{strItem(strings.ReplaceAll(s, pat, rep))}, nil
}

func (n *funcNode) regexp(c *evalCtx, i int, full bool) (*regexp.Regexp, bool, error) {
	pat, ok, err := strArg(c, n, i)
	if err != nil || !ok {
		return nil, false, err
	}
	if full {
		pat = "^(?:" + pat + ")$"
	}
	re, err := regexp.Compile("(?s)" + pat)
	if err != nil {
		return nil, false, errf("invalid regular expression %q: %v", pat, err)
	}
	return re, true, nil
}

func fnMatches(full bool) func(c *evalCtx, s string, n *funcNode) (Collection, error) {
	return func(c *evalCtx, s string, n *funcNode) (Collection, error) {
		re, ok, err := n.regexp(c, 0, full)
		if err != nil || !ok {
			return nil, err
		}
		return boolColl(re.MatchString(s)), nil
	}
}

func fnReplaceMatches(c *evalCtx, s string, n *funcNode) (Collection, error) {
	re, ok, err := n.regexp(c, 0, false)
	if err != nil || !ok {
		return nil, err
	}
	rep, ok, err := strArg(c, n, 1)
	if err != nil || !ok {
		return nil, err
	}
	if re.String() == "(?s)" {
		return Collection{strItem(s)}, nil
	}
	return Collection{strItem(re.ReplaceAllString(s, rep))}, nil
}

func fnSplit(c *evalCtx, s string, n *funcNode) (Collection, error) {
	sep, ok, err := strArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	var out Collection
	for _, p := range strings.Split(s, sep) {
		out = append(out, strItem(p))
	}
	return out, nil
}

func fnJoin(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	sep := ""
	if len(n.args) > 0 {
		s, _, err := strArg(c, n, 0)
		if err != nil {
			return nil, err
		}
		sep = s
	}
	parts := make([]string, 0, len(in))
	for _, it := range in {
		s, ok := it.sys().(string)
		if !ok {
			return nil, errf("join() needs Strings")
		}
		parts = append(parts, s)
	}
	return Collection{strItem(strings.Join(parts, sep))}, nil
}

func fnEncode(enc bool) func(c *evalCtx, s string, n *funcNode) (Collection, error) {
	return func(c *evalCtx, s string, n *funcNode) (Collection, error) {
		f, ok, err := strArg(c, n, 0)
		if err != nil || !ok {
			return nil, err
		}
		var e interface {
			EncodeToString([]byte) string
			DecodeString(string) ([]byte, error)
		}
		switch f {
		case "base64":
			e = base64.StdEncoding
		case "urlbase64":
			e = base64.URLEncoding
		case "hex":
			if enc {
				return Collection{strItem(hex.EncodeToString([]byte(s)))}, nil
			}
			b, err := hex.DecodeString(s)
			if err != nil {
				return nil, nil
			}
			return Collection{strItem(string(b))}, nil
		default:
			return nil, nil
		}
		if enc {
			return Collection{strItem(e.EncodeToString([]byte(s)))}, nil
		}
		b, err := e.DecodeString(s)
		if err != nil {
			return nil, nil
		}
		return Collection{strItem(string(b))}, nil
	}
}

func fnEscape(esc bool) func(c *evalCtx, s string, n *funcNode) (Collection, error) {
	return func(c *evalCtx, s string, n *funcNode) (Collection, error) {
		f, ok, err := strArg(c, n, 0)
		if err != nil || !ok {
			return nil, err
		}
		switch f {
		case "html":
			if esc {
				return Collection{strItem(htmlEscaper.Replace(s))}, nil
			}
			return Collection{strItem(html.UnescapeString(s))}, nil
		case "json":
			if esc {
				b, _ := json.Marshal(s)
				r := string(b[1 : len(b)-1])
				r = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(r)
				return Collection{strItem(r)}, nil
			}
			out, ok := unescapeJSON(s)
			if !ok {
				return nil, nil
			}
			return Collection{strItem(out)}, nil
		}
		return nil, nil
	}
}

// ---- math ----

func mathFn(f func(v any) (Item, bool)) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, errf("%s() on a collection of %d items", n.name, len(in))
		}
		v := in[0].sys()
		switch v.(type) {
		case int64, Decimal, Quantity:
		default:
			return nil, errf("%s() needs a number, got %s", n.name, typeLabel(in[0]))
		}
		r, ok := f(v)
		if !ok {
			return nil, nil
		}
		return Collection{r}, nil
	}
}

func fnAbs(v any) (Item, bool) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			x = -x
		}
		return intItem(x), true
	case Decimal:
		return decItem(x.Abs()), true
	case Quantity:
		return qtyItem(Quantity{x.Value.Abs(), x.Unit}), true
	}
	return Item{}, false
}

func roundFn(v any, f func(Decimal, int32) Decimal) (Item, bool) {
	switch x := v.(type) {
	case int64:
		return intItem(x), true
	case Decimal:
		n, ok := f(x, 0).Int64()
		return intItem(n), ok
	}
	return Item{}, false
}

func floatFn(f func(float64) float64) func(v any) (Item, bool) {
	return func(v any) (Item, bool) {
		d, ok := toDecimal(v)
		if !ok {
			return Item{}, false
		}
		r, ok := decimalFromFloat(f(d.Float64()))
		if !ok {
			return Item{}, false
		}
		return decItem(r), true
	}
}

func numArg(c *evalCtx, n *funcNode, i int) (Decimal, bool, error) {
	a, err := c.arg(n, i)
	if err != nil || len(a) == 0 {
		return Decimal{}, false, err
	}
	d, ok := toDecimal(a[0].sys())
	if !ok || len(a) > 1 {
		return Decimal{}, false, errf("%s() needs a number argument", n.name)
	}
	return d, true, nil
}

func fnLog(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	base, ok, err := numArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	return mathFn(floatFn(func(x float64) float64 { return math.Log(x) / math.Log(base.Float64()) }))(c, in, n)
}

func fnPower(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	a, err := c.arg(n, 0)
	if err != nil || len(a) == 0 || len(in) == 0 {
		return nil, err
	}
	xi, xInt := in[0].sys().(int64)
	yi, yInt := a[0].sys().(int64)
	if xInt && yInt && yi >= 0 {
		r := int64(1)
		for k := int64(0); k < yi; k++ {
			r *= xi
			if r > math.MaxInt32 || r < math.MinInt32 {
				return nil, nil
			}
		}
		return Collection{intItem(r)}, nil
	}
	e, ok, err := numArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	return mathFn(floatFn(func(x float64) float64 { return math.Pow(x, e.Float64()) }))(c, in, n)
}

func fnRound(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	prec := int64(0)
	if len(n.args) > 0 {
		a, err := c.arg(n, 0)
		if err != nil {
			return nil, err
		}
		p, ok := toInt(a)
		if !ok || p < 0 {
			return nil, errf("round() precision must be a non-negative integer")
		}
		prec = p
	}
	return mathFn(func(v any) (Item, bool) {
		d, ok := toDecimal(v)
		if !ok {
			return Item{}, false
		}
		return decItem(d.Round(int32(prec))), true
	})(c, in, n)
}

// ---- tree ----

func fnDescendants(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var out Collection
	queue := in
	for len(queue) > 0 {
		var next Collection
		for _, it := range queue {
			next = c.children(next, it)
		}
		out = append(out, next...)
		if len(out) > 1000000 {
			return nil, errf("descendants() produced too many items")
		}
		queue = next
	}
	return out, nil
}

// ---- utility ----

func fnTrace(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	name, _, err := strArg(c, n, 0)
	if err != nil {
		return nil, err
	}
	out := in
	if len(n.args) > 1 {
		var proj Collection
		err := c.each(in, n.args[1], func(i int, it Item, r Collection) (bool, error) {
			proj = append(proj, r...)
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		out = proj
	}
	if c.env != nil && c.env.Trace != nil {
		c.env.Trace(name, out)
	}
	return in, nil
}

func fnNow(kind TemporalKind) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		now := time.Now()
		if c.env != nil && c.env.Now != nil {
			now = c.env.Now()
		}
		_, off := now.Zone()
		t := Temporal{Kind: kind, Year: now.Year(), Month: int(now.Month()), Day: now.Day(), Hour: now.Hour(),
			Minute: now.Minute(), Second: now.Second(), Milli: now.Nanosecond() / 1e6}
		switch kind {
		case KindDate:
			t.Prec = PrecDay
		case KindDateTime:
			t.Prec, t.HasTZ, t.TZOffset = PrecMillisecond, true, off
		case KindTime:
			t.Prec = PrecMillisecond
		}
		return Collection{temporalItem(t.clearBelow())}, nil
	}
}

func fnType(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var out Collection
	for _, it := range in {
		ns, name := "FHIR", it.typ
		if strings.HasPrefix(it.typ, "System.") || it.typ == "" {
			ns, name = "System", strings.TrimPrefix(it.systemType(), "System.")
		}
		out = append(out, Item{v: map[string]any{"namespace": ns, "name": name}, typ: ""})
	}
	return out, nil
}

func fnAggregate(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	var total Collection
	if len(n.args) > 1 {
		t, err := c.arg(n, 1)
		if err != nil {
			return nil, err
		}
		total = t
	}
	savedT, savedHas := c.total, c.hasTotal
	defer func() { c.total, c.hasTotal = savedT, savedHas }()
	c.hasTotal = true
	c.total = total
	err := c.each(in, n.args[0], func(i int, it Item, r Collection) (bool, error) {
		c.total = r
		return false, nil
	})
	return c.total, err
}

func fnSort(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	out := append(Collection(nil), in...)
	type keyed struct {
		it   Item
		keys []Collection
	}
	ks := make([]keyed, len(out))
	for i := range out {
		ks[i].it = out[i]
	}
	desc := make([]bool, len(n.args))
	for j, a := range n.args {
		body := a
		if neg, ok := a.(*negNode); ok {
			body, desc[j] = neg.x, true
		}
		err := c.each(out, body, func(i int, it Item, r Collection) (bool, error) {
			ks[i].keys = append(ks[i].keys, r)
			return false, nil
		})
		if err != nil {
			return nil, err
		}
	}
	var sortErr error
	cmp := func(a, b Item) int {
		r, ok, err := compareItems(a, b)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		if !ok {
			return 0
		}
		return r
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if len(n.args) == 0 {
			return cmp(ks[i].it, ks[j].it) < 0
		}
		for k := range n.args {
			a, b := ks[i].keys[k], ks[j].keys[k]
			if len(a) == 0 || len(b) == 0 {
				if len(a) != len(b) {
					// empty sorts after every value
					return (len(a) != 0) != desc[k]
				}
				continue
			}
			r := cmp(a[0], b[0])
			if r != 0 {
				return (r < 0) != desc[k]
			}
		}
		return false
	})
	for i := range ks {
		out[i] = ks[i].it
	}
	return out, sortErr
}

func fnBoundary(high bool) func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return func(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
		if len(in) != 1 {
			return nil, nil
		}
		digits, has := int64(0), false
		if len(n.args) > 0 {
			a, err := c.arg(n, 0)
			if err != nil {
				return nil, err
			}
			d, ok := toInt(a)
			if !ok {
				return nil, nil
			}
			digits, has = d, true
		}
		switch v := in[0].sys().(type) {
		case int64:
			r, ok := decBoundary(DecimalFromInt(v), high, digits, has)
			if !ok {
				return nil, nil
			}
			return Collection{decItem(r)}, nil
		case Decimal:
			r, ok := decBoundary(v, high, digits, has)
			if !ok {
				return nil, nil
			}
			return Collection{decItem(r)}, nil
		case Quantity:
			r, ok := decBoundary(v.Value, high, digits, has)
			if !ok {
				return nil, nil
			}
			return Collection{qtyItem(Quantity{r, v.Unit})}, nil
		case Temporal:
			r, ok := v.boundary(high, int(digits), has)
			if !ok {
				return nil, nil
			}
			return Collection{temporalItem(r)}, nil
		}
		return nil, nil
	}
}

// decBoundary: the value ± half a unit in the last written digit, at the
// requested number of decimal places (default 8).
func decBoundary(d Decimal, high bool, digits int64, has bool) (Decimal, bool) {
	if !has {
		digits = divScale
	}
	if digits < 0 || digits > 28 {
		return Decimal{}, false
	}
	half := Decimal{c: DecimalFromInt(5).c, scale: d.scale + 1}
	var b Decimal
	if high {
		b = d.Add(half)
	} else {
		b = d.Sub(half)
	}
	p := int32(digits)
	if p >= b.scale {
		return b.Round(p), true
	}
	// at fewer digits: floor for low, ceiling for high
	if high {
		return b.Ceil(p), true
	}
	return b.Floor(p), true
}

func fnPrecision(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	if len(in) != 1 {
		return nil, nil
	}
	switch v := in[0].sys().(type) {
	case Decimal:
		return Collection{intItem(int64(v.scale))}, nil
	case int64:
		return Collection{intItem(0)}, nil
	case Temporal:
		return Collection{intItem(int64(v.precisionDigits()))}, nil
	}
	return nil, nil
}

func fnComparable(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	a, err := c.arg(n, 0)
	if err != nil || len(in) != 1 || len(a) != 1 {
		return nil, err
	}
	q1, ok1 := in[0].sys().(Quantity)
	q2, ok2 := a[0].sys().(Quantity)
	if !ok1 || !ok2 {
		return nil, errf("comparable() needs Quantities")
	}
	_, ok := compareQuantity(q1, q2)
	return boolColl(ok), nil
}

// ---- FHIR ----

func fnExtension(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	url, ok, err := strArg(c, n, 0)
	if err != nil || !ok {
		return nil, err
	}
	var out Collection
	for _, it := range in {
		exts, _ := c.child(nil, it, "extension")
		for _, e := range exts {
			if m, ok := e.v.(map[string]any); ok && m["url"] == url {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func isPrimitiveNode(it Item) bool {
	switch it.v.(type) {
	case map[string]any:
		return false
	}
	return it.typ == "" || model.IsPrimitive(it.typ) || strings.HasPrefix(it.typ, "System.")
}

func fnHasValue(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	return boolColl(len(in) == 1 && isPrimitiveNode(in[0]) && in[0].v != nil), nil
}

func fnGetValue(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	if len(in) != 1 || !isPrimitiveNode(in[0]) || in[0].v == nil {
		return nil, nil
	}
	it := in[0]
	return Collection{{v: it.sys(), typ: Item{v: it.sys()}.systemType()}}, nil
}

func fnHTMLChecks(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	if len(in) == 0 {
		return nil, nil
	}
	for _, it := range in {
		s, ok := it.sys().(string)
		if !ok || !wellFormedXHTML(s) {
			return boolColl(false), nil
		}
	}
	return boolColl(true), nil
}

func fnMemberOf(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	url, ok, err := strArg(c, n, 0)
	if err != nil || !ok || len(in) != 1 || c.env == nil || c.env.MemberOf == nil {
		return nil, err
	}
	b, err := c.env.MemberOf(in[0], url)
	if err != nil {
		return nil, err
	}
	return boolColl(b), nil
}

func fnConformsTo(c *evalCtx, in Collection, n *funcNode) (Collection, error) {
	url, ok, err := strArg(c, n, 0)
	if err != nil || !ok || len(in) != 1 {
		return nil, err
	}
	if c.env != nil && c.env.ConformsTo != nil {
		b, err := c.env.ConformsTo(in[0], url)
		if err != nil {
			return nil, err
		}
		return boolColl(b), nil
	}
	const base = "http://hl7.org/fhir/StructureDefinition/"
	if t, ok := strings.CutPrefix(url, base); ok && model.Type(t) != nil {
		return boolColl(model.IsA(in[0].typ, t)), nil
	}
	return nil, errf("conformsTo(%q): no profile validator configured", url)
}

func sortStrings(s []string) { sort.Strings(s) }

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// unescapeJSON undoes JSON string escapes, leaving other characters alone.
func unescapeJSON(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+4 >= len(s) {
				return "", false
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", false
			}
			b.WriteRune(rune(n))
			i += 4
		default:
			return "", false
		}
	}
	return b.String(), true
}
