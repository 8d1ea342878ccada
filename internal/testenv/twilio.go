package testenv

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
	StatusCallback string // the StatusCallback parameter, if any
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

	updates       []TwilioUpdate
	respondUpdate func(w http.ResponseWriter, u TwilioUpdate)
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
	if sid, isUpdate := messageUpdatePath(r.URL.Path); isUpdate && r.Method == http.MethodPost && ok &&
		user == TwilioAccountSID && pass == TwilioAuthToken {
		f.serveUpdate(w, r, sid)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+TwilioAccountSID+"/Messages.json" ||
		!ok || user != TwilioAccountSID || pass != TwilioAuthToken {
		TwilioError(w, http.StatusUnauthorized, 20003, nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		TwilioError(w, http.StatusBadRequest, 21602, nil)
		return
	}
	req := TwilioRequest{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body"),
		StatusCallback: r.PostForm.Get("StatusCallback"), At: time.Now()}
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

// TwilioSignature computes X-Twilio-Signature as Twilio documents it ("Validating requests"): the full URL Twilio
// called, followed by every POST parameter's name and value with the names sorted, HMAC-SHA1 keyed with the auth
// token, in base64. It is written here from the documentation, independently of twilio-go's validator, so a test
// can check one against the other.
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range params[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// StatusParams are the POST parameters of Twilio's status callback for a message: its SID (MessageSid and the
// legacy SmsSid), its status (MessageStatus and SmsStatus), ErrorCode when there is one, and the account, numbers
// and API version, as Twilio sends them.
func StatusParams(r TwilioRequest, status string, errorCode int) url.Values {
	v := url.Values{
		"AccountSid": {TwilioAccountSID}, "ApiVersion": {"2010-04-01"}, "From": {r.From}, "To": {r.To},
		"MessageSid": {r.SID}, "SmsSid": {r.SID}, "MessageStatus": {status}, "SmsStatus": {status},
	}
	if errorCode != 0 {
		v.Set("ErrorCode", strconv.Itoa(errorCode))
	}
	return v
}

// SendStatus posts a status callback for a message the fake accepted, as Twilio would: to the StatusCallback the
// message was created with, signed with TwilioAuthToken over that URL. via, when not empty, is where the request
// really goes (scheme and host of the listener behind a proxy); the signature still covers the public URL. It
// returns the listener's HTTP status.
func (f *Twilio) SendStatus(t testing.TB, r TwilioRequest, via, status string, errorCode int) int {
	t.Helper()
	if r.StatusCallback == "" {
		t.Fatalf("message %s was sent without a StatusCallback", r.SID)
	}
	params := StatusParams(r, status, errorCode)
	return PostCallback(t, r.StatusCallback, via, params, TwilioSignature(TwilioAuthToken, r.StatusCallback, params))
}

// PostCallbackBody posts a raw body with the given Content-Type ("" sends none) to the public URL (or to via,
// keeping the public URL's path and query), signed as Twilio would sign the form the body parses to, and returns
// the HTTP status. It sends what Twilio never would (another charset, bytes that are not UTF-8), to test that the
// listener refuses it.
func PostCallbackBody(t testing.TB, public, via, contentType, body string) int {
	t.Helper()
	params, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(public)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(via, "/")+u.RequestURI(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Twilio-Signature", TwilioSignature(TwilioAuthToken, public, params))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// PostCallback posts form params to the public URL (or to via, keeping the public URL's path and query) with the
// given X-Twilio-Signature ("" sends none), and returns the HTTP status.
func PostCallback(t testing.TB, public, via string, params url.Values, signature string) int {
	t.Helper()
	target := public
	if via != "" {
		u, err := url.Parse(public)
		if err != nil {
			t.Fatal(err)
		}
		target = strings.TrimSuffix(via, "/") + u.RequestURI()
	}
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
