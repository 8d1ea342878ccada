package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// DefaultSMTPTimeout bounds one email send (connect, handshake and transfer) when the caller's context allows more.
const DefaultSMTPTimeout = 30 * time.Second

// DefaultSMTPIdleConns is how many open SMTP connections a Mailer keeps between sends, and DefaultSMTPIdleTimeout
// how long an unused one stays open before the Mailer ends it with QUIT. RFC 5321 §3.3 lets a client run any number
// of mail transactions in one session; RFC 5321 §4.5.3.2.7 gives servers at least 5 minutes before they drop an
// idle client, so 30 s stays well inside what any relay allows.
const (
	DefaultSMTPIdleConns   = 32
	DefaultSMTPIdleTimeout = 30 * time.Second
)

// smtpNoopTimeout bounds the NOOP that checks an idle session (a session a firewall dropped silently would
// otherwise take the whole send's time), and smtpQuitTimeout the QUIT that ends a session, which is a courtesy.
const (
	smtpNoopTimeout = 5 * time.Second
	smtpQuitTimeout = 2 * time.Second
)

// Mailer sends notification emails over SMTP with go-mail. It holds one client configuration (host, port, TLS policy,
// auth) and reuses connections: a send takes an idle connection (checked with NOOP first) or opens a new one
// (connect, EHLO, STARTTLS, AUTH), and a connection that carried a message without any error goes back to the idle
// set, up to DefaultSMTPIdleConns for at most DefaultSMTPIdleTimeout. A connection that saw any error, or whose send
// ran out of time, is closed, so a broken connection never carries the next delivery. A kept session that the
// server ends at MAIL FROM (421 or a broken connection: nothing was transferred) is replaced once within the send.
// A herd of reminders costs a few connections instead of one per email, which spares the relay's connection limits
// and the handshakes.
type Mailer struct {
	client      *gomail.Client
	templates   *templates.Set
	timeout     time.Duration
	maxIdle     int
	idleTimeout time.Duration

	mu   sync.Mutex
	idle []*smtpConn // most recently used last
	// dials counts the connections opened; tests read it through Dials.
	dials int
	// clock sets the Date header; time.Now unless WithMailerClock.
	clock func() time.Time
}

// WithMailerClock sets where the Date header's time comes from (tests compare a sent email with its preview).
func WithMailerClock(now func() time.Time) MailerOption { return func(m *Mailer) { m.clock = now } }

func (m *Mailer) now() time.Time {
	if m.clock == nil {
		return time.Now()
	}
	return m.clock()
}

// smtpConn is one open SMTP session.
type smtpConn struct {
	sc       *smtp.Client
	tr       *connTracker // closes the raw connection
	smtpUTF8 bool
	expiry   *time.Timer // while idle: closes the session after the idle timeout
}

// MailerOption adjusts a Mailer.
type MailerOption func(*Mailer)

// WithSMTPTimeout bounds each send; the default is DefaultSMTPTimeout.
func WithSMTPTimeout(d time.Duration) MailerOption { return func(m *Mailer) { m.timeout = d } }

// WithSMTPIdleConns sets how many idle connections the Mailer keeps (default DefaultSMTPIdleConns) and how long each
// may stay idle (default DefaultSMTPIdleTimeout). n = 0 opens a connection per send and ends it with QUIT.
func WithSMTPIdleConns(n int, idleTimeout time.Duration) MailerOption {
	return func(m *Mailer) { m.maxIdle, m.idleTimeout = n, idleTimeout }
}

// NewMailer builds a Mailer from the smtp section of the config. tls "mandatory" requires STARTTLS, "opportunistic"
// uses it when the server offers it, "none" never does. With a username, go-mail picks the strongest mechanism the
// server offers (and refuses PLAIN/LOGIN over an unencrypted connection to anything but localhost).
func NewMailer(cfg config.SMTP, t *templates.Set, opts ...MailerOption) (*Mailer, error) {
	m := &Mailer{templates: t, timeout: DefaultSMTPTimeout, maxIdle: DefaultSMTPIdleConns,
		idleTimeout: DefaultSMTPIdleTimeout}
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
		// The Mailer checks a reused connection with NOOP itself, before it builds the envelope; a fresh one needs
		// no check.
		gomail.WithoutNoop(),
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

// Close ends every idle connection with QUIT, all at once, each bounded by smtpQuitTimeout. Sends still running
// finish on their own connections, which are then closed instead of kept.
func (m *Mailer) Close() {
	m.mu.Lock()
	idle := m.idle
	m.idle = nil
	m.maxIdle = 0
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		if c.expiry.Stop() {
			wg.Go(func() { m.quit(c) })
		}
	}
	wg.Wait()
}

// Dials is how many SMTP connections the Mailer has opened.
func (m *Mailer) Dials() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dials
}

// IdleConns is how many open connections wait for the next send.
func (m *Mailer) IdleConns() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.idle)
}

// dial opens a session: connect, greeting, EHLO, STARTTLS and AUTH as configured. The connection is closed if ctx
// ends before the handshake is done or the handshake fails (go-mail leaves it open then).
func (m *Mailer) dial(ctx context.Context) (*smtpConn, error) {
	m.mu.Lock()
	m.dials++
	m.mu.Unlock()
	tr := &connTracker{}
	stop := context.AfterFunc(ctx, tr.close)
	sc, err := m.client.DialToSMTPClientWithContext(context.WithValue(ctx, connKey{}, tr))
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		tr.close()
		return nil, err
	}
	utf8, _ := sc.Extension("SMTPUTF8")
	return &smtpConn{sc: sc, tr: tr, smtpUTF8: utf8}, nil
}

// take returns an idle session that still answers NOOP (reused true), or a new one. Idle sessions that do not
// answer within smtpNoopTimeout are closed.
func (m *Mailer) take(ctx context.Context) (c *smtpConn, reused bool, err error) {
	for {
		m.mu.Lock()
		c = nil
		if n := len(m.idle); n > 0 {
			c = m.idle[n-1]
			m.idle = m.idle[:n-1]
		}
		m.mu.Unlock()
		if c == nil {
			c, err = m.dial(ctx)
			return c, false, err
		}
		if !c.expiry.Stop() {
			continue // its idle timeout fired: it is being closed
		}
		stop := context.AfterFunc(ctx, c.tr.close)
		err = c.sc.UpdateDeadline(min(m.timeout, smtpNoopTimeout))
		if err == nil {
			err = c.sc.Noop()
		}
		if stop() && err == nil {
			return c, true, nil
		}
		c.tr.close()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
	}
}

// release keeps a session that carried a message without error for the next send, or ends it with QUIT when the
// idle set is full.
func (m *Mailer) release(c *smtpConn) {
	m.mu.Lock()
	if len(m.idle) < m.maxIdle {
		c.expiry = time.AfterFunc(m.idleTimeout, func() { m.expire(c) })
		m.idle = append(m.idle, c)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	go m.quit(c) // the send has succeeded; it does not wait for the server's goodbye
}

// expire removes an idle session whose idle timeout fired and ends it.
func (m *Mailer) expire(c *smtpConn) {
	m.mu.Lock()
	for i, ic := range m.idle {
		if ic == c {
			m.idle = append(m.idle[:i], m.idle[i+1:]...)
			break
		}
	}
	m.mu.Unlock()
	m.quit(c)
}

// quit ends a session politely (QUIT, bounded by smtpQuitTimeout) and closes its connection.
func (m *Mailer) quit(c *smtpConn) {
	if c.sc.UpdateDeadline(min(m.timeout, smtpQuitTimeout)) == nil {
		_ = m.client.CloseWithSMTPClient(c.sc)
	}
	c.tr.close()
}

// connKey carries a dial's connTracker to trackingDial through the context.
type connKey struct{}

// connTracker remembers the connection of one session, so that it can be closed when a send's context ends
// (go-mail's SMTP conversation does not watch the context) and when the handshake fails (go-mail leaves it open
// then).
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
		addr, err := appt.EmailASCIIDomain(a.Address) // an internationalised domain in its A-label form
		if i := strings.LastIndexByte(addr, '@'); err == nil && i >= 0 && msgIDDomain.MatchString(addr[i+1:]) {
			domain = addr[i+1:]
		}
	}
	return "apptnotify." + hex.EncodeToString(sum[:16]) + "@" + domain
}

var msgIDDomain = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$`)

// EmailDraft is a notification email to one participant as BuildEmail makes it, before any SMTP session: what
// SendEmail sends and what a preview shows. Compose turns it into the MIME message.
type EmailDraft struct {
	MessageID     string       // without angle brackets (MessageID)
	ParticipantID string       // who it is for, for error messages (never an address)
	From          mail.Address // the organisation's email_from
	To            mail.Address // the participant's name and address, as given
	Subject       string
	Text          string // the text/plain body
	HTML          string // the text/html alternative
	// Invite is the iCalendar object (RFC 5545) of a CREATE, RESCHEDULE or CANCELLED email when the organisation's
	// calendar_invites is on, else empty; it goes out as a text/calendar alternative and as the invite.ics
	// attachment. InviteMethod is its iTIP method (REQUEST or CANCEL).
	Invite       string
	InviteMethod string
}

// BuildEmail checks and renders the email of a notification to one participant with the templates of set: every
// step of SendEmail before it opens an SMTP session. Its errors are *DeliveryError: ErrUnprovisioned (no address),
// ErrInvalidRecipient (an address that is not valid) and ErrBadInput (a name that cannot go into a header, a
// lifecycle event, a sender that does not parse, a template that fails to render).
func BuildEmail(set *templates.Set, org *config.Org, msg *Message, to appt.Participant, notificationID string) (*EmailDraft, error) {
	if to.Email == "" {
		return nil, Permanent(ErrUnprovisioned, "participant %s has no email address", to.ID)
	}
	if err := appt.ValidateEmail("email", to.Email); err != nil {
		return nil, Permanent(ErrInvalidRecipient, "participant %s: the email address %s", to.ID, fieldMsg(err))
	}
	if err := appt.ValidateDisplayName("name", to.Name, appt.MaxNameLen); err != nil {
		return nil, Permanent(ErrBadInput, "participant %s: the name cannot go into the To header: it %s", to.ID, fieldMsg(err))
	}
	if !msg.IsNotification() {
		return nil, Permanent(ErrBadInput, "%s is not a notification", msg.Event)
	}
	from, err := mail.ParseAddress(org.EmailFrom)
	if err != nil {
		return nil, Permanent(ErrBadInput, "organisation %s: email_from is not a valid address", org.ID)
	}
	body, err := set.Email(org.ID, templateInput(msg, to))
	if err != nil {
		return nil, Permanent(ErrBadInput, "rendering the email: %v", err)
	}
	d := &EmailDraft{
		MessageID: MessageID(notificationID, org.EmailFrom), ParticipantID: to.ID,
		From: *from, To: mail.Address{Name: to.Name, Address: to.Email},
		Subject: body.Subject, Text: body.Text, HTML: body.HTML,
	}
	if err := buildInvite(d, set, org, msg, to); err != nil {
		return nil, err
	}
	return d, nil
}

// Compose builds the MIME message of a draft with the given envelope forms of its addresses (transportAddress:
// as given, or with an IDNA A-label domain for a server without SMTPUTF8) and the Date header now. The sender and
// the recipient are handed to go-mail as structured addresses (net/mail.Address), never as a formatted string to
// be parsed again, so a display name with quotes, commas, backslashes or non-ASCII arrives as typed: net/mail
// writes it as an RFC 5322 quoted-string, or as RFC 2047 encoded-words when it is not ASCII.
func (d *EmailDraft) Compose(fromAddr, toAddr string, now time.Time) *gomail.Msg {
	em := gomail.NewMsg()
	em.SetMessageIDWithValue(d.MessageID)
	em.SetDateWithValue(now)
	em.Subject(d.Subject)
	em.SetGenHeader("Auto-Submitted", "auto-generated")
	em.SetBodyString(gomail.TypeTextPlain, d.Text)
	em.AddAlternativeString(gomail.TypeTextHTML, d.HTML)
	if d.Invite != "" {
		em.AddAlternativeString(gomail.ContentType("text/calendar; method="+d.InviteMethod), d.Invite)
		// AttachReader reads the whole object at once; it fails only on a failing reader, which a strings.Reader
		// is not.
		_ = em.AttachReader(InviteFileName, strings.NewReader(d.Invite),
			gomail.WithFileContentType(gomail.ContentType("application/ics")))
	}
	em.FromMailAddress(&mail.Address{Name: d.From.Name, Address: fromAddr})
	toAddress := &mail.Address{Name: d.To.Name, Address: toAddr}
	if header := DisplayAddress(d.To.Name, toAddr); header != toAddress.String() {
		// net/mail would write this name wrongly (see DisplayAddress): the To header is written preformatted and
		// the recipient goes into the envelope only (go-mail never writes a Bcc header).
		em.SetGenHeaderPreformatted(gomail.Header(gomail.HeaderTo), header)
		em.BccMailAddress(&mail.Address{Address: toAddr})
	} else {
		em.AddToMailAddress(toAddress)
	}
	return em
}

// SendEmail sends one notification email and returns its Message-ID (with angle brackets, as in the header): the
// draft of BuildEmail, sent with SendDraft.
func (m *Mailer) SendEmail(ctx context.Context, org *config.Org, msg *Message, to appt.Participant, notificationID string) (string, error) {
	d, err := BuildEmail(m.templates, org, msg, to, notificationID)
	if err != nil {
		return "", err
	}
	return m.SendDraft(ctx, org, d)
}

// SendDraft sends a built email and returns its Message-ID (with angle brackets). An address that is not ASCII
// goes out as it is when the server offers SMTPUTF8 (RFC 6531); otherwise a non-ASCII domain is sent in its IDNA
// A-label form (the same mailbox), and a non-ASCII local part, which no relay without SMTPUTF8 can take, fails for
// good with an error that says so.
func (m *Mailer) SendDraft(ctx context.Context, org *config.Org, d *EmailDraft) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	c, reused, err := m.take(ctx)
	if err != nil {
		return "", smtpError(ctx, "connecting", err)
	}
	fromAddr, err := transportAddress(d.From.Address, c.smtpUTF8)
	if err != nil {
		m.release(c) // nothing was said on it
		return "", Permanent(ErrBadInput, "organisation %s: email_from %v", org.ID, err)
	}
	toAddr, err := transportAddress(d.To.Address, c.smtpUTF8)
	if err != nil {
		m.release(c)
		return "", Permanent(ErrInvalidRecipient, "participant %s: the email address %v", d.ParticipantID, err)
	}
	em := d.Compose(fromAddr, toAddr, m.now())

	for {
		stop := context.AfterFunc(ctx, c.tr.close) // go-mail's conversation does not watch ctx
		err = m.client.SendWithSMTPClient(c.sc, em)
		watched := stop()
		if em.IsDelivered() {
			// The server accepted the message (250 after DATA). Whatever happened after it (the RSET that ends the
			// transaction failed, the context ended), the send succeeded: a retry would send it twice. Only a
			// session that finished cleanly, with the context still watching it, is kept.
			if err == nil && watched {
				m.release(c)
			} else {
				c.tr.close()
			}
			return "<" + d.MessageID + ">", nil
		}
		c.tr.close() // the session saw an error: it carries nothing more
		if !reused || !refusedBeforeTransfer(err) || ctx.Err() != nil {
			return "", smtpError(ctx, "sending", err)
		}
		// A kept session that the server ended at MAIL FROM (a 421, as relays that cap messages per connection
		// answer, or a connection that broke after the NOOP) has transferred nothing: try once more on a new one.
		nc, derr := m.dial(ctx)
		if derr != nil {
			return "", smtpError(ctx, "connecting", derr)
		}
		if nc.smtpUTF8 != c.smtpUTF8 { // the envelope was built for the other session's extensions
			m.release(nc)
			return "", smtpError(ctx, "sending", err)
		}
		c, reused = nc, false
	}
}

// refusedBeforeTransfer reports whether a send failed at MAIL FROM (or at the connection check) with a 421 or a
// broken connection: nothing of the message reached the server.
func refusedBeforeTransfer(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || (se.Reason != gomail.ErrSMTPMailFrom && se.Reason != gomail.ErrConnCheck) {
		return false
	}
	code := se.ErrorCode()
	return code == 421 || code == 0
}

// rfc2047Specials are the characters that make net/mail choose B-encoding for a non-ASCII display name.
const rfc2047Specials = "\"#$%&'(),.:;<>@[]^`{|}~"

// DisplayAddress returns an address with its display name as the To header carries it: what net/mail writes
// (an RFC 5322 quoted-string for ASCII, RFC 2047 encoded-words otherwise), except where net/mail gets it wrong.
// It Q-encodes a non-ASCII name that holds a backslash but none of rfc2047Specials, and leaves the backslash raw
// inside the encoded-word, which RFC 2047 §5(3) forbids in a phrase and which no parser (net/mail included) reads
// back. Such a name is B-encoded here instead, as encoded-words of at most 75 characters on folded lines (RFC 2047
// §2, RFC 5322 §2.2.3).
func DisplayAddress(name, addr string) string {
	a := &mail.Address{Name: name, Address: addr}
	if name == "" || appt.IsASCII(name) || !strings.Contains(name, `\`) || strings.ContainsAny(name, rfc2047Specials) {
		return a.String()
	}
	words := strings.Fields(mime.BEncoding.Encode("utf-8", name))
	return strings.Join(words, "\r\n ") + "\r\n " + (&mail.Address{Address: addr}).String()
}

// errNeedsSMTPUTF8 is an address whose local part is not ASCII, for a server that does not offer SMTPUTF8.
var errNeedsSMTPUTF8 = errors.New("has a non-ASCII local part (before the @) and the SMTP server does not offer " +
	"SMTPUTF8 (RFC 6531), so it cannot be sent through this server")

// transportAddress returns the form of a (valid) address to send: as it is when it is ASCII or the server offers
// SMTPUTF8; else with its domain in IDNA A-label form, which needs no extension; else errNeedsSMTPUTF8.
func transportAddress(addr string, smtpUTF8 bool) (string, error) {
	if smtpUTF8 || appt.IsASCII(addr) {
		return addr, nil
	}
	a, err := appt.EmailASCIIDomain(addr)
	if err != nil {
		return "", errors.New("has a domain that IDNA cannot convert to ASCII")
	}
	if !appt.IsASCII(a) {
		return "", errNeedsSMTPUTF8
	}
	return a, nil
}

// fieldMsg is a validation error's message without its field name: "is not a valid email address".
func fieldMsg(err error) string {
	var fe *appt.FieldError
	if errors.As(err, &fe) {
		return fe.Msg
	}
	return err.Error()
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
func smtpError(ctx context.Context, stage string, err error) (de *DeliveryError) {
	if ctx.Err() != nil {
		return Transient(0, "SMTP %s: timed out", stage)
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		defer func() { de.Code = replyClass(code) }()
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
		defer func() { de.Code = replyClass(tp.Code) }()
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
