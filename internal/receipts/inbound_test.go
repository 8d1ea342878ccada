package receipts_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

const inboundURL = "https://hooks.acme.example/twilio/inbound"

// optOutListener is a real callback listener with the inbound route on, over a suppression List whose store is the
// suppression workflow's list code in memory.
func optOutListener(t *testing.T) (string, *suppress.List, *suppress.MemoryStore) {
	cfg, err := config.Parse([]byte(`
organizations:
  - {id: acme, platform: genesys, sms_from: "+15550000000"}
  - {id: beta, platform: genesys, sms_from: "+15550000000"}
  - {id: other, platform: genesys, sms_from: "+15559999999"}
`))
	require.NoError(t, err)
	hasher, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	store := suppress.NewMemoryStore(time.Now)
	l := suppress.NewList(cfg, hasher, store, suppress.NewCache(store))
	h, err := receipts.NewHandler(publicURL, testenv.TwilioAuthToken, &recorder{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, h.SetOptOuts(l))
	srv, err := receipts.Listen("127.0.0.1:0", h)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return "http://" + srv.Addr(), l, store
}

func postSigned(t *testing.T, base, path, signedURL string, p url.Values, sig string) int {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(p.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig == "" {
		sig = testenv.TwilioSignature(testenv.TwilioAuthToken, signedURL, p)
	}
	if sig != "-" {
		req.Header.Set(receipts.SignatureHeader, sig)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

func inbound(sid, body string) url.Values {
	return url.Values{"MessageSid": {sid}, "AccountSid": {testenv.TwilioAccountSID}, "From": {"+15551234567"},
		"To": {"+15550000000"}, "Body": {body}, "NumMedia": {"0"}}
}

// Inbound messages (docs/rules.md#suppression): Twilio's STOP keywords (one word, any case) or OptOutType=STOP
// suppress the sender's number in every organisation sending from the number it texted; START, YES and UNSTOP
// lift only sms_stop (a manual entry stays); HELP and other text change nothing; an unsigned or forged message
// gets 403 and changes nothing; a From that is no phone number gets 400 naming it; a replayed STOP is idempotent.
func TestInboundOptOuts(t *testing.T) {
	base, l, _ := optOutListener(t)
	ctx := context.Background()
	check := func(org string) appt.SuppressionReason {
		r, err := l.Check(ctx, org, appt.SMS, "+15551234567")
		require.NoError(t, err)
		return r
	}
	assert.Equal(t, http.StatusForbidden, postSigned(t, base, config.InboundPath, inboundURL, inbound("SM1", "STOP"), "-"))
	assert.Equal(t, http.StatusForbidden, postSigned(t, base, config.InboundPath, inboundURL, inbound("SM1", "STOP"), "Zm9yZ2Vk"))
	assert.Equal(t, http.StatusForbidden, postSigned(t, base, config.InboundPath, publicURL, inbound("SM1", "STOP"), ""),
		"signed for another URL")
	assert.Empty(t, check("acme"), "refused messages change nothing")

	for _, body := range []string{"help", "stop please", "Hello"} {
		assert.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, inbound("SMh", body), ""))
	}
	assert.Empty(t, check("acme"), "HELP and other text change nothing")

	bad := inbound("SMb", "STOP")
	bad.Set("From", "ann")
	assert.Equal(t, http.StatusBadRequest, postSigned(t, base, config.InboundPath, inboundURL, bad, ""))

	assert.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, inbound("SM2", "  unsubscribe "), ""))
	assert.Equal(t, appt.ReasonSMSStop, check("acme"))
	assert.Equal(t, appt.ReasonSMSStop, check("beta"), "every organisation sending from that number")
	assert.Empty(t, check("other"))

	_, err := l.Add(ctx, "acme", appt.SMS, "+15551234567", appt.ReasonManual, appt.SourceAPI, "", nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, inbound("SM3", "Start"), ""))
	assert.Equal(t, appt.ReasonManual, check("acme"), "START lifts only sms_stop")
	assert.Empty(t, check("beta"))

	assert.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, inbound("SM2", "UNSUBSCRIBE"), ""))
	assert.Empty(t, check("beta"), "a replayed STOP (same MessageSid) changes nothing")

	p := inbound("SM4", "arrêt")
	p.Set("OptOutType", "STOP")
	assert.Equal(t, http.StatusOK, postSigned(t, base, config.InboundPath, inboundURL, p, ""))
	assert.Equal(t, appt.ReasonSMSStop, check("beta"), "OptOutType=STOP (Advanced Opt-Out keyword)")
}

// A status callback with error 21610 suppresses the recipient's number (To) for the organisations sending from
// From, so the next SMS of any appointment skips the API call; the receipt is signalled as before.
func TestStatusCallback21610Suppresses(t *testing.T) {
	base, l, _ := optOutListener(t)
	r := testenv.TwilioRequest{To: "+15551234567", From: "+15550000000", SID: "SM0123",
		StatusCallback: publicURL + "?appointmentId=A1"}
	p := testenv.StatusParams(r, "failed", 21610)
	assert.Equal(t, http.StatusOK, postSigned(t, base, config.StatusCallbackPath+"?appointmentId=A1", r.StatusCallback, p, ""))
	got, err := l.Check(context.Background(), "acme", appt.SMS, "+15551234567")
	require.NoError(t, err)
	assert.Equal(t, appt.ReasonSMSStop, got)
	es, _, err := l.Lookup(context.Background(), "acme", appt.SMS, "+15551234567")
	require.NoError(t, err)
	require.Len(t, es, 1)
	assert.Equal(t, appt.SourceTwilio21610, es[0].Source)
}
