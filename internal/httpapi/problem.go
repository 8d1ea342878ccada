package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// ProblemContentType is the media type of RFC 9457 problem documents.
const ProblemContentType = "application/problem+json"

// problemTypeBase is where the kinds of problem are described; a problem's type is this plus an anchor.
const problemTypeBase = "https://github.com/apptnotify/apptnotify/blob/main/docs/api.md#"

// Problem is an RFC 9457 problem document. Errors names every field at fault.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem is one field at fault: a JSON pointer into the request body, or a path parameter.
type FieldProblem struct {
	Pointer   *string `json:"pointer,omitempty"`
	Parameter string  `json:"parameter,omitempty"`
	Detail    string  `json:"detail"`
}

func bodyField(pointer, detail string) FieldProblem {
	return FieldProblem{Pointer: &pointer, Detail: detail}
}

func paramField(name, detail string) FieldProblem {
	return FieldProblem{Parameter: name, Detail: detail}
}

// The kinds of problem, each an anchor of docs/api.md.
var (
	probValidation   = Problem{Type: problemTypeBase + "validation-failed", Title: "The request is not valid", Status: http.StatusBadRequest}
	probUnauthorized = Problem{Type: problemTypeBase + "unauthorized", Title: "A valid bearer token is required", Status: http.StatusUnauthorized}
	probForbidden    = Problem{Type: problemTypeBase + "forbidden", Title: "The token may not act for this organisation", Status: http.StatusForbidden}
	probNotFound     = Problem{Type: problemTypeBase + "not-found", Title: "No such appointment", Status: http.StatusNotFound}
	probNoOrg        = Problem{Type: problemTypeBase + "not-found", Title: "No such organisation", Status: http.StatusNotFound}
	probNoRoute      = Problem{Type: problemTypeBase + "not-found", Title: "No such endpoint", Status: http.StatusNotFound}
	probMethod       = Problem{Type: problemTypeBase + "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed}
	probRefused      = Problem{Type: problemTypeBase + "refused", Title: "The appointment refused the operation", Status: http.StatusConflict}
	probListFull     = Problem{Type: problemTypeBase + "suppression-list-full", Title: "The organisation's suppression list is full", Status: http.StatusConflict}
	probTooLarge     = Problem{Type: problemTypeBase + "too-large", Title: "The body is too large", Status: http.StatusRequestEntityTooLarge}
	probMediaType    = Problem{Type: problemTypeBase + "unsupported-media-type", Title: "The body must be application/json", Status: http.StatusUnsupportedMediaType}
	probUnavailable  = Problem{Type: problemTypeBase + "unavailable", Title: "Temporal is unreachable", Status: http.StatusServiceUnavailable}
	probInternal     = Problem{Type: problemTypeBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError}
)

func (p Problem) with(detail string, errs ...FieldProblem) Problem {
	p.Detail = detail
	p.Errors = errs
	return p
}

func writeProblem(w http.ResponseWriter, p Problem) {
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, p.Status, ProblemContentType, p)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, contentType = http.StatusInternalServerError, ProblemContentType
		b, _ = json.Marshal(probInternal.with("cannot encode the response"))
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// pointer builds a JSON pointer (RFC 6901) from reference tokens.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// requestProblems turns kin-openapi's request validation error into one field problem per failure. It matches
// on concrete types, outermost first: errors.As would look through a parameter's RequestError (or pick the first
// error of a MultiError) and lose which field was at fault.
func requestProblems(err error) []FieldProblem {
	var out []FieldProblem
	add := func(param, ptr, detail string) {
		if param != "" {
			out = append(out, paramField(param, detail))
			return
		}
		out = append(out, bodyField(ptr, detail))
	}
	var walk func(err error, param string)
	walk = func(err error, param string) {
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner, param)
			}
		case *openapi3filter.RequestError:
			switch {
			case e.Parameter != nil && e.Err == nil:
				add(e.Parameter.Name, "", e.Reason)
			case e.Parameter != nil:
				walk(e.Err, e.Parameter.Name)
			case e.Err == nil:
				add(param, "", e.Reason)
			default:
				walk(e.Err, param)
			}
		case *openapi3filter.ParseError:
			add(param, "", "is not valid JSON: "+parseReason(e))
		case *openapi3.SchemaError:
			// kin-openapi's JSON Schema 2020-12 validator (for schemas without internal references) reports the
			// failures of a body as the causes of one error at the body: name each.
			var causes openapi3.MultiError
			if e.Origin != nil && errors.As(e.Origin, &causes) {
				for _, inner := range causes {
					walk(inner, param)
				}
				return
			}
			path := e.JSONPointer()
			if m := unknownProperty.FindStringSubmatch(e.Reason); m != nil {
				// The failure is reported on the object; name the unknown property itself.
				add(param, pointer(append(path, m[1])...), "is not a known field")
				return
			}
			if names, detail := objectProperties(e); names != nil {
				for _, name := range names {
					add(param, pointer(append(path, name)...), detail)
				}
				return
			}
			add(param, pointer(path...), schemaReason.ReplaceAllString(e.Reason, ""))
		default:
			var pe *openapi3filter.ParseError
			if errors.As(err, &pe) {
				add(param, "", "is not valid JSON: "+parseReason(pe))
				return
			}
			add(param, "", err.Error())
		}
	}
	walk(err, "")
	return out
}

// unknownProperty finds the property name in kin-openapi's reason for an additionalProperties: false failure.
var unknownProperty = regexp.MustCompile(`^property "(.*)" is unsupported$`)

// schemaReason is the location prefix of the JSON Schema 2020-12 validator's reasons (`error at "/a": at '/a': `),
// which the pointer already gives.
var schemaReason = regexp.MustCompile(`^(error at "[^"]*": )?(at '[^']*': )?`)

// quotedName is a property name as the JSON Schema 2020-12 validator quotes it in a reason.
var quotedName = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// objectProperties finds the properties that the JSON Schema 2020-12 validator reports on their object: unknown
// ones (additionalProperties: false) and missing ones (required). It returns nil names for any other failure.
func objectProperties(e *openapi3.SchemaError) (names []string, detail string) {
	reason := schemaReason.ReplaceAllString(e.Reason, "")
	var list string
	switch {
	case e.SchemaField == "additionalProperties" && strings.HasPrefix(reason, "additional propert"):
		list, detail = reason, "is not a known field"
	case e.SchemaField == "required" && strings.HasPrefix(reason, "missing propert"):
		list, detail = reason, "is required"
	default:
		return nil, ""
	}
	for _, m := range quotedName.FindAllStringSubmatch(list, -1) {
		names = append(names, m[1])
	}
	return names, detail
}

// parseReason is a body parse error without the body's bytes.
func parseReason(pe *openapi3filter.ParseError) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(pe, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(pe, &typ):
		return fmt.Sprintf("a %s where %s was expected", typ.Value, typ.Type)
	case pe.Cause != nil && strings.Contains(pe.Cause.Error(), "EOF"):
		return "unexpected end of input"
	}
	return pe.Reason
}

// fieldPointers maps the field names of internal/appt's validators (the starter's flag names) to JSON pointers into
// a request body. participant[i].x and metadata.KEY are mapped by rule.
type fieldPointers map[string]string

func (m fieldPointers) problems(errs []*appt.FieldError) []FieldProblem {
	out := make([]FieldProblem, 0, len(errs))
	for _, e := range errs {
		out = append(out, bodyField(m.pointer(e.Field), e.Msg))
	}
	return out
}

func (m fieldPointers) pointer(field string) string {
	if p, ok := m[field]; ok {
		return p
	}
	if rest, ok := strings.CutPrefix(field, "participant["); ok {
		if i, sub, ok := strings.Cut(rest, "]"); ok {
			if sub == "" {
				return pointer("participants", i)
			}
			return pointer(append([]string{"participants", i}, strings.Split(strings.TrimPrefix(sub, "."), ".")...)...)
		}
	}
	if key, ok := strings.CutPrefix(field, "metadata."); ok {
		return pointer("metadata", key)
	}
	return pointer(field)
}
