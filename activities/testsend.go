package activities

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/mail"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// DraftSender sends a built email (the Mailer); BodySender a built SMS (TwilioSMS); DraftPoster a built webhook
// (WebhookClient). Test sends and verification codes go through them, the channels' real senders.
type (
	DraftSender interface {
		SendDraft(ctx context.Context, org *config.Org, d *EmailDraft) (string, error)
	}
	BodySender interface {
		SendBody(ctx context.Context, org *config.Org, phone, body, appointmentID string) (string, error)
	}
	DraftPoster interface {
		PostDraft(ctx context.Context, org *config.Org, d *WebhookDraft) error
	}
)

// SendTestCode sends a new verification code (appt.TestCodeDigits random digits) to a test recipient through the
// organisation's real email or SMS channel, and returns only its salted hash (appt.TestCodeHash): the code itself
// goes nowhere but to the recipient. Failures are non-retryable application errors: the administrator asks again.
func (a *Activities) SendTestCode(ctx context.Context, in *appt.SendTestCodeInput) (*appt.SendTestCodeResult, error) {
	org, _, err := a.previewOrg(ctx, in.Org)
	if err != nil {
		return nil, err
	}
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(appt.TestCodeDigits), nil)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return nil, err
	}
	code := fmt.Sprintf("%0*d", appt.TestCodeDigits, n)
	salt := randomHex(16)
	text := fmt.Sprintf("Your code to receive test notifications of %s: %s\n\nIt is valid for %s. If you did not ask "+
		"for it, ignore this message.\n", org.ID, code, appt.TestCodeTTL)
	switch in.Channel {
	case appt.Email:
		if !org.EmailProvisioned() {
			return nil, nonRetryable(Permanent(ErrUnprovisioned, "email is not provisioned for the organisation"))
		}
		sender, ok := a.Email.(DraftSender)
		if !ok {
			return nil, nonRetryable(Permanent(ErrUnprovisioned, "this worker has no email sender"))
		}
		from, err := mail.ParseAddress(org.EmailFrom)
		if err != nil {
			return nil, nonRetryable(Permanent(ErrBadInput, "organisation %s: email_from is not a valid address", org.ID))
		}
		d := &EmailDraft{MessageID: MessageID("test-code/"+salt, org.EmailFrom), ParticipantID: "test recipient",
			From: *from, To: mail.Address{Address: in.Address},
			Subject: "Verification code " + code, Text: text,
			HTML: "<p>" + strings.ReplaceAll(strings.TrimSpace(text), "\n\n", "</p><p>") + "</p>"}
		if _, err := sender.SendDraft(ctx, org, d); err != nil {
			return nil, nonRetryable(classify(err))
		}
	case appt.SMS:
		if !org.SMSProvisioned() {
			return nil, nonRetryable(Permanent(ErrUnprovisioned, "SMS is not provisioned for the organisation"))
		}
		sender, ok := a.SMS.(BodySender)
		if !ok {
			return nil, nonRetryable(Permanent(ErrUnprovisioned, "this worker has no SMS sender"))
		}
		if _, err := sender.SendBody(ctx, org, in.Address, strings.TrimSpace(text), ""); err != nil {
			return nil, nonRetryable(classify(err))
		}
	default:
		return nil, nonRetryable(Permanent(ErrBadInput, "test recipients are email or sms, not %q", in.Channel))
	}
	return &appt.SendTestCodeResult{Salt: salt, Hash: appt.TestCodeHash(salt, code)}, nil
}

// nonRetryable is a delivery error as an application error that Temporal does not retry.
func nonRetryable(de *DeliveryError) error {
	return temporal.NewNonRetryableApplicationError(de.Msg, de.Type, nil)
}

// TestSend sends one notification, built exactly as its preview (previewMessage, then the channels' builders),
// through the organisation's real channel, marked as a test (docs/rules.md#test-sends): the subject and the SMS
// start with appt.TestSubjectPrefix, the webhook body carries "test": true. An email or SMS goes to the verified
// test recipient only, with the name, time zone and language of the notification's first customer; a webhook goes
// to every subscriber of the organisation, under a new "test_…" webhook-id. No appointment is touched: the message
// is read through a query, and no status callback is asked for. Each target's outcome is a record; a failure is a
// record, not an error.
func (a *Activities) TestSend(ctx context.Context, job *appt.TestSendJob) (*appt.TestSendResult, error) {
	org, set, msg, err := a.previewMessage(ctx, &job.Preview)
	if err != nil {
		return nil, err
	}
	msg.Test = true
	res := &appt.TestSendResult{}
	record := func(recipient string, providerID string, err error) {
		r := appt.TestSendRecord{ID: job.SendID, Type: msg.Type, Channel: job.Channel, Recipient: recipient,
			Status: appt.Sent, ProviderID: providerID}
		if err != nil {
			de := classify(err)
			r.Status, r.ErrorType, r.Error, r.ProviderID = appt.Failed, de.Type, de.Msg, ""
		}
		res.Records = append(res.Records, r)
	}
	p := appt.Participant{ID: "test"}
	if len(msg.Recipients) > 0 {
		p = msg.Recipients[0]
	}
	p.Email, p.Phone = "", ""
	switch job.Channel {
	case appt.Email, appt.SMS:
		if job.Recipient == nil || !job.Recipient.Verified || job.Recipient.Channel != job.Channel {
			return nil, temporal.NewNonRetryableApplicationError("the test recipient is not a verified "+
				string(job.Channel)+" recipient", appt.ErrTestRecipientRefused, nil)
		}
		p.ID = job.Recipient.ID
		if job.Channel == appt.Email {
			p.Email = job.Recipient.Address
			id, err := a.testEmail(ctx, set, org, msg, p, job.SendID)
			record(job.Recipient.ID, id, err)
		} else {
			p.Phone = job.Recipient.Address
			id, err := a.testSMS(ctx, org, set, msg, p)
			record(job.Recipient.ID, id, err)
		}
	case appt.Webhook:
		poster, ok := a.Webhooks.(DraftPoster)
		wm := *msg
		wm.EventID = "test_" + randomHex(12)
		for i := range org.Webhooks {
			if !ok {
				record(appt.SubscriberRecipient(i), "", Permanent(ErrUnprovisioned, "this worker has no webhook sender"))
				continue
			}
			d, err := BuildWebhook(org, i, &wm, time.Now())
			if err == nil {
				err = poster.PostDraft(ctx, org, d)
			}
			record(appt.SubscriberRecipient(i), wm.EventID, err)
		}
	default:
		return nil, temporal.NewNonRetryableApplicationError("no channel "+string(job.Channel), ErrBadInput, nil)
	}
	return res, nil
}

func (a *Activities) testEmail(ctx context.Context, set *templates.Set, org *config.Org, msg *Message, p appt.Participant, sendID string) (string, error) {
	if !org.EmailProvisioned() {
		return "", Permanent(ErrUnprovisioned, "email is not provisioned for the organisation")
	}
	sender, ok := a.Email.(DraftSender)
	if !ok {
		return "", Permanent(ErrUnprovisioned, "this worker has no email sender")
	}
	d, err := BuildEmail(set, org, msg, p, "test/"+org.ID+"/"+sendID+"/"+randomHex(8))
	if err != nil {
		return "", err
	}
	d.Subject = appt.TestSubjectPrefix + d.Subject
	return sender.SendDraft(ctx, org, d)
}

func (a *Activities) testSMS(ctx context.Context, org *config.Org, set *templates.Set, msg *Message, p appt.Participant) (string, error) {
	if !org.SMSProvisioned() {
		return "", Permanent(ErrUnprovisioned, "SMS is not provisioned for the organisation")
	}
	sender, ok := a.SMS.(BodySender)
	if !ok {
		return "", Permanent(ErrUnprovisioned, "this worker has no SMS sender")
	}
	body, err := BuildSMS(set, org, msg, p)
	if err != nil {
		return "", err
	}
	body = appt.TestSubjectPrefix + body
	if err := CheckSMSLength(body, msg.Appointment.JoinURL, p.Name); err != nil {
		return "", err
	}
	return sender.SendBody(ctx, org, p.Phone, body, "")
}
