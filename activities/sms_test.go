package activities_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// newTwilioFake starts the shared fake of Twilio's Messages API (testenv.StartTwilio).
func newTwilioFake(t *testing.T) *testenv.Twilio { return testenv.StartTwilio(t) }

// twilioError writes Twilio's error document; its message quotes a number, as Twilio's does.
func twilioError(w http.ResponseWriter, status, code int, header http.Header) {
	testenv.TwilioError(w, status, code, header)
}

func itoa(n int) string { return strconv.Itoa(n) }

func smsOrg() *config.Org {
	return &config.Org{ID: "acme", Platform: appt.Genesys, SMSFrom: "+15550000000", EmailFrom: "Acme Care <care@acme.example>"}
}

func newSMS(t *testing.T, baseURL string, opts ...activities.TwilioOption) *activities.TwilioSMS {
	t.Helper()
	s, err := activities.NewTwilioSMS(config.Twilio{AccountSID: accountSID, AuthToken: authToken, BaseURL: baseURL},
		testTemplates(t), opts...)
	require.NoError(t, err)
	return s
}

func TestSMSSuccess(t *testing.T) {
	f := newTwilioFake(t)
	s := newSMS(t, f.URL)
	msg := notification(appt.Reminder, ann)
	sid, err := s.SendSMS(context.Background(), smsOrg(), msg, ann, "A1/REMINDER/g0/1h0m0s/sms/c1")
	require.NoError(t, err)
	sent := f.Requests()
	require.Len(t, sent, 1)
	require.Equal(t, sent[0].SID, sid)
	require.Regexp(t, `^SM[0-9a-f]{32}$`, sid)
	require.Equal(t, ann.Phone, sent[0].To)
	require.Equal(t, "+15550000000", sent[0].From)
	require.Equal(t, "Acme Care: reminder of your appointment on Tue, Mar 5, 9:00 AM EST. "+
		"Join: https://video.example/join/A1?k=s3cr3t", sent[0].Body)
}

func TestSMSClassification(t *testing.T) {
	cases := []struct {
		name       string
		respond    func(w http.ResponseWriter, _ testenv.TwilioRequest)
		wantType   string
		retryAfter time.Duration
	}{
		{"21211 invalid To", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 400, 21211, nil) },
			activities.ErrInvalidRecipient, 0},
		{"21610 unsubscribed", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 400, 21610, nil) },
			activities.ErrOptedOut, 0},
		{"21606 bad From", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 400, 21606, nil) },
			activities.ErrProviderPermanent, 0},
		{"401 auth", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 401, 20003, nil) },
			activities.ErrProviderPermanent, 0},
		{"403 unknown code", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 403, 12345, nil) },
			activities.ErrHTTPClient, 0},
		{"404 unknown code", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 404, 12345, nil) },
			activities.ErrHTTPClient, 0},
		{"429 Retry-After", func(w http.ResponseWriter, _ testenv.TwilioRequest) {
			twilioError(w, 429, 20429, http.Header{"Retry-After": {"7"}})
		}, activities.ErrTransient, 7 * time.Second},
		{"500", func(w http.ResponseWriter, _ testenv.TwilioRequest) { twilioError(w, 500, 20500, nil) },
			activities.ErrTransient, 0},
		{"503 not JSON", func(w http.ResponseWriter, _ testenv.TwilioRequest) {
			w.Header().Set("Retry-After", "2")
			http.Error(w, "<html>upstream down</html>", http.StatusServiceUnavailable)
		}, activities.ErrTransient, 2 * time.Second},
		{"302", func(w http.ResponseWriter, _ testenv.TwilioRequest) {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, activities.ErrHTTPRedirect, 0},
	}
	f := newTwilioFake(t)
	s := newSMS(t, f.URL)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.Respond(c.respond)
			_, err := s.SendSMS(context.Background(), smsOrg(), notification(appt.Create, ann), ann, "n1")
			de := deliveryError(t, err, c.wantType)
			require.Equal(t, c.wantType == activities.ErrTransient, activities.Retryable(de.Type))
			require.Equal(t, c.retryAfter, de.RetryAfter)
			noPII(t, err)
		})
	}
}

func TestSMSNetworkErrorsAreTransient(t *testing.T) {
	f := newTwilioFake(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	f.Respond(func(http.ResponseWriter, testenv.TwilioRequest) { <-block })
	s := newSMS(t, f.URL, activities.WithTwilioTimeout(200*time.Millisecond))
	_, err := s.SendSMS(context.Background(), smsOrg(), notification(appt.Create, ann), ann, "n1")
	deliveryError(t, err, activities.ErrTransient)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	s = newSMS(t, closed.URL)
	_, err = s.SendSMS(context.Background(), smsOrg(), notification(appt.Create, ann), ann, "n1")
	deliveryError(t, err, activities.ErrTransient)
	require.NotContains(t, err.Error(), accountSID)
}

func TestSMSRecipientWithoutPhone(t *testing.T) {
	s := newSMS(t, "http://127.0.0.1:1")
	p := ann
	p.Phone = ""
	_, err := s.SendSMS(context.Background(), smsOrg(), notification(appt.Create, p), p, "n1")
	deliveryError(t, err, activities.ErrUnprovisioned)
	p.Phone = "555-1234"
	_, err = s.SendSMS(context.Background(), smsOrg(), notification(appt.Create, p), p, "n1")
	deliveryError(t, err, activities.ErrInvalidRecipient)
}

// TestSMSAgainstPrism sends a real SMS request, through twilio-go, to Prism serving Twilio's own OpenAPI
// description: Prism rejects a request that does not fit the contract (422/400/401 with a problem document) and
// answers a valid one with a sample 201.
func TestSMSAgainstPrism(t *testing.T) {
	base := testenv.StartPrism(t)
	s := newSMS(t, base, activities.WithTwilioTimeout(30*time.Second))
	sid, err := s.SendSMS(context.Background(), smsOrg(), notification(appt.Reminder, ann), ann, "n1")
	require.NoError(t, err, "Prism rejected the request")
	require.NotEmpty(t, sid)
	require.True(t, strings.HasPrefix(sid, "SM"), sid)

	// The control: a request that breaks the contract (an account SID that is not AC + 32 hex) is refused.
	bad, err := activities.NewTwilioSMS(config.Twilio{AccountSID: "ACnothex", AuthToken: authToken, BaseURL: base},
		testTemplates(t), activities.WithTwilioTimeout(30*time.Second))
	require.NoError(t, err)
	_, err = bad.SendSMS(context.Background(), smsOrg(), notification(appt.Reminder, ann), ann, "n1")
	deliveryError(t, err, activities.ErrHTTPClient)
}

// With twilio.status_callback_url every SMS asks Twilio for status callbacks at that URL with the appointment's
// ID; without it, none.
func TestSMSStatusCallback(t *testing.T) {
	f := newTwilioFake(t)
	msg := notification(appt.Reminder, ann)
	msg.Appointment.ID = "A:1.x"
	_, err := newSMS(t, f.URL).SendSMS(context.Background(), smsOrg(), msg, ann, "n1")
	require.NoError(t, err)
	with, err := activities.NewTwilioSMS(config.Twilio{AccountSID: accountSID, AuthToken: authToken, BaseURL: f.URL,
		StatusCallbackURL: "https://hooks.acme.example/twilio/status"}, testTemplates(t))
	require.NoError(t, err)
	_, err = with.SendSMS(context.Background(), smsOrg(), msg, ann, "n2")
	require.NoError(t, err)
	reqs := f.Requests()
	require.Len(t, reqs, 2)
	require.Empty(t, reqs[0].StatusCallback)
	require.Equal(t, "https://hooks.acme.example/twilio/status?appointmentId=A%3A1.x", reqs[1].StatusCallback)
}
