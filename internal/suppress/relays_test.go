package suppress_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

const topic = "arn:aws:sns:eu-west-1:123456789012:ses-events"

type relayEnv struct {
	list    *suppress.List
	url     string
	sgKey   *ecdsa.PrivateKey
	snsKey  *rsa.PrivateKey
	certURL string
	subURL  string
	subHits *atomic.Int32
}

// newRelayEnv starts the relays over a list of the config's organisations acme (with both relays' keys) and bare
// (none); setup, when given, changes the list before the relays take it (sgDER: the SendGrid key's DER, base64).
func newRelayEnv(t *testing.T, setup ...func(l *suppress.List, sgDER string)) *relayEnv {
	sg, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&sg.PublicKey)
	require.NoError(t, err)
	cfg, err := config.Parse([]byte(`
organizations:
  - id: acme
    platform: genesys
    email_from: care@acme.example
    suppression:
      sendgrid_verification_key: "` + base64.StdEncoding.EncodeToString(der) + `"
      ses_topic_arns: ["` + topic + `"]
  - {id: bare, platform: genesys, email_from: care@bare.example}
`))
	require.NoError(t, err)
	// A stand-in for Amazon SNS over TLS: the signing certificate and the subscription confirmation.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rk.PublicKey, rk)
	require.NoError(t, err)
	var hits atomic.Int32
	sns := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/SimpleNotificationService-test.pem":
			_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: cder})
		case "/confirm":
			hits.Add(1)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(sns.Close)
	hasher, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	store := suppress.NewMemoryStore(time.Now)
	l := suppress.NewList(cfg, hasher, store, suppress.NewCache(store))
	for _, f := range setup {
		f(l, base64.StdEncoding.EncodeToString(der))
	}
	rl := suppress.NewRelays(l, slog.New(slog.DiscardHandler))
	rl.HTTP = sns.Client()
	snsURL, _ := url.Parse(sns.URL)
	rl.CertHostOK = func(u *url.URL) bool { return u.Scheme == "https" && u.Host == snsURL.Host }
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	return &relayEnv{list: l, url: srv.URL, sgKey: sg, snsKey: rk, certURL: sns.URL + "/SimpleNotificationService-test.pem",
		subURL: sns.URL + "/confirm", subHits: &hits}
}

func (e *relayEnv) check(t *testing.T, addr string) appt.SuppressionReason {
	r, err := e.list.Check(context.Background(), "acme", appt.Email, addr)
	require.NoError(t, err)
	return r
}

// postSendGrid posts events signed as SendGrid documents: ECDSA P-256 over SHA-256 of timestamp + body.
func (e *relayEnv) postSendGrid(t *testing.T, org string, body string, key *ecdsa.PrivateKey) int {
	return e.postSendGridAs(t, org, "application/json", body, key)
}

// postSendGridAs is postSendGrid with the given Content-Type.
func (e *relayEnv) postSendGridAs(t *testing.T, org, contentType, body string, key *ecdsa.PrivateKey) int {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, e.url+config.EventsPath+"sendgrid/"+org, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if key != nil {
		d := sha256.Sum256([]byte(ts + body))
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		require.NoError(t, err)
		req.Header.Set(suppress.SendGridSignatureHeader, base64.StdEncoding.EncodeToString(sig))
		req.Header.Set(suppress.SendGridTimestampHeader, ts)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

// The SendGrid Event Webhook (docs/rules.md#suppression): only bounce events of type bounce (permanent) and
// spamreport suppress; blocked (temporary) bounces, deferrals and deliveries do not; an unsigned, forged or
// wrong-key batch gets 403 and changes nothing; an organisation without a key refuses; a replayed event is
// idempotent.
func TestSendGridEvents(t *testing.T) {
	e := newRelayEnv(t)
	batch := `[
 {"email":"Hard@Example.com","timestamp":1700000000,"event":"bounce","type":"bounce","bounce_classification":"Invalid Address","reason":"550 5.1.1 user unknown","status":"5.1.1","sg_event_id":"ev-hard","sg_message_id":"m1"},
 {"email":"soft@example.com","timestamp":1700000000,"event":"bounce","type":"blocked","reason":"421 try later","status":"4.0.0","sg_event_id":"ev-blocked","sg_message_id":"m2"},
 {"email":"spam@example.com","timestamp":1700000000,"event":"spamreport","sg_event_id":"ev-spam","sg_message_id":"m3"},
 {"email":"late@example.com","timestamp":1700000000,"event":"deferred","attempt":"1","sg_event_id":"ev-def","sg_message_id":"m4"},
 {"email":"ok@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"ev-ok","sg_message_id":"m5"}
]`
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, e.postSendGrid(t, "acme", batch, nil), "unsigned")
	assert.Equal(t, http.StatusForbidden, e.postSendGrid(t, "acme", batch, other), "signed with another key")
	assert.Equal(t, http.StatusForbidden, e.postSendGrid(t, "bare", batch, e.sgKey), "no key configured")
	assert.Equal(t, http.StatusNotFound, e.postSendGrid(t, "nobody", batch, e.sgKey))
	assert.Empty(t, e.check(t, "hard@example.com"), "refused batches change nothing")
	assert.Equal(t, http.StatusBadRequest, e.postSendGrid(t, "acme", `{"not":"an array"}`, e.sgKey))

	require.Equal(t, http.StatusOK, e.postSendGrid(t, "acme", batch, e.sgKey))
	assert.Equal(t, appt.ReasonHardBounce, e.check(t, "hard@example.com"))
	assert.Equal(t, appt.ReasonComplaint, e.check(t, "spam@example.com"))
	for _, a := range []string{"soft@example.com", "late@example.com", "ok@example.com"} {
		assert.Empty(t, e.check(t, a), a)
	}
	es, _, err := e.list.Lookup(context.Background(), "acme", appt.Email, "hard@example.com")
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.NotNil(t, es[0].ExpiresAt, "a hard bounce expires")
	assert.WithinDuration(t, time.Now().Add(config.DefaultHardBounceLifetime), *es[0].ExpiresAt, time.Minute)
	seq := es[0].Seq
	require.Equal(t, http.StatusOK, e.postSendGrid(t, "acme", batch, e.sgKey), "a retried batch")
	es, _, err = e.list.Lookup(context.Background(), "acme", appt.Email, "hard@example.com")
	require.NoError(t, err)
	assert.Equal(t, seq, es[0].Seq, "a replayed event changes nothing")
}

// snsMessage builds an SNS HTTP message and signs it as Amazon SNS documents: the canonical string (the fields in
// order, name and value each on a line) signed with SHA1withRSA (version 1) or SHA256withRSA (version 2).
func (e *relayEnv) snsMessage(t *testing.T, typ, id, message, version string) []byte {
	m := map[string]string{"Type": typ, "MessageId": id, "TopicArn": topic, "Message": message,
		"Timestamp": "2026-12-04T07:00:00.000Z", "SignatureVersion": version, "SigningCertURL": e.certURL}
	fields := []string{"Message", "MessageId", "Timestamp", "TopicArn", "Type"}
	if typ != "Notification" {
		m["SubscribeURL"], m["Token"] = e.subURL, "tok"
		fields = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f + "\n" + m[f] + "\n")
	}
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum([]byte(b.String())) //nolint:gosec
		sig, err = rsa.SignPKCS1v15(rand.Reader, e.snsKey, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, e.snsKey, crypto.SHA256, d[:])
	}
	require.NoError(t, err)
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

func (e *relayEnv) postSES(t *testing.T, body []byte) int {
	res, err := http.Post(e.url+config.EventsPath+"ses/acme", "text/plain; charset=UTF-8", strings.NewReader(string(body)))
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

// Amazon SES through SNS (docs/rules.md#suppression): a verified SubscriptionConfirmation is confirmed; a Permanent
// bounce suppresses each bounced recipient and a complaint each complained recipient; Transient bounces and
// deliveries do not; a forged signature, an unknown topic or a certificate from another host gets 403 and changes
// nothing; a redelivered notification is idempotent.
func TestSESEvents(t *testing.T) {
	e := newRelayEnv(t)
	require.Equal(t, http.StatusOK, e.postSES(t, e.snsMessage(t, "SubscriptionConfirmation", "sub-1", "You have chosen to subscribe", "1")))
	assert.EqualValues(t, 1, e.subHits.Load(), "the subscription was confirmed")

	permanent := `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"gone@example.com","action":"failed","status":"5.1.1"}],"timestamp":"2026-12-04T06:59:00.000Z","feedbackId":"f1"},"mail":{"messageId":"m1","source":"care@acme.example","destination":["gone@example.com"]}}`
	transient := `{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull","bouncedRecipients":[{"emailAddress":"full@example.com"}]},"mail":{"messageId":"m2"}}`
	complaint := `{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"angry@example.com"}],"complaintFeedbackType":"abuse"},"mail":{"messageId":"m3"}}`

	forged := e.snsMessage(t, "Notification", "n-0", permanent, "2")
	forged = []byte(strings.Replace(string(forged), "gone@example.com", "other@example.com", 1))
	assert.Equal(t, http.StatusForbidden, e.postSES(t, forged), "a changed message")
	wrongTopic := []byte(strings.Replace(string(e.snsMessage(t, "Notification", "n-0", permanent, "2")), topic, topic+"x", 1))
	assert.Equal(t, http.StatusForbidden, e.postSES(t, wrongTopic), "a topic the organisation does not accept")
	foreign := []byte(strings.Replace(string(e.snsMessage(t, "Notification", "n-0", permanent, "2")), e.certURL,
		"https://evil.example/cert.pem", 1))
	assert.Equal(t, http.StatusForbidden, e.postSES(t, foreign), "a certificate from another host")
	assert.Empty(t, e.check(t, "gone@example.com"))

	require.Equal(t, http.StatusOK, e.postSES(t, e.snsMessage(t, "Notification", "n-1", permanent, "2")))
	require.Equal(t, http.StatusOK, e.postSES(t, e.snsMessage(t, "Notification", "n-2", transient, "1")))
	require.Equal(t, http.StatusOK, e.postSES(t, e.snsMessage(t, "Notification", "n-3", complaint, "1")))
	assert.Equal(t, appt.ReasonHardBounce, e.check(t, "gone@example.com"))
	assert.Empty(t, e.check(t, "full@example.com"), "a transient bounce does not suppress")
	assert.Equal(t, appt.ReasonComplaint, e.check(t, "angry@example.com"))

	es, _, err := e.list.Lookup(context.Background(), "acme", appt.Email, "gone@example.com")
	require.NoError(t, err)
	seq := es[0].Seq
	require.Equal(t, http.StatusOK, e.postSES(t, e.snsMessage(t, "Notification", "n-1", permanent, "2")))
	es, _, err = e.list.Lookup(context.Background(), "acme", appt.Email, "gone@example.com")
	require.NoError(t, err)
	assert.Equal(t, seq, es[0].Seq, "a redelivered notification changes nothing")
}

// TestRelaysRefuseOtherCharsets (docs/api.md#request-bodies, the rule every input surface follows): an event
// webhook whose Content-Type names a charset other than UTF-8 gets 415, one whose parameters cannot be read gets
// 415, and a body that is not valid UTF-8 gets 400 naming the body, each before the signature is checked and with
// nothing added to the list; the same events as UTF-8 with charset=utf-8 are accepted.
func TestRelaysRefuseOtherCharsets(t *testing.T) {
	e := newRelayEnv(t)
	post := func(ct, body string) int { return e.postSendGridAs(t, "acme", ct, body, e.sgKey) }
	events := func(addr, id string) string {
		return `[{"email":"` + addr + `","event":"bounce","type":"bounce","sg_event_id":"` + id + `"}]`
	}
	assert.Equal(t, http.StatusUnsupportedMediaType, post("application/json; charset=utf-16", events("cs1@example.com", "cs1")))
	assert.Equal(t, http.StatusUnsupportedMediaType, post("application/json; charset=latin1; x", events("cs2@example.com", "cs2")))
	assert.Equal(t, http.StatusBadRequest, post("application/json", events("h\xe4rd@example.com", "cs3")))
	assert.Empty(t, e.check(t, "cs1@example.com"), "a refused batch adds nothing")
	assert.Empty(t, e.check(t, "cs2@example.com"), "a refused batch adds nothing")
	assert.Equal(t, http.StatusOK, post("application/json; charset=UTF-8", events("cs4@example.com", "cs4")))
	assert.Equal(t, appt.ReasonHardBounce, e.check(t, "cs4@example.com"))
}

// TestRelaysFindOrganisationsWrittenThroughTheAPI (docs/rules.md#suppression): an organisation onboarded through the
// API, whose document (with its SendGrid key) lives in its settings workflow and is read through orgs.Directory,
// gets its own relay: a signed bounce suppresses the address in that organisation's list. The config file does not
// know it; without the directory the relay answers 404.
func TestRelaysFindOrganisationsWrittenThroughTheAPI(t *testing.T) {
	tenantDoc := func(der string) json.RawMessage {
		return json.RawMessage(`{"id":"tenant","platform":"genesys","email_from":"care@tenant.example",` +
			`"suppression":{"sendgrid_verification_key":"` + der + `"}}`)
	}
	e := newRelayEnv(t, func(l *suppress.List, der string) {
		l.Orgs = orgs.NewDirectory(l.Config, func(_ context.Context, id string) (appt.OrgSettings, bool, error) {
			if id != "tenant" {
				return appt.OrgSettings{}, false, nil
			}
			return appt.OrgSettings{OrgDocument: appt.OrgDocument{Document: tenantDoc(der), Revision: 1}}, true, nil
		}, orgs.DirectoryOptions{})
	})
	body := `[{"email":"ann@tenant.example","event":"bounce","type":"bounce","sg_event_id":"t1"}]`
	require.Equal(t, http.StatusOK, e.postSendGrid(t, "tenant", body, e.sgKey))
	r, err := e.list.Check(context.Background(), "tenant", appt.Email, "ann@tenant.example")
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonHardBounce, r)

	plain := newRelayEnv(t)
	assert.Equal(t, http.StatusNotFound, plain.postSendGrid(t, "tenant", body, plain.sgKey),
		"without the directory only the config file's organisations have relays")
}

// countingFinder is an OrgFinder that counts its lookups and knows no organisation.
type countingFinder struct{ n atomic.Int32 }

func (f *countingFinder) Lookup(context.Context, string) (orgs.View, error) {
	f.n.Add(1)
	return orgs.View{}, nil
}

// TestRelaysLookUpOnlyWellFormedPosts: the callback listener is public, so a relay reads an organisation (a
// Temporal query through the directory) only for a POST to a relay path whose organisation ID is well formed; a
// GET gets 405 and a malformed ID 404, neither costing a lookup.
func TestRelaysLookUpOnlyWellFormedPosts(t *testing.T) {
	f := &countingFinder{}
	e := newRelayEnv(t, func(l *suppress.List, _ string) { l.Orgs = f })
	for range 20 {
		res, err := http.Get(e.url + config.EventsPath + "sendgrid/made-up")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	}
	assert.Equal(t, http.StatusNotFound, e.postSendGrid(t, "no%20pe!", "[]", e.sgKey))
	assert.Zero(t, f.n.Load(), "no lookup for a GET or a malformed ID")
	assert.Equal(t, http.StatusNotFound, e.postSendGrid(t, "made-up", "[]", e.sgKey))
	assert.Equal(t, int32(1), f.n.Load(), "a well-formed POST is looked up")
}
