package activities_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	goical "github.com/emersion/go-ical"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// The REQUEST invite of CREATE and RESCHEDULE carries one VALARM at the organisation's first reminder offset (RFC
// 5545 §3.6.6: ACTION:DISPLAY with a DESCRIPTION, TRIGGER a negative duration relative to the start); the CANCEL
// invite carries none, and neither does an invite of an organisation without reminder offsets. Read back from
// Mailpit by golang-ical and by emersion/go-ical, which resolves the trigger to a time before DTSTART.
func TestCalendarInviteAlarm(t *testing.T) {
	mp := testenv.StartMailpit(t)
	m := newMailer(t, mp)
	for _, c := range []struct {
		typ     appt.NotificationType
		offsets []time.Duration
		trigger string // "" when the invite has no VALARM
	}{
		{appt.Create, []time.Duration{24 * time.Hour, time.Hour}, "-P1D"},
		{appt.Reschedule, []time.Duration{90 * time.Minute, 24 * time.Hour}, "-PT1H30M"},
		{appt.Cancelled, []time.Duration{24 * time.Hour}, ""},
		{appt.Create, []time.Duration{}, ""},
	} {
		org := emailOrg()
		org.ReminderOffsets = nil
		for _, o := range c.offsets {
			org.ReminderOffsets = append(org.ReminderOffsets, config.Duration(o))
		}
		msg := notification(c.typ, ann)
		_, err := m.SendEmail(context.Background(), org, msg, ann, appt.NotificationID(msg.EventID, appt.Email, ann.ID))
		require.NoError(t, err)
		inv, _ := newestInvite(t, mp)
		require.NotNil(t, inv, "%s carries an invite", c.typ)
		ev := inv.alt.Events()[0]
		alarms := ev.Alarms()

		cal, err := goical.NewDecoder(bytes.NewReader(inv.rawAttach)).Decode()
		require.NoError(t, err, "emersion/go-ical parses the invite.ics attachment")
		event := cal.Events()[0]
		var valarms []*goical.Component
		for _, child := range event.Children {
			if child.Name == goical.CompAlarm {
				valarms = append(valarms, child)
			}
		}
		if c.trigger == "" {
			require.Empty(t, alarms, "%s %v: no VALARM", c.typ, c.offsets)
			require.Empty(t, valarms, "%s %v: no VALARM for the second parser either", c.typ, c.offsets)
			continue
		}
		require.Len(t, alarms, 1, "%s: one VALARM", c.typ)
		a := alarms[0]
		require.Equal(t, c.trigger, a.GetProperty(ics.ComponentPropertyTrigger).Value)
		require.Equal(t, string(ics.ActionDisplay), a.GetProperty(ics.ComponentPropertyAction).Value)
		require.Equal(t, "Video appointment with Acme Care", a.GetProperty(ics.ComponentPropertyDescription).Value,
			"a DISPLAY alarm needs a DESCRIPTION: the invite's SUMMARY")

		require.Len(t, valarms, 1)
		trig := valarms[0].Props.Get(goical.PropTrigger)
		require.NotNil(t, trig)
		require.Empty(t, trig.Params.Get(goical.ParamRelated), "relative to the start, RFC 5545's default")
		d, err := trig.Duration()
		require.NoError(t, err, "TRIGGER is an RFC 5545 duration")
		require.Equal(t, -c.offsets[0], d, "the first reminder offset, before the start")
		action, err := valarms[0].Props.Text(goical.PropAction)
		require.NoError(t, err)
		require.Equal(t, "DISPLAY", action)
		desc, err := valarms[0].Props.Text(goical.PropDescription)
		require.NoError(t, err)
		require.NotEmpty(t, desc)
	}
}

// ICalDuration writes RFC 5545 dur-values: days, then hours, minutes and seconds after T.
func TestICalDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "P1D", time.Hour: "PT1H", 90 * time.Minute: "PT1H30M", 36 * time.Hour: "P1DT12H",
		45 * time.Second: "PT45S", 0: "PT0S", 30*24*time.Hour + 61*time.Second: "P30DT1M1S",
	} {
		require.Equal(t, want, activities.ICalDuration(d), "%s", d)
	}
}
