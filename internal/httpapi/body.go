package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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

// utf8Problems names every string of a JSON body, member name or value, that is not valid UTF-8 (appt.ValidateUTF8,
// the starter's rule), by its JSON pointer (RFC 6901); a member name is named by the member's pointer. encoding/json
// would replace such bytes with U+FFFD and go on, so the raw bytes of each string token are checked before any
// decoding. A body that cannot be read as JSON far enough to find the string is named as a whole (pointer ""). It
// returns nil for a valid UTF-8 body.
func utf8Problems(body []byte) []FieldProblem {
	if utf8.Valid(body) {
		return nil
	}
	var out []FieldProblem
	check := func(ptr string, raw []byte) {
		var fe *appt.FieldError
		if errors.As(appt.ValidateUTF8(ptr, string(raw)), &fe) {
			out = append(out, bodyField(fe.Field, fe.Msg))
		}
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
	for {
		from := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			break
		}
		raw := body[from:dec.InputOffset()]
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if name, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = name, false
				check(pointer(path()...), raw)
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
				check(pointer(path()...), raw)
			}
			valueDone()
		}
	}
	if len(out) == 0 {
		check("", body)
	}
	return out
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
