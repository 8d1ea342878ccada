package activities_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/suppress"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// A Twilio 21610 from a send writes sms_stop to the organisation's suppression list, so the next SMS to that number,
// in any appointment, is suppressed without calling Twilio; a retry (DeliverOne) is checked too and counts no
// attempt. Other recipients still get their SMS. Against the Twilio-shaped fake, through the real twilio-go sender.
func TestOptOutFromASendSuppressesLaterSends(t *testing.T) {
	tw := newTwilioFake(t)
	tw.Respond(func(w http.ResponseWriter, r testenv.TwilioRequest) {
		if r.To == bob.Phone {
			twilioError(w, http.StatusBadRequest, 21610, nil)
			return
		}
		testenv.TwilioCreated(w, r)
	})
	cfg, err := config.ParseWorker([]byte(fmt.Sprintf(`
twilio: {base_url: %q}
organizations:
  - {id: acme, platform: genesys, sms_from: "+15550000000"}
`, tw.URL)), func(k string) string {
		return map[string]string{"TWILIO_ACCOUNT_SID": testenv.TwilioAccountSID, "TWILIO_AUTH_TOKEN": testenv.TwilioAuthToken}[k]
	})
	require.NoError(t, err)
	s, err := activities.NewSenders(cfg, testTemplates(t))
	require.NoError(t, err)
	hasher, err := addrhash.New(make([]byte, addrhash.KeySize))
	require.NoError(t, err)
	store := suppress.NewMemoryStore(time.Now)
	list := suppress.NewList(cfg, hasher, store, suppress.NewCache(store))
	acts := &activities.Activities{Config: cfg, SMS: s.SMS, Suppressions: list}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, acts)

	deliver := func(eventID string) []activities.Outcome {
		msg := notification(appt.Reminder, ann, bob)
		msg.EventID = eventID
		in := &activities.DeliverInput{AppointmentID: "A1", Org: "acme", Messages: []activities.Message{*msg},
			Targets: []activities.Target{
				{Message: 0, Channel: appt.SMS, Recipient: ann.ID, NotificationID: eventID + "/sms/c1"},
				{Message: 0, Channel: appt.SMS, Recipient: bob.ID, NotificationID: eventID + "/sms/c2"},
			}}
		v, err := env.ExecuteActivity(appt.ActivityDeliver, in)
		require.NoError(t, err)
		var res activities.DeliverResult
		require.NoError(t, v.Get(&res))
		return res.Outcomes
	}
	out := deliver("A1/REMINDER/g0/24h")
	assert.Equal(t, appt.Sent, out[0].Status)
	assert.Equal(t, appt.Failed, out[1].Status)
	assert.Equal(t, activities.ErrOptedOut, out[1].ErrorType)
	r, err := list.Check(context.Background(), "acme", appt.SMS, bob.Phone)
	require.NoError(t, err)
	require.Equal(t, appt.ReasonSMSStop, r, "the 21610 is on the list")
	calls := len(tw.Requests())

	out = deliver("B7/REMINDER/g0/1h") // another appointment
	assert.Equal(t, appt.Sent, out[0].Status)
	assert.Equal(t, appt.Suppressed, out[1].Status)
	assert.Equal(t, appt.ReasonSMSStop, out[1].Suppression)
	assert.Len(t, tw.Requests(), calls+1, "only Ann's SMS reached Twilio")

	msg := notification(appt.Reminder, bob)
	v, err := env.ExecuteActivity(appt.ActivityDeliverOne, &activities.DeliverOneInput{AppointmentID: "B7", Org: "acme",
		Message: *msg, Target: activities.Target{Channel: appt.SMS, Recipient: bob.ID, NotificationID: "x"}})
	require.NoError(t, err)
	var one activities.DeliverOneResult
	require.NoError(t, v.Get(&one))
	assert.Equal(t, appt.Suppressed, one.Status)
	assert.Equal(t, appt.ReasonSMSStop, one.Suppression)
	assert.Zero(t, one.Attempt, "a suppressed retry reached no provider")
	assert.Len(t, tw.Requests(), calls+1)
}
