// Package httpapitest checks HTTP API responses against api/openapi.yaml with kin-openapi, for the tests of the
// server and of its clients.
package httpapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/apptnotify/apptnotify/internal/httpapi"
)

// Validator checks responses against the document: the status must be one the operation documents, and the body
// must match its schema. A response to a request that matches no operation must still be a problem document.
type Validator struct {
	Doc    *openapi3.T
	router routers.Router
}

// New loads the embedded document.
func New() (*Validator, error) {
	doc, err := httpapi.LoadDocument()
	if err != nil {
		return nil, err
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Validator{Doc: doc, router: r}, nil
}

// Validate checks one response to req. A HEAD is checked as its GET without the body, which must be empty; an
// OPTIONS or a 405 must carry Allow (RFC 9110 §10.2.1).
func (v *Validator) Validate(req *http.Request, status int, header http.Header, body []byte) error {
	if (req.Method == http.MethodOptions || status == http.StatusMethodNotAllowed) && header.Get("Allow") == "" {
		return fmt.Errorf("%s answered %d without Allow", req.Method, status)
	}
	if req.Method == http.MethodOptions && status < 300 {
		if len(body) > 0 {
			return fmt.Errorf("OPTIONS answered with a body")
		}
		return nil
	}
	excludeBody := false
	if req.Method == http.MethodHead {
		if len(body) > 0 {
			return fmt.Errorf("HEAD answered with a body")
		}
		req = req.Clone(req.Context())
		req.Method = http.MethodGet
		excludeBody = true
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if ct := header.Get("Content-Type"); ct != httpapi.ProblemContentType {
			return fmt.Errorf("a request outside the document got %s, not a problem document", ct)
		}
		if excludeBody {
			return nil
		}
		return v.ValidateProblem(body)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: excludeBody,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	})
}

// ValidateProblem checks a body against the Problem schema.
func (v *Validator) ValidateProblem(body []byte) error {
	var p any
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	return v.Doc.Components.Schemas["Problem"].Value.VisitJSON(p, openapi3.EnableJSONSchema2020())
}

// Pointers lists the fields a problem names, in order: each JSON pointer, or "param:NAME" for a path parameter.
func Pointers(p httpapi.Problem) []string {
	var out []string
	for _, e := range p.Errors {
		if e.Pointer != nil {
			out = append(out, *e.Pointer)
		} else {
			out = append(out, "param:"+e.Parameter)
		}
	}
	return out
}
