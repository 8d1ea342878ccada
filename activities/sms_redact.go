package activities

import (
	"context"
	"errors"
	"fmt"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.temporal.io/sdk/temporal"
)

// Twilio error codes of a redaction (https://www.twilio.com/docs/api/errors).
const (
	// TwilioNotReadyToRedact (20009): the message cannot be changed yet, typically while it is still being sent.
	TwilioNotReadyToRedact = 20009
	// TwilioNotFound (20404): Twilio has no such message (deleted, or never kept).
	TwilioNotFound = 20404
)

// ErrRedactNotReady is the retryable error type of a redaction Twilio is not ready for (20009).
const ErrRedactNotReady = "RedactNotReady"

// RedactSMS redacts a message's body at Twilio: an update of the message (POST
// /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json) with an empty Body, which is how Twilio's Messages API
// redacts. 20009 gives a retryable ErrRedactNotReady; 20404 counts as done; other failures are classified as for a
// send (retryable when transient). Errors never quote Twilio's message, which may hold the number.
func (s *TwilioSMS) RedactSMS(ctx context.Context, sid string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	svc, tr := s.service(ctx)
	_, err := svc.UpdateMessage(sid, (&twapi.UpdateMessageParams{}).SetBody(""))
	if err == nil {
		return nil
	}
	var te *twclient.TwilioRestError
	if errors.As(err, &te) {
		switch te.Code {
		case TwilioNotFound:
			return nil
		case TwilioNotReadyToRedact:
			return temporal.NewApplicationError(fmt.Sprintf("Twilio error %d: message %s is not ready to be redacted yet", te.Code, sid), ErrRedactNotReady)
		}
	}
	tr.mu.Lock()
	status, retryAfter := tr.status, tr.retryAfter
	tr.mu.Unlock()
	de := twilioError(ctx, err, status, retryAfter)
	if de.Type != ErrTransient {
		return temporal.NewNonRetryableApplicationError(de.Msg, de.Type, nil)
	}
	return temporal.NewApplicationError(de.Msg, de.Type)
}
