package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/httpapi/httpapitest"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestParseTokens(t *testing.T) {
	tok, err := httpapi.ParseTokens(" a=acme , b==x==* ,c=acme|beta")
	require.NoError(t, err)
	assert.Equal(t, 3, tok.Len())
	assert.ElementsMatch(t, []string{"acme", "beta"}, tok.Orgs())

	for _, bad := range []string{"secret", "=acme", "a=", "a=acme|", "a=*|acme", "a=acme,a=beta"} {
		_, err := httpapi.ParseTokens(bad)
		require.Error(t, err, "%q", bad)
		assert.Contains(t, err.Error(), httpapi.TokensEnvVar)
		if tok, _, ok := strings.Cut(bad, "="); ok && len(tok) > 0 {
			assert.NotContains(t, err.Error(), bad, "the error does not repeat the entry")
		}
	}
	none, err := httpapi.ParseTokens("")
	require.NoError(t, err)
	assert.Equal(t, 0, none.Len())
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8088": true, "localhost:1": true, "[::1]:8088": true, "127.1.2.3:80": true,
		":8088": false, "0.0.0.0:8088": false, "10.0.0.1:80": false, "[::]:80": false, "example.com:80": false, "nope": false,
	} {
		assert.Equal(t, want, httpapi.IsLoopback(addr), addr)
	}
}

// TestGracefulShutdown: when serve's context ends (SIGTERM in the starter), the listener closes at once and a
// request in flight still gets its answer before Serve returns.
func TestGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- httpapi.Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	cancel()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, 10*time.Millisecond, "the listener stays open during shutdown")
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}
	close(release)
	res := <-got
	require.NoError(t, res.err)
	assert.Equal(t, "finished", res.body)
	assert.NoError(t, <-served)
}

// FuzzScheduleBody: any body sent to POST /v1/appointments gets 201 with exactly one workflow start, or a 4xx
// problem document (valid against the document, naming at least one field for a 400) with no start. Never a 5xx.
func FuzzScheduleBody(f *testing.F) {
	start := time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	valid := mustJSON(map[string]any{"appointmentId": "F1", "org": "demo", "start": rfc(start),
		"participants": []map[string]string{{"id": "c1", "email": "ann@example.com", "phone": "+15551234567"}}})
	f.Add(valid)
	f.Add(`{"appointmentId": "F1", "org": "demo", "start": "2030-01-02T10:00:00Z", "participants": [{"id": "c1"}], "metadata": {"a": "b"}, "duration": "1h"}`)
	f.Add(`{"appointmentId": 1, "org": ["demo"], "start": {}, "participants": [{"id": null}]}`)
	f.Add(`{"appointmentId": "F1", "org": "demo", "start": "2030-01-02T10:00:00Z", "participants": [{"id": "c1", "tz": "Nowhere"}], "end": "2030-01-02T09:00:00Z"}`)
	f.Add(`{"appointmentId": "F1", "org": "demo", "start": "2030-01-02T10:00:00Z", "participants": [], "x": 1}`)
	f.Add(`{"appointmentId":"F1","org":"demo","start":"2030-01-02T10:00:00+14:00","participants":[{"id":"c1","role":"agent","locale":"zz-!!"}],"joinUrl":"http://"}`)
	f.Add(`{`)
	f.Add(``)
	f.Add(`"\u0000"`)
	f.Add(`{"appointmentId":"F1","appointmentId":"F2","org":"demo","start":"2030-01-02T10:00:00Z","participants":[{"id":"c1"}]}`)
	f.Add("{\"appointmentId\":\"F1\",\"org\":\"demo\",\"start\":\"2030-01-02T10:00:00Z\",\"participants\":[{\"id\":\"c1\",\"name\":\"Zo\xeb\"}],\"metadata\":{\"k\xff\":[\"\xfe\"]}}")

	f.Add(`{"appointmentId":"F1","org":"demo","start":"2030-01-02T10:00:00Z","participants":[{"id":"c1","name":"a\ud800b\\udc00\ud83d\ude00"}],"metadata":{"k\udfff":"v"}}`)

	rec := &edgeClient{} // counts the starts; any other Temporal call panics
	c := api.New(rec, config.Demo())
	c.Now = func() time.Time { return start.Add(-24 * time.Hour) }
	h, err := httpapi.New(httpapi.Options{Client: c})
	require.NoError(f, err)
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)
	v, err := httpapitest.New()
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, body string) {
		before := rec.started()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/appointments", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, v.Validate(req, resp.StatusCode, resp.Header, b), "%d %s", resp.StatusCode, b)
		started := rec.started() - before
		switch status := resp.StatusCode; {
		case status == http.StatusCreated:
			assert.Equal(t, 1, started)
		case status >= 400 && status < 500:
			assert.Equal(t, 0, started, "a %d started a workflow", status)
			require.NoError(t, v.ValidateProblem(b))
			if status == http.StatusBadRequest {
				var pp httpapi.Problem
				require.NoError(t, json.Unmarshal(b, &pp))
				assert.NotEmpty(t, pp.Errors)
			}
		default:
			t.Fatalf("status %d for %q: %s", status, body, b)
		}
	})
}

// TestDocumentLimitsMatchRules: the limits the document states are internal/appt's, so the contract cannot drift
// from the rules the server applies after it.
func TestDocumentLimitsMatchRules(t *testing.T) {
	doc, err := httpapi.LoadDocument()
	require.NoError(t, err)
	s := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	prop := func(schema, p string) *openapi3.Schema { return s(schema).Properties[p].Value }
	assert.Equal(t, uint64(appt.MaxAppointmentIDLen), *s("AppointmentID").MaxLength)
	assert.Equal(t, uint64(appt.MaxParticipantIDLen), *s("ParticipantID").MaxLength)
	assert.Equal(t, uint64(appt.MaxParticipantIDLen), *s("OrgID").MaxLength, "organisation IDs follow the participant-ID rule")
	assert.Equal(t, uint64(appt.MaxParticipants), *prop("ScheduleRequest", "participants").MaxItems)
	assert.Equal(t, uint64(appt.MaxNameLen), *prop("Participant", "name").MaxLength)
	assert.Equal(t, uint64(appt.MaxJoinURLLen), *prop("ScheduleRequest", "joinUrl").MaxLength)
	assert.Equal(t, uint64(appt.MaxMetadataKeys), *s("Metadata").MaxProps)
	assert.Equal(t, uint64(appt.MaxMetadataValueLen), *s("Metadata").AdditionalProperties.Schema.Value.MaxLength)
	assert.Equal(t, uint64(appt.MaxMetadataValueLen), *prop("CancelRequest", "reason").MaxLength)
	md := prop("MetadataRequest", "metadata")
	assert.Equal(t, uint64(appt.MaxMetadataKeys), *md.MaxProps)
	assert.Equal(t, uint64(appt.MaxMetadataValueLen), *md.AdditionalProperties.Schema.Value.MaxLength)
	for _, name := range []string{"AppointmentID", "ParticipantID", "OrgID"} {
		assert.Equal(t, "^[A-Za-z0-9._:-]+$", s(name).Pattern, name)
	}
	var states []any
	for _, st := range []appt.State{appt.Scheduled, appt.Active, appt.InCall, appt.Ended, appt.CancelledSt, appt.Expired, appt.Rejected} {
		states = append(states, string(st))
	}
	assert.Equal(t, states, s("State").Enum)
}

// TestDocumentCoversStatusFields: every JSON field of the status document's Go types is in the document's schemas
// (which allow no other property), so a field added to internal/appt cannot reach clients undocumented.
func TestDocumentCoversStatusFields(t *testing.T) {
	doc, err := httpapi.LoadDocument()
	require.NoError(t, err)
	for name, typ := range map[string]reflect.Type{
		"Status":        reflect.TypeFor[appt.Status](),
		"DeliveryEntry": reflect.TypeFor[appt.DeliveryEntry](),
		"UpdateResult":  reflect.TypeFor[appt.UpdateResult](),
	} {
		schema := doc.Components.Schemas[name].Value
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			assert.Contains(t, schema.Properties, tag, "%s.%s is not in the document's %s schema", typ.Name(), typ.Field(i).Name, name)
		}
	}
}
