package testenv

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

// TwilioUpdate is one authenticated update of a message (POST /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json)
// that the fake received: a redaction when Body is present and empty.
type TwilioUpdate struct {
	SID     string
	Body    string
	HasBody bool // the Body parameter was sent (an empty Body redacts)
	At      time.Time
	Status  int // what the fake answered
}

var messageUpdateRE = regexp.MustCompile(`^/2010-04-01/Accounts/` + TwilioAccountSID + `/Messages/(SM[0-9a-f]{32})\.json$`)

func messageUpdatePath(path string) (string, bool) {
	m := messageUpdateRE.FindStringSubmatch(path)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// serveUpdate answers a message update as Twilio does: the message with its (new) body, or 404 with error 20404 for
// a SID the fake never issued; RespondUpdate can answer otherwise (20009, say).
func (f *Twilio) serveUpdate(w http.ResponseWriter, r *http.Request, sid string) {
	if err := r.ParseForm(); err != nil {
		TwilioError(w, http.StatusBadRequest, 21602, nil)
		return
	}
	_, has := r.PostForm["Body"]
	u := TwilioUpdate{SID: sid, Body: r.PostForm.Get("Body"), HasBody: has, At: time.Now()}
	f.mu.Lock()
	respond := f.respondUpdate
	known := false
	for _, q := range f.requests {
		known = known || q.SID == sid
	}
	f.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w}
	switch {
	case respond != nil:
		respond(rec, u)
	case !known:
		TwilioError(rec, http.StatusNotFound, 20404, nil)
	default:
		TwilioUpdated(rec, u)
	}
	u.Status = rec.status
	f.mu.Lock()
	f.updates = append(f.updates, u)
	f.mu.Unlock()
}

// TwilioUpdated writes Twilio's 200 answer to a message update: the message with its new body.
func TwilioUpdated(w http.ResponseWriter, u TwilioUpdate) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"sid": u.SID, "status": "delivered", "body": u.Body, "account_sid": TwilioAccountSID})
}

// RespondUpdate sets how the fake answers message updates from now on; nil restores the default.
func (f *Twilio) RespondUpdate(fn func(w http.ResponseWriter, u TwilioUpdate)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respondUpdate = fn
}

// Updates returns every recorded message update, in arrival order.
func (f *Twilio) Updates() []TwilioUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioUpdate(nil), f.updates...)
}

// Redacted returns the SIDs whose body the fake redacted (an update with an empty Body answered 200), in order.
func (f *Twilio) Redacted() []string {
	var out []string
	for _, u := range f.Updates() {
		if u.HasBody && u.Body == "" && u.Status == http.StatusOK {
			out = append(out, u.SID)
		}
	}
	return out
}
