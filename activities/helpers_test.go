package activities_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

var (
	secret     = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	apptStart  = time.Date(2030, 3, 5, 14, 0, 0, 0, time.UTC)
	accountSID = testenv.TwilioAccountSID
	authToken  = testenv.TwilioAuthToken

	ann = appt.Participant{ID: "c1", Name: "Ann Lee", Email: "ann@example.com", Phone: "+15551234567",
		TZ: "America/New_York", Locale: "en"}
	bob = appt.Participant{ID: "c2", Name: "Bob Meier", Email: "bob@example.com", Phone: "+4915123456789",
		TZ: "Europe/Berlin", Locale: "de"}
)

// testTemplates are the default templates, loaded for the organisation "acme" (display name Acme Care).
func testTemplates(t *testing.T) *templates.Set {
	t.Helper()
	set, err := templates.Load(&config.Config{Organizations: []config.Org{
		{ID: "acme", Platform: appt.Genesys, EmailFrom: "Acme Care <care@acme.example>"},
	}})
	require.NoError(t, err)
	return set
}

// notification is a message of a notification type addressed to the given customers.
func notification(typ appt.NotificationType, recipients ...appt.Participant) *activities.Message {
	var offset time.Duration
	switch typ {
	case appt.Reminder:
		offset = time.Hour
	case appt.Room:
		offset = 15 * time.Minute
	}
	return &activities.Message{
		EventID: appt.EventID("A1", typ, 0, offset),
		Event:   typ.WebhookEvent(),
		Type:    typ,
		Offset:  offset,
		Appointment: activities.AppointmentView{
			ID: "A1", Org: "acme", State: appt.Active, Start: apptStart, End: apptStart.Add(30 * time.Minute),
			Metadata: map[string]string{"ticket": "T-1"}, JoinURL: "https://video.example/join/A1?k=s3cr3t",
		},
		Recipients: recipients,
		Timestamp:  apptStart.Add(-2 * time.Hour),
	}
}

// lifecycle is an appointment.* event.
func lifecycle(event string) *activities.Message {
	return &activities.Message{
		EventID: appt.LifecycleEventID("A1", event, 3),
		Event:   event,
		Type:    appt.LifecycleEvent,
		Appointment: activities.AppointmentView{
			ID: "A1", Org: "acme", State: appt.Scheduled, Start: apptStart, End: apptStart.Add(30 * time.Minute),
		},
		Timestamp: apptStart.Add(-3 * time.Hour),
	}
}

// deliveryError asserts err is a DeliveryError of the given type and returns it.
func deliveryError(t *testing.T, err error, wantType string) *activities.DeliveryError {
	t.Helper()
	require.Error(t, err)
	var de *activities.DeliveryError
	require.True(t, errors.As(err, &de), "not a DeliveryError: %v", err)
	require.Equal(t, wantType, de.Type, "error: %v", err)
	return de
}

// noPII asserts an error message holds none of the test participants' addresses or numbers.
func noPII(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, p := range []appt.Participant{ann, bob} {
		require.NotContains(t, err.Error(), p.Email)
		require.NotContains(t, err.Error(), p.Phone)
		require.NotContains(t, err.Error(), p.Phone[1:])
	}
	require.NotContains(t, err.Error(), "s3cr3t")
}
