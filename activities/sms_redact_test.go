package activities_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// TestRedactSMS: a redaction is an update of the message with an empty Body (Twilio's Messages API); Twilio's 20009
// (not ready yet) is a retryable error of type RedactNotReady, which the erasure workflow retries for 14 days; a
// message Twilio no longer has (20404) counts as redacted; and no error quotes Twilio's message, which holds a number.
func TestRedactSMS(t *testing.T) {
	f := newTwilioFake(t)
	s := newSMS(t, f.URL)
	sid, err := s.SendSMS(context.Background(), smsOrg(), notification(appt.Reminder, ann), ann, "A1/REMINDER/g0/1h0m0s/sms/c1")
	require.NoError(t, err)

	f.RespondUpdate(func(w http.ResponseWriter, _ testenv.TwilioUpdate) { twilioError(w, http.StatusBadRequest, 20009, nil) })
	err = s.RedactSMS(context.Background(), sid)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrRedactNotReady, appErr.Type())
	assert.False(t, appErr.NonRetryable())
	assert.NotContains(t, err.Error(), "+1555")

	f.RespondUpdate(nil)
	require.NoError(t, s.RedactSMS(context.Background(), sid))
	assert.Equal(t, []string{sid}, f.Redacted())
	ups := f.Updates()
	require.Len(t, ups, 2)
	assert.True(t, ups[1].HasBody, "the update sends Body")
	assert.Empty(t, ups[1].Body)

	require.NoError(t, s.RedactSMS(context.Background(), "SM0000000000000000000000000000ffff"), "20404 counts as done")

	f.RespondUpdate(func(w http.ResponseWriter, _ testenv.TwilioUpdate) {
		twilioError(w, http.StatusUnauthorized, 20003, nil)
	})
	err = s.RedactSMS(context.Background(), sid)
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.True(t, appErr.NonRetryable(), "an authentication failure is not retried")
}
