package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// Request bodies are UTF-8 JSON (RFC 8259 §8.1; docs/api.md, "Request bodies").

// charsetProblem refuses a Content-Type whose charset parameter is not UTF-8 (compared case-insensitively; no
// charset means UTF-8), or whose parameters cannot be read (err, from mime.ParseMediaType), which hides its charset:
// mime.ParseMediaType then returns no parameters at all, and `charset=latin1; x` would pass for UTF-8. It returns nil
// when the charset is acceptable, else a 415 problem.
func charsetProblem(params map[string]string, err error) *Problem {
	if errors.Is(err, mime.ErrInvalidMediaParameter) {
		p := probMediaType.with("the Content-Type's parameters cannot be read, so its charset is unknown: JSON bodies " +
			"are UTF-8 (RFC 8259); send Content-Type: application/json, with charset=utf-8 or none")
		return &p
	}
	cs, ok := params["charset"]
	if !ok || strings.EqualFold(cs, "utf-8") {
		return nil
	}
	p := probMediaType.with("charset " + strconv.Quote(cs) + " is not accepted: JSON bodies are UTF-8 (RFC 8259); " +
		"send Content-Type: application/json, with charset=utf-8 or none")
	return &p
}

// UTF-8 problems are bounded so that the answer stays small whatever the body: a string nested in thousands of
// arrays, or under a long member name, has a long pointer, and a body may hold thousands of such strings.
const (
	// maxUTF8Named is the most strings the UTF-8 check names by their pointer.
	maxUTF8Named = 32
	// maxUTF8PointerBytes is the most bytes of pointers it writes; a pointer that would pass it is not written.
	maxUTF8PointerBytes = 4 << 10
)

// utf8Problems names every string of a JSON body, member name or value, that is not valid UTF-8 (appt.ValidateUTF8,
// the starter's rule), by its JSON pointer (RFC 6901); a member name is named by the member's pointer. A string that
// escapes a lone UTF-16 surrogate ("\ud800") is not valid UTF-8 either: it names no character, and encoding/json
// would replace it with U+FFFD, as it would replace bytes that are not UTF-8, and go on. So the raw bytes of each
// string token are checked before any decoding. A body that cannot be read as JSON far enough to find the string is
// named as a whole (pointer ""), and so are the strings past maxUTF8Named or maxUTF8PointerBytes. It returns nil for
// a valid UTF-8 body.
func utf8Problems(body []byte) []FieldProblem {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) {
		return nil
	}
	var out []FieldProblem
	msg := ""
	if fe := fieldError(appt.ValidateUTF8("", "\xff")); fe != nil {
		msg = fe.Msg
	}
	named, budget, truncated := 0, maxUTF8PointerBytes, false
	// check names the string at path() when its raw token is not valid UTF-8; the pointer is built only then.
	check := func(path func() []string, raw []byte) {
		if utf8.Valid(raw) && !loneSurrogate(raw) {
			return
		}
		if truncated {
			return
		}
		ptr := pointer(path()...)
		if named == maxUTF8Named || len(ptr) > budget {
			truncated = true
			return
		}
		named, budget = named+1, budget-len(ptr)
		out = append(out, bodyField(ptr, msg))
	}
	// frame is one open object or array: the reference token of its current member or element.
	type frame struct {
		object  bool
		wantKey bool // an object awaiting a member name (or its end)
		key     string
		index   int
	}
	var stack []frame
	path := func() []string {
		tokens := make([]string, len(stack))
		for i, f := range stack {
			if f.object {
				tokens[i] = f.key
			} else {
				tokens[i] = strconv.Itoa(f.index)
			}
		}
		return tokens
	}
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for !truncated {
		from := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil { // io.EOF at the end, else a syntax error: the schema names it
			break
		}
		raw := body[from:dec.InputOffset()]
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if name, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = name, false
				check(path, raw)
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			if _, ok := tok.(string); ok {
				check(path, raw)
			}
			valueDone()
		}
	}
	if truncated {
		out = append(out, bodyField("", "holds more strings that are not valid UTF-8"))
	}
	if len(out) == 0 && !utf8.Valid(body) {
		out = append(out, bodyField("", msg))
	}
	return out
}

// loneSurrogate reports whether the raw bytes of a JSON string token hold a \u escape of a UTF-16 surrogate that is
// not half of a pair (a high surrogate followed at once by an escaped low one). Other escapes are skipped whole, so
// an escaped backslash before "ud800" is text.
func loneSurrogate(raw []byte) bool {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[:4]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // the escaped character
			continue
		}
		r, ok := hex4(raw[i+2:])
		if !ok {
			return false // not a JSON string: the schema names it
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if lo, ok := hex4(raw[i+8:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11
					continue
				}
			}
			return true
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		}
		i += 5
	}
	return false
}

// decodeLenient decodes a body as far as it goes: a value of the wrong type leaves its field unset (the schema
// names it), so the rules can still check every other field. It reports whether the body was a JSON object (or
// absent); the rules have nothing to say about anything else, which the schema refuses as a whole.
func decodeLenient(body []byte, v any) bool {
	if len(body) == 0 {
		return true
	}
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return false
	}
	err := json.Unmarshal(body, v)
	var typ *json.UnmarshalTypeError
	return err == nil || errors.As(err, &typ)
}

// mergeProblems lists every field named by the sources, each once, in the order given: a field one source names is
// left out of the later ones (UTF-8 before the schema before the rules, each the more basic failure), and one
// source's several failures of one field become one entry, their details joined by "; ". Fields are told apart by
// their pointer, or their parameter name.
func mergeProblems(sources ...[]FieldProblem) []FieldProblem {
	key := func(p FieldProblem) string {
		if p.Pointer != nil {
			return "pointer:" + *p.Pointer
		}
		return "parameter:" + p.Parameter
	}
	var out []FieldProblem
	at := map[string]int{}
	for _, src := range sources {
		earlier := len(out)
		for _, p := range src {
			k := key(p)
			i, seen := at[k]
			switch {
			case !seen:
				at[k] = len(out)
				out = append(out, p)
			case i >= earlier && !strings.Contains(out[i].Detail, p.Detail):
				out[i].Detail += "; " + p.Detail
			}
		}
	}
	return out
}
