package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/config"
)

// Calendar invites are on and the receipt wait is 10m unless an organisation says otherwise.
func TestCalendarAndReceiptDefaults(t *testing.T) {
	c, err := config.ParseWorker([]byte("organizations: [{id: x, platform: genesys, calendar_invites: false, receipt_wait: 0s}, {id: y, platform: genesys}]"), env)
	require.NoError(t, err)
	x, _ := c.Org("x")
	y, _ := c.Org("y")
	assert.False(t, x.InvitesOn())
	assert.Zero(t, x.ReceiptWait.D())
	assert.True(t, y.InvitesOn())
	assert.Equal(t, 10*time.Minute, y.ReceiptWait.D())
}

// twilio.status_callback_url must be the listener's public URL (path /twilio/status, no query), and it needs the
// auth token even when no organisation sends SMS: the listener verifies signatures with it.
func TestStatusCallbackURL(t *testing.T) {
	doc := func(u string) []byte {
		return []byte("twilio: {status_callback_url: \"" + u + "\"}\norganizations: [{id: x, platform: talkdesk}]")
	}
	c, err := config.ParseWorker(doc("https://hooks.acme.example/twilio/status"), env)
	require.NoError(t, err)
	assert.Equal(t, "t", c.Twilio.AuthToken, "the worker reads the token for the callback listener")
	c, err = config.Parse(doc("https://hooks.acme.example/twilio/status"))
	require.NoError(t, err, "a client (the starter) needs no token")
	assert.Empty(t, c.Twilio.AuthToken)

	for _, bad := range []string{"hooks.acme.example/twilio/status", "ftp://h/twilio/status", "https://h/status",
		"https://h/twilio/status?x=1", "https://h/twilio/status#f", "https://u:p@h/twilio/status"} {
		_, err := config.Parse(doc(bad))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "twilio.status_callback_url", bad)
	}

	_, err = config.ParseWorker(doc("https://hooks.acme.example/twilio/status"), func(k string) string { return "" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "twilio.auth_token_env")
	assert.Contains(t, err.Error(), "TWILIO_AUTH_TOKEN")
}

func TestReceiptWaitBounds(t *testing.T) {
	for _, bad := range []string{"-1s", "25h"} {
		_, err := config.ParseWorker([]byte("organizations: [{id: x, platform: genesys, receipt_wait: "+bad+"}]"), env)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "organizations[0].receipt_wait")
	}
	_, err := config.ParseWorker([]byte("organizations: [{id: x, platform: genesys, calendar_invites: maybe}]"), env)
	require.Error(t, err)
}
