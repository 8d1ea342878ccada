package activities

import (
	"fmt"
	"net/http"

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
	// Email is always built: an organisation created through the API may send it at any time (the smtp section
	// has defaults). SMS needs the Twilio credentials, so only a worker that holds them can send it.
	m, err := NewMailer(cfg.SMTP, t)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	s := &Senders{Webhooks: NewWebhookClient(), Email: m}
	if cfg.NeedsTwilio() || cfg.Twilio.AccountSID != "" {
		sms, err := NewTwilioSMS(cfg.Twilio, t)
		if err != nil {
			return nil, fmt.Errorf("sms: %w", err)
		}
		s.SMS = sms
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

		Templates:    t,
		Appointments: TemporalAppointmentReader{Client: c},
	}, nil
}

// IdleConnsPerHost is how many idle keep-alive connections the SMS (Twilio) and webhook HTTP clients keep per host,
// and MaxIdleConns how many in all. Go's default of 2 per host makes a herd, which sends hundreds at a time to one
// host, open and close a connection (and do a TLS handshake) for nearly every request beyond the first two.
const (
	IdleConnsPerHost = 64
	MaxIdleConns     = 256
)

// pooledTransport is Go's default transport (proxy from the environment, HTTP/2, 90 s idle timeout) with the idle
// limits above.
func pooledTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = IdleConnsPerHost
	t.MaxIdleConns = MaxIdleConns
	return t
}
