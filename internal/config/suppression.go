package config

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// DefaultHardBounceLifetime is how long a hard bounce suppresses an email address when the organisation sets no
// suppression.hard_bounce: 7 days, as Cloudflare Email Routing and others keep a bounced address (docs/rules.md#suppression).
const DefaultHardBounceLifetime = 7 * 24 * time.Hour

// InboundPath is the path of the callback listener's inbound-message route: set the Twilio number's "A message
// comes in" webhook to twilio.status_callback_url with this path instead of StatusCallbackPath.
const InboundPath = "/twilio/inbound"

// EventsPath prefixes the email relays' event webhooks on the callback listener: /events/sendgrid/<org> and
// /events/ses/<org>.
const EventsPath = "/events/"

// MaxSuppressionLifetime bounds a configured lifetime: 400 days, the scheduling horizon.
const MaxSuppressionLifetime = appt.MaxStartAhead

// Suppression is an organisation's suppression-list settings: how long each reason lasts, and how its email relays
// authenticate their event webhooks. A lifetime of 0s means until lifted (an opt-in for sms_stop, an operator for
// the others). A manual entry lasts as long as the operator gives.
type Suppression struct {
	// HardBounce: default DefaultHardBounceLifetime.
	HardBounce *Duration `yaml:"hard_bounce" json:"hard_bounce,omitempty"`
	// SMSStop: default 0s, until the customer texts START (or an operator lifts it).
	SMSStop *Duration `yaml:"sms_stop" json:"sms_stop,omitempty"`
	// Complaint: default 0s, until an operator lifts it; an opt-in never does.
	Complaint *Duration `yaml:"complaint" json:"complaint,omitempty"`
	// SendGridVerificationKey is the SendGrid Event Webhook's verification key (Settings > Mail Settings > Event
	// Webhook > Signature Verification): base64 of an ECDSA P-256 public key in DER (SubjectPublicKeyInfo). It is a
	// public key, not a secret. Without it the organisation's SendGrid events are refused.
	SendGridVerificationKey string `yaml:"sendgrid_verification_key" json:"sendgrid_verification_key,omitempty"`
	// SESTopicARNs are the SNS topics whose Amazon SES notifications the organisation accepts; without one its SES
	// notifications are refused.
	SESTopicARNs []string `yaml:"ses_topic_arns" json:"ses_topic_arns,omitempty"`
}

// SuppressionLifetime is how long an entry of the given reason lasts in the organisation (0: until lifted). A
// manual entry's lifetime is the operator's, so it is 0 here.
func (o *Org) SuppressionLifetime(r appt.SuppressionReason) time.Duration {
	var d *Duration
	switch r {
	case appt.ReasonHardBounce:
		if d = o.Suppression.HardBounce; d == nil {
			return DefaultHardBounceLifetime
		}
	case appt.ReasonSMSStop:
		d = o.Suppression.SMSStop
	case appt.ReasonComplaint:
		d = o.Suppression.Complaint
	}
	if d == nil {
		return 0
	}
	return d.D()
}

// SendGridKey returns the organisation's SendGrid verification key, or nil when it has none.
func (o *Org) SendGridKey() *ecdsa.PublicKey {
	k, _ := parseSendGridKey(o.Suppression.SendGridVerificationKey)
	return k
}

func parseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	if s == "" {
		return nil, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("is not base64")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("is not a DER public key")
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("is not an ECDSA public key")
	}
	return k, nil
}

// finishSuppression validates an organisation's suppression settings; prefix is its field path with a trailing dot,
// or empty in an API document.
func (o *Org) finishSuppression(prefix string) error {
	fieldErr := func(field, format string, args ...any) error {
		return &appt.FieldError{Field: prefix + field, Msg: fmt.Sprintf(format, args...)}
	}
	for _, l := range []struct {
		name string
		d    *Duration
	}{{"hard_bounce", o.Suppression.HardBounce}, {"sms_stop", o.Suppression.SMSStop}, {"complaint", o.Suppression.Complaint}} {
		name, d := l.name, l.d
		if d != nil && (d.D() < 0 || d.D() > MaxSuppressionLifetime) {
			return fieldErr("suppression."+name, "%s must be between 0s (until lifted) and %s", d.D(), MaxSuppressionLifetime)
		}
	}
	if _, err := parseSendGridKey(o.Suppression.SendGridVerificationKey); err != nil {
		return fieldErr("suppression.sendgrid_verification_key", "%s (base64 of the DER key SendGrid shows)", err.Error())
	}
	for j, arn := range o.Suppression.SESTopicARNs {
		if !strings.HasPrefix(arn, "arn:") || strings.Count(arn, ":") != 5 {
			return fieldErr(fmt.Sprintf("suppression.ses_topic_arns[%d]", j), "%q is not an SNS topic ARN (arn:aws:sns:region:account:topic)", arn)
		}
	}
	return nil
}
