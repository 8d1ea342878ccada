package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
)

// edgeClient answers the health check and counts workflow starts; any other Temporal call panics (nil embedded
// client), which fails the test: the requests here must start, signal or query nothing.
type edgeClient struct {
	client.Client
	mu     sync.Mutex
	starts int
}

func (c *edgeClient) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts++
	return nil, nil
}

func (c *edgeClient) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}

func (c *edgeClient) started() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.starts
}

var edgeNow = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

// edgeServer is the real handler, with one token for every organisation, on an httptest server.
func edgeServer(t *testing.T) (*httptest.Server, *edgeClient, *httpapi.Handler) {
	t.Helper()
	tc := &edgeClient{}
	c := api.New(tc, config.Demo())
	c.Now = func() time.Time { return edgeNow }
	tokens, err := httpapi.ParseTokens("tok=*")
	require.NoError(t, err)
	h, err := httpapi.New(httpapi.Options{Client: c, Tokens: tokens})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, tc, h
}

type edgeReply struct {
	status int
	header http.Header
	body   []byte
}

func (r edgeReply) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	require.Equal(t, httpapi.ProblemContentType, r.header.Get("Content-Type"), "%d %s", r.status, r.body)
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(r.body, &p), "%s", r.body)
	return p
}

// edgeDo sends one request with the token (when token is set) and returns the whole answer.
func edgeDo(t *testing.T, srv *httptest.Server, method, path, contentType, body string, header http.Header, token bool) edgeReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token {
		req.Header.Set("Authorization", "Bearer tok")
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return edgeReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// concretePath fills a path template of the document with well-formed parameters.
func concretePath(tpl string) string {
	return strings.NewReplacer("{id}", "A1", "{participantId}", "c1", "{entryId}", "e1", "{org}", "demo",
		"{erasureId}", "0123456789abcdef01234567").Replace(tpl)
}

// TestEveryPathAnswersAllow: RFC 9110 §15.5.6 requires Allow on a 405, and §9.3.7 lets OPTIONS ask for it. For every
// path of the document, every method it does not take gets 405 with Allow listing the path's methods (those of the
// document, HEAD where there is GET, and OPTIONS) and a problem document; OPTIONS gets 204 with the same Allow, with
// or without a token, and a CORS preflight gets the same answer: the server grants no cross-origin access.
func TestEveryPathAnswersAllow(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	doc, err := httpapi.LoadDocument()
	require.NoError(t, err)
	v, err := httpapitest.New()
	require.NoError(t, err)
	for tpl, item := range doc.Paths.Map() {
		var allowed []string
		for m := range item.Operations() {
			allowed = append(allowed, m)
		}
		if item.Get != nil {
			allowed = append(allowed, http.MethodHead)
		}
		allowed = append(allowed, http.MethodOptions)
		slices.Sort(allowed)
		want := strings.Join(allowed, ", ")
		path := concretePath(tpl)
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if slices.Contains(allowed, m) {
				continue
			}
			r := edgeDo(t, srv, m, path, "", "", nil, true)
			require.Equal(t, http.StatusMethodNotAllowed, r.status, "%s %s: %s", m, path, r.body)
			assert.Equal(t, want, r.header.Get("Allow"), "%s %s", m, path)
			req, _ := http.NewRequest(m, srv.URL+path, nil)
			require.NoError(t, v.Validate(req, r.status, r.header, r.body), "%s %s", m, path)
			if m == http.MethodHead {
				assert.Empty(t, r.body, "HEAD %s has no body", path)
				assert.Equal(t, httpapi.ProblemContentType, r.header.Get("Content-Type"))
				continue
			}
			p := r.problem(t)
			assert.Equal(t, http.StatusMethodNotAllowed, p.Status)
			assert.Contains(t, p.Type, "#method-not-allowed")
		}
		for _, token := range []bool{true, false} {
			r := edgeDo(t, srv, http.MethodOptions, path, "", "", nil, token)
			assert.Equal(t, http.StatusNoContent, r.status, "OPTIONS %s: %s", path, r.body)
			assert.Equal(t, want, r.header.Get("Allow"), "OPTIONS %s", path)
			assert.Empty(t, r.body)
		}
		preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {allowed[0]}}
		r := edgeDo(t, srv, http.MethodOptions, path, "", "", preflight, false)
		assert.Equal(t, http.StatusNoContent, r.status, "preflight %s", path)
		assert.Equal(t, want, r.header.Get("Allow"))
		assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"), "no CORS: a browser on another origin is refused")
	}
	r := edgeDo(t, srv, http.MethodOptions, "/v1/nowhere", "", "", nil, true)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, 0, tc.started())
}

// TestHeadAnsweredLikeGet: RFC 9110 §9.3.2: HEAD is answered wherever GET is, with the GET's status and headers and
// no body; load balancers and uptime checks probe /healthz that way.
func TestHeadAnsweredLikeGet(t *testing.T) {
	srv, tc, h := edgeServer(t)
	for _, c := range []struct {
		path   string
		token  bool
		status int
	}{
		{"/healthz", false, http.StatusOK},
		{"/openapi.yaml", false, http.StatusOK},
		{"/v1/appointments/a%20b", true, http.StatusBadRequest}, // GET's validation runs too
		{"/v1/appointments/A1", false, http.StatusUnauthorized}, // and its authentication
	} {
		get := edgeDo(t, srv, http.MethodGet, c.path, "", "", nil, c.token)
		head := edgeDo(t, srv, http.MethodHead, c.path, "", "", nil, c.token)
		require.Equal(t, c.status, get.status, "GET %s: %s", c.path, get.body)
		assert.Equal(t, get.status, head.status, "HEAD %s", c.path)
		for _, k := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Allow"} {
			assert.Equal(t, get.header.Get(k), head.header.Get(k), "HEAD %s: %s", c.path, k)
		}
		assert.NotEmpty(t, get.body)
		assert.Empty(t, head.body)

		// The handler itself writes no body (not only net/http's server dropping it).
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodHead, c.path, nil)
		if c.token {
			req.Header.Set("Authorization", "Bearer tok")
		}
		h.ServeHTTP(rec, req)
		assert.Equal(t, c.status, rec.Code)
		assert.Zero(t, rec.Body.Len(), "HEAD %s", c.path)
	}
	assert.Equal(t, 0, tc.started())
}

// edgeSchedule is a valid schedule body with a participant of that name.
func edgeSchedule(id, name string) string {
	return `{"appointmentId": "` + id + `", "org": "demo", "start": "2030-01-02T10:00:00Z",
		"participants": [{"id": "c1", "name": "` + name + `", "email": "zoe@example.com"}]}`
}

// TestBodyCharset: JSON bodies are UTF-8 (RFC 8259 §8.1): a Content-Type with a charset other than UTF-8 (compared
// case-insensitively) gets 415 and starts nothing; UTF-8 in any case, or no charset, is accepted.
func TestBodyCharset(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	for i, c := range []struct {
		contentType string
		status      int
	}{
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"application/json; charset=UTF-8", http.StatusCreated},
		{`application/json;charset="Utf-8"`, http.StatusCreated},
		{"application/json; charset=utf-16", http.StatusUnsupportedMediaType},
		{"application/json; charset=UTF-16LE", http.StatusUnsupportedMediaType},
		{"application/json; charset=iso-8859-1", http.StatusUnsupportedMediaType},
		{"application/json; charset=us-ascii", http.StatusUnsupportedMediaType},
	} {
		before := tc.started()
		r := edgeDo(t, srv, http.MethodPost, "/v1/appointments", c.contentType, edgeSchedule("CS"+string(rune('A'+i)), "Zoë Müller"), nil, true)
		require.Equal(t, c.status, r.status, "%s: %s", c.contentType, r.body)
		if c.status == http.StatusCreated {
			assert.Equal(t, before+1, tc.started())
			continue
		}
		assert.Equal(t, before, tc.started(), "%s started a workflow", c.contentType)
		p := r.problem(t)
		assert.Contains(t, p.Type, "#unsupported-media-type")
		assert.Contains(t, p.Detail, "charset")
	}
	// Every operation with a body: nothing reaches Temporal (edgeClient would panic).
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/appointments/A1/reschedule", `{"start": "2030-01-02T10:00:00Z"}`},
		{http.MethodPost, "/v1/appointments/A1/cancel", `{"reason": "x"}`},
		{http.MethodPatch, "/v1/appointments/A1/metadata", `{"metadata": {"k": "v"}}`},
		{http.MethodPut, "/v1/organizations/demo/notifications", `{"enabled": true}`},
	} {
		r := edgeDo(t, srv, c.method, c.path, "application/json; charset=utf-16", c.body, nil, true)
		assert.Equal(t, http.StatusUnsupportedMediaType, r.status, "%s %s: %s", c.method, c.path, r.body)
	}
}

// TestBodyNotUTF8: a body that is not valid UTF-8 is refused with 400, naming each string that is not (the rule of
// appt.ValidateUTF8, the starter's "is not valid UTF-8") by its JSON pointer, or the body ("") when no string can be
// found; nothing starts. encoding/json alone would turn the ISO-8859-1 name "Zo\xeb M\xfcller" into "Zo\ufffd
// M\ufffdller" and schedule it.
func TestBodyNotUTF8(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	const latin1 = "Zo\xeb M\xfcller"
	utf8Msg := appt.ValidateUTF8("f", latin1).(*appt.FieldError).Msg
	cases := []struct {
		name, method, path, body string
		want                     []string
	}{
		{"a participant's name", http.MethodPost, "/v1/appointments", edgeSchedule("U1", latin1), []string{"/participants/0/name"}},
		{"the second participant, after a nested object", http.MethodPost, "/v1/appointments",
			`{"appointmentId": "U2", "org": "demo", "start": "2030-01-02T10:00:00Z", "metadata": {"a": "b"},
			  "participants": [{"id": "c1", "name": "Ann"}, {"id": "c2", "name": "` + latin1 + `"}]}`,
			[]string{"/participants/1/name"}},
		{"two fields", http.MethodPost, "/v1/appointments",
			`{"appointmentId": "U3", "org": "demo", "start": "2030-01-02T10:00:00Z",
			  "participants": [{"id": "c1", "name": "` + latin1 + `", "email": "z` + "\xf6" + `e@example.com"}]}`,
			[]string{"/participants/0/name", "/participants/0/email"}},
		{"a metadata value", http.MethodPatch, "/v1/appointments/A1/metadata", `{"metadata": {"k": "` + latin1 + `"}}`, []string{"/metadata/k"}},
		{"a cancel reason", http.MethodPost, "/v1/appointments/A1/cancel", `{"reason": "` + latin1 + `"}`, []string{"/reason"}},
		{"a reschedule start", http.MethodPost, "/v1/appointments/A1/reschedule", "{\"start\": \"2030-01-02T10:00:00Z\xff\"}", []string{"/start"}},
		{"a body that is not JSON", http.MethodPost, "/v1/appointments", "\xff\xfe{\x00}\x00", []string{""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := edgeDo(t, srv, c.method, c.path, "application/json", c.body, nil, true)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			p := r.problem(t)
			got := httpapitest.Pointers(p)
			require.Subset(t, got, c.want, "%s", r.body)
			for _, e := range p.Errors {
				if e.Pointer != nil && slices.Contains(c.want, *e.Pointer) {
					assert.Contains(t, e.Detail, utf8Msg, "%s", *e.Pointer)
				}
			}
			if c.method == http.MethodPost && c.path == "/v1/appointments" && c.want[0] != "" {
				assert.Equal(t, c.want, got, "only the bytes that are not UTF-8 are at fault")
			}
		})
	}
	// A member name that is not UTF-8 is named by its member.
	r := edgeDo(t, srv, http.MethodPatch, "/v1/appointments/A1/metadata", "application/json", "{\"metadata\": {\"k\xe9y\": \"v\"}}", nil, true)
	require.Equal(t, http.StatusBadRequest, r.status)
	p := r.problem(t)
	require.NotEmpty(t, p.Errors)
	assert.Equal(t, "/metadata/k\ufffdy", *p.Errors[0].Pointer)
	assert.Equal(t, utf8Msg, p.Errors[0].Detail)
	assert.Equal(t, 0, tc.started(), "nothing starts")

	// The same name in UTF-8 is scheduled.
	r = edgeDo(t, srv, http.MethodPost, "/v1/appointments", "application/json", edgeSchedule("U9", "Zoë Müller"), nil, true)
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, 1, tc.started())
}

// TestEveryFailingFieldInOneAnswer: a body is checked against the document's schema and the rules of internal/appt
// together, and the 400 names every field that fails either, each once: a client learns of the bad email in the
// same answer as of the malformed ID and start. It holds for every operation with a body.
func TestEveryFailingFieldInOneAnswer(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	cases := []struct {
		name, method, path, body string
		want                     []string // every field, in any order
	}{
		{"schedule: a bad ID and start (schema) and a bad email and phone (rules)", http.MethodPost, "/v1/appointments",
			`{"appointmentId": "bad id!", "org": "demo", "start": "tomorrow",
			  "participants": [{"id": "c1", "email": "ann@", "phone": "555"}]}`,
			[]string{"/appointmentId", "/start", "/participants/0/email", "/participants/0/phone"}},
		{"schedule: a wrong type and an unknown field (schema), an unknown org and a past start (rules), a name not UTF-8",
			http.MethodPost, "/v1/appointments",
			`{"appointmentId": "S2", "org": "nope", "start": "2029-01-01T10:00:00Z", "notifications": "yes", "shoe": 9,
			  "participants": [{"id": "c1", "name": "Zo` + "\xeb" + `", "tz": "Mars/Olympus"}]}`,
			[]string{"/notifications", "/shoe", "/org", "/start", "/participants/0/name", "/participants/0/tz"}},
		{"reschedule: an unknown field (schema) and a past start (rules)", http.MethodPost, "/v1/appointments/A1/reschedule",
			`{"start": "2029-01-01T10:00:00Z", "when": "x"}`, []string{"/when", "/start"}},
		{"metadata: a value of the wrong type (schema) and a bad key (rules)", http.MethodPatch, "/v1/appointments/A1/metadata",
			`{"metadata": {"bad key!": "v", "k": 1}}`, []string{"/metadata/k", "/metadata"}},
		{"cancel: an unknown field (schema) and a line break in the reason (rules)", http.MethodPost, "/v1/appointments/A1/cancel",
			`{"reason": "a\nb", "extra": 1}`, []string{"/extra", "/reason"}},
		{"notifications: an unknown field and no flag (schema)", http.MethodPut, "/v1/organizations/demo/notifications",
			`{"enable": true}`, []string{"/enable", "/enabled"}},
		{"schedule: an ID failing two schema keywords and the rules, two bad metadata keys", http.MethodPost, "/v1/appointments",
			`{"appointmentId": "` + strings.Repeat("x", 129) + ` ", "org": "demo", "start": "2030-01-02T10:00:00Z",
			  "participants": [{"id": "c1"}], "metadata": {"a b": "1", "c d": "2"}}`,
			[]string{"/appointmentId", "/metadata"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := edgeDo(t, srv, c.method, c.path, "application/json", c.body, nil, true)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			p := r.problem(t)
			got := httpapitest.Pointers(p)
			assert.ElementsMatch(t, c.want, got, "%s", r.body)
			assert.Len(t, p.Errors, len(c.want), "each field once: %s", r.body)
			for _, e := range p.Errors {
				if e.Pointer != nil && *e.Pointer == "/metadata" && strings.Contains(c.body, `"a b"`) {
					// One stage's failures of one field are kept, in one entry.
					assert.Contains(t, e.Detail, `"a b"`)
					assert.Contains(t, e.Detail, `"c d"`)
				}
			}
		})
	}
	assert.Equal(t, 0, tc.started(), "nothing starts")
}

// TestBodyCharsetUnreadableParameters: a Content-Type whose parameters cannot be read (mime.ParseMediaType's
// ErrInvalidMediaParameter) hides its charset, so it gets 415 like any other charset that is not UTF-8: before, the
// charset check saw no parameters and `charset=latin1; x` or `charset=utf-16;;` was scheduled. An empty trailing
// parameter (`charset=utf-8;`), which the parser reads, is still accepted.
func TestBodyCharsetUnreadableParameters(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	for i, ct := range []string{
		"application/json; charset=latin1; x",
		"application/json; charset=utf-16;;",
		"application/json; charset",
		"application/json; charset=utf-8 x",
	} {
		r := edgeDo(t, srv, http.MethodPost, "/v1/appointments", ct, edgeSchedule("CP"+string(rune('A'+i)), "Zoë"), nil, true)
		require.Equal(t, http.StatusUnsupportedMediaType, r.status, "%s: %s", ct, r.body)
		assert.Contains(t, r.problem(t).Type, "#unsupported-media-type")
	}
	assert.Equal(t, 0, tc.started(), "nothing starts")
	r := edgeDo(t, srv, http.MethodPost, "/v1/appointments", "application/json; charset=utf-8;", edgeSchedule("CPZ", "Zoë"), nil, true)
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

// TestBodyLoneSurrogateEscape: a JSON escape of a lone UTF-16 surrogate ("\ud800", "\udfff") names no character
// and has no UTF-8 encoding; encoding/json would turn it into U+FFFD and schedule "a\ufffdb". It is refused as not
// valid UTF-8, by its string's pointer, like the raw bytes of one. A surrogate pair and an escaped backslash
// before "ud800" are text and pass.
func TestBodyLoneSurrogateEscape(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	utf8Msg := appt.ValidateUTF8("f", "\xff").(*appt.FieldError).Msg
	for _, c := range []struct{ name, method, path, body, want string }{
		{"a high surrogate in a name", http.MethodPost, "/v1/appointments", edgeSchedule("LS1", `a\ud800b`), "/participants/0/name"},
		{"a low surrogate alone", http.MethodPost, "/v1/appointments", edgeSchedule("LS2", `a\uDFFF`), "/participants/0/name"},
		{"a high surrogate before a non-surrogate escape", http.MethodPost, "/v1/appointments", edgeSchedule("LS3", `\ud83d\u0041`), "/participants/0/name"},
		{"two high surrogates", http.MethodPost, "/v1/appointments", edgeSchedule("LS4", `\ud83d\ud83d\ude00`), "/participants/0/name"},
		{"in a cancel reason", http.MethodPost, "/v1/appointments/A1/cancel", `{"reason": "r\udfff"}`, "/reason"},
		{"in a member name", http.MethodPatch, "/v1/appointments/A1/metadata", `{"metadata": {"k\ud800": "v"}}`, "/metadata/k\ufffd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := edgeDo(t, srv, c.method, c.path, "application/json", c.body, nil, true)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			p := r.problem(t)
			require.NotEmpty(t, p.Errors, "%s", r.body)
			assert.Equal(t, c.want, *p.Errors[0].Pointer, "%s", r.body)
			assert.Equal(t, utf8Msg, p.Errors[0].Detail)
		})
	}
	assert.Equal(t, 0, tc.started(), "nothing starts")
	for i, name := range []string{`\ud83d\ude00 Zoe`, `back\\ud800slash`} {
		r := edgeDo(t, srv, http.MethodPost, "/v1/appointments", "application/json", edgeSchedule("LSOK"+string(rune('A'+i)), name), nil, true)
		assert.Equal(t, http.StatusCreated, r.status, "%s: %s", name, r.body)
	}
}

// TestBodyNotUTF8AnswerIsBounded: the UTF-8 check names each bad string by its pointer, but the answer stays small
// whatever the body: 4 KiB of bytes that are not UTF-8 inside 2,000 nested arrays, or under a 10,000-byte member
// name, once gave an 8 MB answer (a pointer of every nesting level for every string). Past a bound, the rest are
// named by the body as a whole.
func TestBodyNotUTF8AnswerIsBounded(t *testing.T) {
	srv, tc, _ := edgeServer(t)
	deep := `{"reason": ` + strings.Repeat("[", 2000) + strings.Repeat("\"\xff\",", 2000)
	long := `{"` + strings.Repeat("k", 10000) + `": [` + strings.Repeat("\"\xff\",", 1000) + `"x"]}`
	for name, body := range map[string]string{"deep": deep, "long name": long} {
		r := edgeDo(t, srv, http.MethodPost, "/v1/appointments/A1/cancel", "application/json", body, nil, true)
		require.Equal(t, http.StatusBadRequest, r.status, name)
		assert.Less(t, len(r.body), 16<<10, "%s: a %d-byte body got a %d-byte answer", name, len(body), len(r.body))
		p := r.problem(t)
		assert.Contains(t, httpapitest.Pointers(p), "", "%s: the rest is named by the body", name)
	}
	assert.Equal(t, 0, tc.started())
}

// unreachableClient is a Temporal client whose queries fail as when the cluster cannot be reached.
type unreachableClient struct{ edgeClient }

func (c *unreachableClient) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return nil, serviceerror.NewUnavailable("connection refused")
}

// TestUnknownOrgWhileTemporalIsUnreachable (docs/api.md#errors): an organisation the config file does not know may
// have been written through the API, so while Temporal cannot be asked the answer is 503 (retry), never 404 "no
// such organisation", which a client would not retry; the config file's organisations are still known.
func TestUnknownOrgWhileTemporalIsUnreachable(t *testing.T) {
	c := api.New(&unreachableClient{}, config.Demo())
	c.Now = func() time.Time { return edgeNow }
	c.UseOrgDirectory(nil, nil)
	tokens, err := httpapi.ParseTokens("tok=*")
	require.NoError(t, err)
	h, err := httpapi.New(httpapi.Options{Client: c, Tokens: tokens})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := edgeDo(t, srv, http.MethodGet, "/v1/organizations/tenant/suppressions", "", "", bearer("tok"), false)
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	assert.NoError(t, c.CheckOrg("demo"), "the config file's organisation is known without Temporal")
}
