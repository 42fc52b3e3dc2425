package fhirpath

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of the parsed expression so that hostile input
// cannot exhaust the stack (parser and evaluator are both recursive).
const maxDepth = 200

// SyntaxError is returned by Compile for an expression that is not valid
// FHIRPath. Pos is the byte offset in the expression where the problem was
// found.
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: syntax error at offset %d: %s", e.Pos, e.Msg)
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tDelimIdent // `name`
	tString
	tNumber
	tLong
	tDateLit // @... literal (raw text without @)
	tVar     // %name
	tDollar
	tOp // punctuation / operator
)

type token struct {
	kind tokKind
	text string // identifier name, unescaped string, number text, operator
	pos  int
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

var (
	dateTimeRE = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?(T(\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+\-]\d{2}:\d{2})?)?`)
	timeRE     = regexp.MustCompile(`^T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?`)
)

func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		l.toks = append(l.toks, t)
		if t.kind == tEOF {
			return l.toks, nil
		}
	}
}

func (l *lexer) errf(pos int, format string, a ...any) error {
	return &SyntaxError{Expr: l.src, Pos: pos, Msg: fmt.Sprintf(format, a...)}
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() (token, error) {
	s := l.src
	// skip whitespace and comments
	for l.pos < len(s) {
		c := s[l.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
			l.pos++
			continue
		}
		if c == '/' && l.pos+1 < len(s) && s[l.pos+1] == '/' {
			for l.pos < len(s) && s[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		if c == '/' && l.pos+1 < len(s) && s[l.pos+1] == '*' {
			end := strings.Index(s[l.pos+2:], "*/")
			if end < 0 {
				return token{}, l.errf(l.pos, "unterminated comment")
			}
			l.pos += end + 4
			continue
		}
		break
	}
	start := l.pos
	if l.pos >= len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := s[l.pos]
	switch {
	case isIdentStart(c):
		for l.pos < len(s) && (isIdentStart(s[l.pos]) || isDigit(s[l.pos])) {
			l.pos++
		}
		return token{kind: tIdent, text: s[start:l.pos], pos: start}, nil
	case isDigit(c):
		for l.pos < len(s) && isDigit(s[l.pos]) {
			l.pos++
		}
		if l.pos+1 < len(s) && s[l.pos] == '.' && isDigit(s[l.pos+1]) {
			l.pos++
			for l.pos < len(s) && isDigit(s[l.pos]) {
				l.pos++
			}
		} else if l.pos < len(s) && s[l.pos] == 'L' {
			l.pos++
			return token{kind: tLong, text: s[start : l.pos-1], pos: start}, nil
		}
		return token{kind: tNumber, text: s[start:l.pos], pos: start}, nil
	case c == '\'' || c == '`':
		str, err := l.quoted(c)
		if err != nil {
			return token{}, err
		}
		k := tString
		if c == '`' {
			k = tDelimIdent
		}
		return token{kind: k, text: str, pos: start}, nil
	case c == '@':
		rest := s[l.pos+1:]
		m := timeRE.FindString(rest)
		if m == "" {
			m = dateTimeRE.FindString(rest)
		}
		if m == "" {
			return token{}, l.errf(start, "invalid date/time literal")
		}
		l.pos += 1 + len(m)
		return token{kind: tDateLit, text: m, pos: start}, nil
	case c == '%':
		l.pos++
		if l.pos < len(s) && (s[l.pos] == '`' || s[l.pos] == '\'') {
			str, err := l.quoted(s[l.pos])
			if err != nil {
				return token{}, err
			}
			return token{kind: tVar, text: str, pos: start}, nil
		}
		b := l.pos
		for l.pos < len(s) && (isIdentStart(s[l.pos]) || isDigit(s[l.pos]) || s[l.pos] == '-') {
			l.pos++
		}
		if b == l.pos {
			return token{}, l.errf(start, "expected a variable name after %%")
		}
		return token{kind: tVar, text: s[b:l.pos], pos: start}, nil
	case c == '$':
		l.pos++
		b := l.pos
		for l.pos < len(s) && isIdentStart(s[l.pos]) {
			l.pos++
		}
		name := s[b:l.pos]
		if name != "this" && name != "index" && name != "total" {
			return token{}, l.errf(start, "unknown special variable $%s", name)
		}
		return token{kind: tDollar, text: name, pos: start}, nil
	}
	two := ""
	if l.pos+1 < len(s) {
		two = s[l.pos : l.pos+2]
	}
	switch two {
	case "<=", ">=", "!=", "!~":
		l.pos += 2
		return token{kind: tOp, text: two, pos: start}, nil
	}
	switch c {
	case '.', '[', ']', '(', ')', '{', '}', ',', '+', '-', '*', '/', '&', '|', '=', '~', '<', '>':
		l.pos++
		return token{kind: tOp, text: string(c), pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(s[l.pos:])
	return token{}, l.errf(start, "unexpected character %q", r)
}

// quoted reads a '…' or `…` literal with FHIRPath escapes.
func (l *lexer) quoted(q byte) (string, error) {
	s := l.src
	start := l.pos
	l.pos++
	var b strings.Builder
	for {
		if l.pos >= len(s) {
			return "", l.errf(start, "unterminated %c literal", q)
		}
		c := s[l.pos]
		if c == q {
			l.pos++
			return b.String(), nil
		}
		if c != '\\' {
			b.WriteByte(c)
			l.pos++
			continue
		}
		if l.pos+1 >= len(s) {
			return "", l.errf(l.pos, "unterminated escape")
		}
		e := s[l.pos+1]
		l.pos += 2
		switch e {
		case '\'', '"', '`', '\\', '/':
			b.WriteByte(e)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if l.pos+4 > len(s) {
				return "", l.errf(l.pos-2, "invalid unicode escape")
			}
			n, err := strconv.ParseUint(s[l.pos:l.pos+4], 16, 32)
			if err != nil {
				return "", l.errf(l.pos-2, "invalid unicode escape")
			}
			b.WriteRune(rune(n))
			l.pos += 4
		default:
			return "", l.errf(l.pos-2, "invalid escape \\%c", e)
		}
	}
}

// ---- parser ----

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) isOp(s string) bool {
	t := p.toks[p.i]
	return t.kind == tOp && t.text == s
}
func (p *parser) errf(pos int, format string, a ...any) error {
	return &SyntaxError{Expr: p.src, Pos: pos, Msg: fmt.Sprintf(format, a...)}
}
func (p *parser) expectOp(s string) error {
	if !p.isOp(s) {
		t := p.peek()
		return p.errf(t.pos, "expected %q, found %s", s, describe(t))
	}
	p.advance()
	return nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "string literal"
	}
	return strconv.Quote(t.text)
}

// binary operator precedence (higher binds tighter)
func binPrec(t token) int {
	switch t.kind {
	case tOp:
		switch t.text {
		case "*", "/":
			return 10
		case "+", "-", "&":
			return 9
		case "|":
			return 7
		case "<", ">", "<=", ">=":
			return 6
		case "=", "~", "!=", "!~":
			return 5
		}
	case tIdent:
		switch t.text {
		case "div", "mod":
			return 10
		case "is", "as":
			return 8
		case "in", "contains":
			return 4
		case "and":
			return 3
		case "or", "xor":
			return 2
		case "implies":
			return 1
		}
	}
	return 0
}

func parse(src string) (node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	if p.peek().kind == tEOF {
		return nil, p.errf(0, "empty expression")
	}
	n, err := p.expr(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errf(t.pos, "unexpected %s", describe(t))
	}
	return n, nil
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf(pos, "expression nested too deeply")
	}
	return nil
}

func (p *parser) expr(minPrec int) (node, error) {
	if err := p.enter(p.peek().pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec := binPrec(t)
		if prec == 0 || prec < minPrec {
			return left, nil
		}
		p.advance()
		if t.kind == tIdent && (t.text == "is" || t.text == "as") {
			ts, err := p.typeSpec()
			if err != nil {
				return nil, err
			}
			if !ts.valid() {
				return nil, p.errf(t.pos, "unknown type %s", ts)
			}
			left = &typeOpNode{op: t.text, x: left, ts: ts}
			continue
		}
		right, err := p.expr(prec + 1)
		if err != nil {
			return nil, err
		}
		left, err = newBinary(t.text, left, right, t.pos, p)
		if err != nil {
			return nil, err
		}
	}
}

func (p *parser) typeSpec() (typeSpec, error) {
	t := p.advance()
	if t.kind != tIdent && t.kind != tDelimIdent {
		return typeSpec{}, p.errf(t.pos, "expected a type name, found %s", describe(t))
	}
	name := t.text
	if p.isOp(".") && p.toks[p.i+1].kind == tIdent {
		p.advance()
		name += "." + p.advance().text
	}
	return newTypeSpec(name), nil
}

func (p *parser) unary() (node, error) {
	if p.isOp("+") || p.isOp("-") {
		t := p.advance()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if t.text == "+" {
			return x, nil
		}
		if lit, ok := x.(*literalNode); ok && len(lit.c) == 1 {
			if v, ok := negate(lit.c[0]); ok {
				return &literalNode{c: Collection{v}}, nil
			}
		}
		return &negNode{x: x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.advance()
			t := p.advance()
			if t.kind != tIdent && t.kind != tDelimIdent && t.kind != tDollar {
				return nil, p.errf(t.pos, "expected a name after '.', found %s", describe(t))
			}
			inv, err := p.invocation(t)
			if err != nil {
				return nil, err
			}
			n = &pathNode{left: n, right: inv}
		case p.isOp("["):
			t := p.advance()
			if err := p.enter(t.pos); err != nil {
				return nil, err
			}
			idx, err := p.expr(1)
			p.depth--
			if err != nil {
				return nil, err
			}
			if err := p.expectOp("]"); err != nil {
				return nil, err
			}
			n = &indexNode{x: n, idx: idx}
		default:
			return n, nil
		}
	}
}

// invocation parses what follows a '.' (or starts a term): a member name, a
// function call or $this/$index/$total.
func (p *parser) invocation(t token) (node, error) {
	if t.kind == tDollar {
		return &dollarNode{name: t.text}, nil
	}
	if t.kind == tIdent && p.isOp("(") {
		p.advance()
		var args []node
		if !p.isOp(")") {
			for {
				if err := p.enter(p.peek().pos); err != nil {
					return nil, err
				}
				a, err := p.expr(1)
				p.depth--
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.isOp(",") {
					p.advance()
					continue
				}
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return newFunc(t, args, p)
	}
	return &memberNode{name: t.text}, nil
}

var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month", "week": "week", "weeks": "week",
	"day": "day", "days": "day", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

func (p *parser) term() (node, error) {
	t := p.advance()
	switch t.kind {
	case tNumber, tLong:
		var it Item
		if t.kind == tLong {
			n, err := strconv.ParseInt(t.text, 10, 64)
			if err != nil {
				return nil, p.errf(t.pos, "long literal out of range")
			}
			it = Item{v: n, typ: tLong_}
		} else if strings.Contains(t.text, ".") {
			d, _ := ParseDecimal(t.text)
			it = Item{v: d, typ: tDecimal}
		} else {
			n, err := strconv.ParseInt(t.text, 10, 32)
			if err != nil {
				// too big for Integer: keep as decimal
				d, _ := ParseDecimal(t.text)
				it = Item{v: d, typ: tDecimal}
			} else {
				it = Item{v: n, typ: tInteger}
			}
		}
		// quantity literal
		nt := p.peek()
		if nt.kind == tString && t.kind == tNumber {
			p.advance()
			d, _ := ParseDecimal(t.text)
			return &literalNode{c: Collection{{v: Quantity{Value: d, Unit: nt.text}, typ: tQuantity}}}, nil
		}
		if nt.kind == tIdent && t.kind == tNumber {
			if _, ok := calendarUnits[nt.text]; ok {
				p.advance()
				d, _ := ParseDecimal(t.text)
				return &literalNode{c: Collection{{v: Quantity{Value: d, Unit: nt.text}, typ: tQuantity}}}, nil
			}
		}
		return &literalNode{c: Collection{it}}, nil
	case tString:
		return &literalNode{c: Collection{{v: t.text, typ: tString_}}}, nil
	case tDateLit:
		it, err := parseTemporalLiteral(t.text)
		if err != nil {
			return nil, p.errf(t.pos, "%v", err)
		}
		return &literalNode{c: Collection{it}}, nil
	case tVar:
		return &varNode{name: t.text}, nil
	case tDollar:
		return &dollarNode{name: t.text}, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			if !p.isOp("(") {
				return &literalNode{c: Collection{{v: t.text == "true", typ: tBoolean}}}, nil
			}
		}
		return p.invocation(t)
	case tDelimIdent:
		return &memberNode{name: t.text}, nil
	case tOp:
		switch t.text {
		case "(":
			if err := p.enter(t.pos); err != nil {
				return nil, err
			}
			n, err := p.expr(1)
			p.depth--
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return n, nil
		case "{":
			if err := p.expectOp("}"); err != nil {
				return nil, err
			}
			return &literalNode{}, nil
		}
	}
	return nil, p.errf(t.pos, "unexpected %s", describe(t))
}

// typeNameOf reads a type name from a function argument (is(Patient),
// ofType(FHIR.Quantity), as(`System.String`)).
func typeNameOf(n node) (string, bool) {
	switch n := n.(type) {
	case *memberNode:
		return n.name, true
	case *pathNode:
		l, ok1 := n.left.(*memberNode)
		r, ok2 := n.right.(*memberNode)
		if ok1 && ok2 {
			return l.name + "." + r.name, true
		}
	}
	return "", false
}
