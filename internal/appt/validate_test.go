package appt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func validRequest() *appt.ScheduleRequest {
	return &appt.ScheduleRequest{
		AppointmentID: "A-1.x:y_z", Org: "acme", Start: now.Add(time.Hour), End: now.Add(90 * time.Minute),
		Notifications: true, JoinURL: "https://video.example/j/1",
		Participants: []appt.Participant{{ID: "c1", Name: "Ann", Email: "ann@example.com", Phone: "+15551234567",
			TZ: "Europe/Berlin", Locale: "de", Role: appt.Customer}},
		Metadata: map[string]string{"ticket": "42"},
	}
}

func TestValidateScheduleRequest(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *appt.ScheduleRequest)
		field  string // "" means valid
	}{
		{"valid", func(r *appt.ScheduleRequest) {}, ""},
		{"empty id", func(r *appt.ScheduleRequest) { r.AppointmentID = "" }, "id"},
		{"id too long", func(r *appt.ScheduleRequest) { r.AppointmentID = strings.Repeat("a", 129) }, "id"},
		{"id of 128", func(r *appt.ScheduleRequest) { r.AppointmentID = strings.Repeat("a", 128) }, ""},
		{"id with a slash", func(r *appt.ScheduleRequest) { r.AppointmentID = "a/b" }, "id"},
		{"id with a space", func(r *appt.ScheduleRequest) { r.AppointmentID = "a b" }, "id"},
		{"no org", func(r *appt.ScheduleRequest) { r.Org = "" }, "org"},
		{"no start", func(r *appt.ScheduleRequest) { r.Start = time.Time{} }, "start"},
		{"start in the past", func(r *appt.ScheduleRequest) { r.Start = now.Add(-time.Minute); r.End = now.Add(time.Hour) }, "start"},
		{"start now", func(r *appt.ScheduleRequest) { r.Start = now }, "start"},
		{"end before start", func(r *appt.ScheduleRequest) { r.End = r.Start.Add(-time.Minute) }, "duration"},
		{"zero duration", func(r *appt.ScheduleRequest) { r.End = r.Start }, "duration"},
		{"duration over 24h", func(r *appt.ScheduleRequest) { r.End = r.Start.Add(25 * time.Hour) }, "duration"},
		{"no participants", func(r *appt.ScheduleRequest) { r.Participants = nil }, "participant"},
		{"duplicate participant", func(r *appt.ScheduleRequest) {
			r.Participants = append(r.Participants, appt.Participant{ID: "c1"})
		}, "participant[1].id"},
		{"participant without id", func(r *appt.ScheduleRequest) { r.Participants[0].ID = "" }, "participant[0].id"},
		{"bad email", func(r *appt.ScheduleRequest) { r.Participants[0].Email = "ann@" }, "participant[0].email"},
		{"email with a name", func(r *appt.ScheduleRequest) { r.Participants[0].Email = "Ann <ann@example.com>" }, "participant[0].email"},
		{"phone without plus", func(r *appt.ScheduleRequest) { r.Participants[0].Phone = "15551234567" }, "participant[0].phone"},
		{"phone with spaces", func(r *appt.ScheduleRequest) { r.Participants[0].Phone = "+1 555 123 4567" }, "participant[0].phone"},
		{"phone too short", func(r *appt.ScheduleRequest) { r.Participants[0].Phone = "+1555" }, "participant[0].phone"},
		{"phone with letters", func(r *appt.ScheduleRequest) { r.Participants[0].Phone = "+1555CALLNOW" }, "participant[0].phone"},
		{"UK phone", func(r *appt.ScheduleRequest) { r.Participants[0].Phone = "+447911123456" }, ""},
		{"bad time zone", func(r *appt.ScheduleRequest) { r.Participants[0].TZ = "Mars/Olympus" }, "participant[0].tz"},
		{"Local is not a zone", func(r *appt.ScheduleRequest) { r.Participants[0].TZ = "Local" }, "participant[0].tz"},
		{"empty tz is UTC", func(r *appt.ScheduleRequest) { r.Participants[0].TZ = "" }, ""},
		{"bad locale", func(r *appt.ScheduleRequest) { r.Participants[0].Locale = "not a locale!" }, "participant[0].locale"},
		{"bad role", func(r *appt.ScheduleRequest) { r.Participants[0].Role = "boss" }, "participant[0].role"},
		{"agent role", func(r *appt.ScheduleRequest) { r.Participants[0].Role = appt.Agent }, ""},
		{"bad join url", func(r *appt.ScheduleRequest) { r.JoinURL = "ftp://x" }, "join-url"},
		{"relative join url", func(r *appt.ScheduleRequest) { r.JoinURL = "/j/1" }, "join-url"},
		{"metadata key with space", func(r *appt.ScheduleRequest) { r.Metadata = map[string]string{"a b": "1"} }, "metadata"},
		{"metadata value too long", func(r *appt.ScheduleRequest) {
			r.Metadata = map[string]string{"k": strings.Repeat("v", appt.MaxMetadataValueLen+1)}
		}, "metadata.k"},
		{"too many metadata keys", func(r *appt.ScheduleRequest) {
			r.Metadata = map[string]string{}
			for i := 0; i <= appt.MaxMetadataKeys; i++ {
				r.Metadata["k"+strings.Repeat("x", i)] = "v"
			}
		}, "metadata"},
		{"metadata over 8 KiB", func(r *appt.ScheduleRequest) {
			r.Metadata = map[string]string{}
			for i := 0; i < 10; i++ {
				r.Metadata["k"+strings.Repeat("x", i)] = strings.Repeat("v", 1000)
			}
		}, "metadata"},
		{"resume set by a caller", func(r *appt.ScheduleRequest) { r.Resume = []byte(`{}`) }, "resume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validRequest()
			c.change(r)
			err := appt.ValidateScheduleRequest(r, now)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var fe *appt.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.field, fe.Field, err.Error())
			assert.True(t, appt.IsFieldError(err))
		})
	}
}

func TestValidateOffsets(t *testing.T) {
	cases := []struct {
		offsets []time.Duration
		ok      bool
	}{
		{[]time.Duration{24 * time.Hour, time.Hour}, true},
		{nil, true},
		{[]time.Duration{0}, false},
		{[]time.Duration{-time.Hour}, false},
		{[]time.Duration{time.Hour, time.Hour}, false},
		{[]time.Duration{31 * 24 * time.Hour}, false},
		{make([]time.Duration, 11), false},
	}
	for _, c := range cases {
		err := appt.ValidateOffsets("offsets", c.offsets)
		assert.Equal(t, c.ok, err == nil, "%v: %v", c.offsets, err)
	}
}

func TestIDsAreDeterministicAndDistinct(t *testing.T) {
	a := appt.EventID("A1", appt.Reminder, 0, time.Hour)
	assert.Equal(t, a, appt.EventID("A1", appt.Reminder, 0, time.Hour))
	assert.NotEqual(t, a, appt.EventID("A1", appt.Reminder, 1, time.Hour), "a new generation is a new occurrence")
	assert.NotEqual(t, a, appt.EventID("A1", appt.Reminder, 0, 24*time.Hour))
	assert.NotEqual(t, appt.NotificationID(a, appt.Email, "c1"), appt.NotificationID(a, appt.SMS, "c1"))
	assert.NotEqual(t, appt.NotificationID(a, appt.Email, "c1"), appt.NotificationID(a, appt.Email, "c2"))
	assert.Equal(t, "appointment:A1", appt.WorkflowID("A1"))
}

// FuzzValidateScheduleRequest: any input is either accepted or refused with a FieldError; nothing panics, and an
// accepted request has the properties the workflow relies on.
func FuzzValidateScheduleRequest(f *testing.F) {
	f.Add("A1", "acme", int64(3600), int64(1800), "c1", "ann@example.com", "+15551234567", "Europe/Berlin", "de", "customer", "k", "v")
	f.Add("", "", int64(-1), int64(0), "", "", "", "", "", "", "", "")
	f.Add("a/b", "acme", int64(60), int64(-60), "c 1", "x@", "+1", "Mars/X", "!!", "boss", "a b", "v")
	f.Fuzz(func(t *testing.T, id, org string, startIn, dur int64, pid, email, phone, tz, locale, role, mk, mv string) {
		r := &appt.ScheduleRequest{
			AppointmentID: id, Org: org,
			Start: now.Add(time.Duration(startIn) * time.Second),
			Participants: []appt.Participant{{ID: pid, Email: email, Phone: phone, TZ: tz, Locale: locale,
				Role: appt.Role(role)}},
			Metadata: map[string]string{mk: mv},
		}
		r.End = r.Start.Add(time.Duration(dur) * time.Second)
		err := appt.ValidateScheduleRequest(r, now)
		if err != nil {
			if !appt.IsFieldError(err) {
				t.Fatalf("not a field error: %v", err)
			}
			return
		}
		if !r.Start.After(now) || !r.End.After(r.Start) || len(id) == 0 || len(id) > appt.MaxAppointmentIDLen {
			t.Fatalf("accepted an invalid request: %+v", r)
		}
	})
}

// TestScheduleRequestErrorsListsEveryField: the HTTP API reports every failing field at once; the first one is what
// ValidateScheduleRequest (the starter) reports.
func TestScheduleRequestErrorsListsEveryField(t *testing.T) {
	r := validRequest()
	r.AppointmentID = "a b"
	r.Start = now.Add(-time.Hour)
	r.End = now.Add(30 * time.Hour)
	r.Participants = append(r.Participants, appt.Participant{ID: "c1", Email: "x@", Phone: "555", TZ: "Mars/Base", Locale: "!!", Role: "boss"})
	r.JoinURL = "ftp://x"
	r.Metadata = map[string]string{"z": strings.Repeat("v", appt.MaxMetadataValueLen+1), "bad key": "v"}
	var fields []string
	for _, e := range appt.ScheduleRequestErrors(r, now) {
		fields = append(fields, e.Field)
	}
	assert.Equal(t, []string{"id", "start", "duration", "participant[1].id", "participant[1].email", "participant[1].phone",
		"participant[1].tz", "participant[1].locale", "participant[1].role", "join-url", "metadata", "metadata.z"}, fields)
	err := appt.ValidateScheduleRequest(r, now)
	require.Error(t, err)
	assert.Equal(t, "id", err.(*appt.FieldError).Field)
	assert.Empty(t, appt.ScheduleRequestErrors(validRequest(), now))
}

func TestRescheduleErrors(t *testing.T) {
	assert.Len(t, appt.RescheduleErrors(now.Add(-time.Minute), now.Add(-2*time.Minute), now), 2)
	assert.Len(t, appt.RescheduleErrors(time.Time{}, time.Time{}, now), 1)
	assert.Empty(t, appt.RescheduleErrors(now.Add(time.Hour), time.Time{}, now))
}
