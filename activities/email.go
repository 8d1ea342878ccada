package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// DefaultSMTPTimeout bounds one email send (connect, handshake and transfer) when the caller's context allows more.
const DefaultSMTPTimeout = 30 * time.Second

// Mailer sends notification emails over SMTP with go-mail. It holds one client configuration (host, port, TLS policy,
// auth) and opens a connection per send: sends are rare enough that a pool buys nothing, and a fresh connection per
// attempt means a broken connection never poisons the next delivery.
type Mailer struct {
	client    *gomail.Client
	templates *templates.Set
	timeout   time.Duration
}

// MailerOption adjusts a Mailer.
type MailerOption func(*Mailer)

// WithSMTPTimeout bounds each send; the default is DefaultSMTPTimeout.
func WithSMTPTimeout(d time.Duration) MailerOption { return func(m *Mailer) { m.timeout = d } }

// NewMailer builds a Mailer from the smtp section of the config. tls "mandatory" requires STARTTLS, "opportunistic"
// uses it when the server offers it, "none" never does. With a username, go-mail picks the strongest mechanism the
// server offers (and refuses PLAIN/LOGIN over an unencrypted connection to anything but localhost).
func NewMailer(cfg config.SMTP, t *templates.Set, opts ...MailerOption) (*Mailer, error) {
	m := &Mailer{templates: t, timeout: DefaultSMTPTimeout}
	for _, o := range opts {
		o(m)
	}
	policy := gomail.TLSOpportunistic
	switch cfg.TLS {
	case config.TLSMandatory:
		policy = gomail.TLSMandatory
	case config.TLSNone:
		policy = gomail.NoTLS
	}
	mopts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTLSPolicy(policy),
		gomail.WithTimeout(m.timeout),
		gomail.WithDialContextFunc(trackingDial),
	}
	if cfg.Username != "" {
		mopts = append(mopts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(cfg.Host, mopts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	m.client = c
	return m, nil
}

// connKey carries a send's connTracker to trackingDial through the context.
type connKey struct{}

// connTracker remembers the connection of one send, so that it is closed when the send's context ends (go-mail's
// SMTP conversation does not watch the context) and when the handshake fails (go-mail leaves it open then).
type connTracker struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (t *connTracker) set(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return
	}
	t.conn = c
}

func (t *connTracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.conn != nil {
		_ = t.conn.Close()
	}
}

func trackingDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if t, ok := ctx.Value(connKey{}).(*connTracker); ok {
		t.set(c)
	}
	return c, nil
}

// MessageID is the Message-ID (without angle brackets) of the email for a notification ID: deterministic, so a
// duplicate send is recognisable, and made of hex because notification IDs hold characters ('/', ':') that a msg-id
// may not. The right-hand side is the sender's domain, so the ID looks like the sender's own.
func MessageID(notificationID, from string) string {
	sum := sha256.Sum256([]byte(notificationID))
	domain := "apptnotify.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && msgIDDomain.MatchString(a.Address[i+1:]) {
			domain = a.Address[i+1:]
		}
	}
	return "apptnotify." + hex.EncodeToString(sum[:16]) + "@" + domain
}

var msgIDDomain = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$`)

// SendEmail sends one notification email and returns its Message-ID (with angle brackets, as in the header).
func (m *Mailer) SendEmail(ctx context.Context, org *config.Org, msg *Message, to appt.Participant, notificationID string) (string, error) {
	if to.Email == "" {
		return "", Permanent(ErrUnprovisioned, "participant %s has no email address", to.ID)
	}
	if err := appt.ValidateEmail("email", to.Email); err != nil {
		return "", Permanent(ErrInvalidRecipient, "participant %s: the email address is not valid", to.ID)
	}
	if !msg.IsNotification() {
		return "", Permanent(ErrBadInput, "%s is not a notification", msg.Event)
	}
	body, err := m.templates.Email(org.ID, templateInput(msg, to))
	if err != nil {
		return "", Permanent(ErrBadInput, "rendering the email: %v", err)
	}

	em := gomail.NewMsg()
	if err := em.From(org.EmailFrom); err != nil {
		return "", Permanent(ErrBadInput, "organisation %s: email_from is not a valid address", org.ID)
	}
	if err := em.AddToFormat(to.Name, to.Email); err != nil {
		return "", Permanent(ErrInvalidRecipient, "participant %s: the email address is not valid", to.ID)
	}
	id := MessageID(notificationID, org.EmailFrom)
	em.SetMessageIDWithValue(id)
	em.SetDate()
	em.Subject(body.Subject)
	em.SetGenHeader("Auto-Submitted", "auto-generated")
	em.SetBodyString(gomail.TypeTextPlain, body.Text)
	em.AddAlternativeString(gomail.TypeTextHTML, body.HTML)
	if err := m.attachInvite(em, org, msg, to); err != nil {
		return "", err
	}

	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	tr := &connTracker{}
	ctx = context.WithValue(ctx, connKey{}, tr)
	stop := context.AfterFunc(ctx, tr.close)
	defer stop()
	defer tr.close()

	sc, err := m.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return "", smtpError(ctx, "connecting", err)
	}
	err = m.client.SendWithSMTPClient(sc, em)
	_ = m.client.CloseWithSMTPClient(sc) // QUIT; the message was accepted or not before it
	if err != nil {
		return "", smtpError(ctx, "sending", err)
	}
	return "<" + id + ">", nil
}

func templateInput(msg *Message, p appt.Participant) templates.Input {
	return templates.Input{
		Type:          msg.Type,
		AppointmentID: msg.Appointment.ID,
		Start:         msg.Appointment.Start,
		End:           msg.Appointment.End,
		JoinURL:       msg.Appointment.JoinURL,
		Offset:        msg.Offset,
		Participant:   p,
	}
}

// smtpError classifies an SMTP failure: a 4xx reply or a broken connection is worth a retry; a 5xx reply is not,
// and a 5xx to RCPT TO means the recipient is refused. The message holds the reply code and the server's text with
// anything that looks like an address removed, never go-mail's own text (which lists the recipients).
func smtpError(ctx context.Context, stage string, err error) *DeliveryError {
	if ctx.Err() != nil {
		return Transient(0, "SMTP %s: timed out", stage)
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		// go-mail's text is "<reason>: <server replies>, affected recipient(s): <addresses>, affected message
		// ID: ..."; keep the reason and the replies only.
		text, _, _ := strings.Cut(se.Error(), ", affected recipient(s)")
		text, _, _ = strings.Cut(text, ", affected message ID")
		detail := fmt.Sprintf("SMTP %s: %s", stage, redact(text))
		if esc := se.EnhancedStatusCode(); esc != "" && !strings.Contains(detail, esc) {
			detail += " (" + esc + ")"
		}
		switch {
		case se.IsTemp() || code < 500:
			return Transient(0, "%s", detail)
		case se.Reason == gomail.ErrSMTPRcptTo:
			return Permanent(ErrInvalidRecipient, "%s", detail)
		default:
			return Permanent(ErrSMTPPermanent, "%s", detail)
		}
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		detail := fmt.Sprintf("SMTP %s: %d (%s)", stage, tp.Code, redact(tp.Msg))
		if tp.Code >= 500 {
			return Permanent(ErrSMTPPermanent, "%s", detail)
		}
		return Transient(0, "%s", detail)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient(0, "SMTP %s: timed out", stage)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return Transient(0, "SMTP %s: %s", stage, redact(oe.Error()))
	}
	return Transient(0, "SMTP %s: %s", stage, redact(err.Error()))
}

var addressLike = regexp.MustCompile(`<?[^\s<>@]+@[^\s<>]+>?`)

// redact removes anything that looks like an email address and caps the length, so a server's text can go into a
// log or the delivery log.
func redact(s string) string {
	s = addressLike.ReplaceAllString(s, "[address]")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
