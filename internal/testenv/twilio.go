package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Credentials the fake Twilio accepts (an account SID is AC + 32 hex digits, as Twilio's are).
const (
	TwilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	TwilioAuthToken  = "token0123456789"
)

// TwilioRequest is one authenticated POST to the Messages API that the fake received.
type TwilioRequest struct {
	To, From, Body string
	At             time.Time
	Status         int    // what the fake answered
	SID            string // the message SID of a 201 answer
}

// Twilio is a fake of Twilio's Messages API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, basic auth,
// form fields To, From and Body) on 127.0.0.1. Requests with the wrong path or credentials get 401 with error 20003
// and are not recorded; every other request is recorded and answered by the responder (201 with a fresh message
// SID by default).
type Twilio struct {
	*httptest.Server
	mu       sync.Mutex
	requests []TwilioRequest
	respond  func(w http.ResponseWriter, r TwilioRequest)
	sids     int
}

// StartTwilio starts a fake Twilio that lives as long as the test. Point config twilio.base_url at its URL, with
// TwilioAccountSID and TwilioAuthToken as the credentials.
func StartTwilio(t testing.TB) *Twilio {
	f := &Twilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+TwilioAccountSID+"/Messages.json" ||
		!ok || user != TwilioAccountSID || pass != TwilioAuthToken {
		TwilioError(w, http.StatusUnauthorized, 20003, nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		TwilioError(w, http.StatusBadRequest, 21602, nil)
		return
	}
	req := TwilioRequest{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body"), At: time.Now()}
	f.mu.Lock()
	respond := f.respond
	f.sids++
	req.SID = fmt.Sprintf("SM%032x", f.sids)
	f.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w}
	if respond != nil {
		respond(rec, req)
	} else {
		TwilioCreated(rec, req)
	}
	req.Status = rec.status
	if req.Status == 0 {
		req.Status = http.StatusOK
	}
	if req.Status != http.StatusCreated {
		req.SID = ""
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
}

// Respond sets how the fake answers from now on; nil restores the default, TwilioCreated. The responder gets the
// request with a fresh SID, and may answer with TwilioError or TwilioCreated.
func (f *Twilio) Respond(fn func(w http.ResponseWriter, r TwilioRequest)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

// Requests returns every recorded request, in arrival order.
func (f *Twilio) Requests() []TwilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioRequest(nil), f.requests...)
}

// RequestsTo returns the recorded requests to one number.
func (f *Twilio) RequestsTo(to string) []TwilioRequest {
	var out []TwilioRequest
	for _, r := range f.Requests() {
		if r.To == to {
			out = append(out, r)
		}
	}
	return out
}

// TwilioError writes Twilio's error document. Like Twilio's own, the message quotes a phone number, so tests can
// check that it never reaches a log.
func TwilioError(w http.ResponseWriter, status, code int, header http.Header) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": "The 'To' number +15551234567 is not a valid phone number.",
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), "status": status,
	})
}

// TwilioCreated writes Twilio's 201 answer: the message, queued, with the request's SID.
func TwilioCreated(w http.ResponseWriter, r TwilioRequest) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": r.SID, "status": "queued", "to": r.To, "from": r.From, "body": r.Body, "account_sid": TwilioAccountSID,
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
