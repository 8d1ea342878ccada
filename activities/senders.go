package activities

import (
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// Senders are the real channel senders built from a config. A channel no organisation can use is nil, which the
// activities report as unprovisioned.
type Senders struct {
	Email    EmailSender   // *Mailer
	SMS      SMSSender     // *TwilioSMS; nil when no organisation sends SMS
	Webhooks WebhookSender // *WebhookClient
}

// NewSenders builds the email, SMS and webhook senders for cfg, rendering with t.
func NewSenders(cfg *config.Config, t *templates.Set) (*Senders, error) {
	s := &Senders{Webhooks: NewWebhookClient()}
	for i := range cfg.Organizations {
		o := &cfg.Organizations[i]
		if o.EmailProvisioned() && s.Email == nil {
			m, err := NewMailer(cfg.SMTP, t)
			if err != nil {
				return nil, fmt.Errorf("email: %w", err)
			}
			s.Email = m
		}
		if o.SMSProvisioned() && s.SMS == nil {
			sms, err := NewTwilioSMS(cfg.Twilio, t)
			if err != nil {
				return nil, fmt.Errorf("sms: %w", err)
			}
			s.SMS = sms
		}
	}
	return s, nil
}

// NewActivities wires the activities a worker registers: the real senders, and live settings read from the
// organisation-settings workflows through c (cached for at most MaxSettingsAge).
func NewActivities(cfg *config.Config, t *templates.Set, c client.Client) (*Activities, error) {
	s, err := NewSenders(cfg, t)
	if err != nil {
		return nil, err
	}
	return &Activities{
		Config:   cfg,
		Email:    s.Email,
		SMS:      s.SMS,
		Webhooks: s.Webhooks,
		Settings: NewTemporalSettingsReader(c),
	}, nil
}
