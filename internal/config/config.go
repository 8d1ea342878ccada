// Package config loads and validates the apptnotify YAML config (README.md, Configuration). A bad config stops the
// worker at start with an error that names the field; nothing is left to fail in the middle of a send.
package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"gopkg.in/yaml.v3"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// EnvVar is the environment variable that names the config file when --config is not given.
const EnvVar = "APPTNOTIFY_CONFIG"

// DemoOrg is the organisation the worker and starter run when there is no config file.
const DemoOrg = "demo"

// Defaults (README.md, Configuration). Their source is internal/appt (rules.go).
var (
	DefaultReminderOffsets = appt.DefaultReminderOffsets()
)

const (
	DefaultRoomOffset  = appt.DefaultRoomOffset
	DefaultMaxAttempts = appt.DefaultMaxAttempts
	DefaultExpiry      = appt.DefaultExpiry
	MaxMaxAttempts     = 10
	// DefaultReceiptWait is how long a finished appointment waits for the delivery receipts of its last SMS
	// (docs/calendar-and-receipts.md); MaxReceiptWait bounds the setting.
	DefaultReceiptWait = 10 * time.Minute
	MaxReceiptWait     = 24 * time.Hour
	// StatusCallbackPath is the path twilio.status_callback_url must have: the only path the worker's callback
	// listener (--callback-listen) serves.
	StatusCallbackPath = "/twilio/status"
)

// TLS policies for SMTP.
const (
	TLSMandatory     = "mandatory"
	TLSOpportunistic = "opportunistic"
	TLSNone          = "none"
)

// Config is the whole config file.
type Config struct {
	SMTP          SMTP   `yaml:"smtp"`
	Twilio        Twilio `yaml:"twilio"`
	Organizations []Org  `yaml:"organizations"`
}

// SMTP is how email leaves. The password comes from the environment, never from the file.
type SMTP struct {
	Host        string `yaml:"host"`
	Port        int    `yaml:"port"`
	TLS         string `yaml:"tls"`
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`

	Password string `yaml:"-"`
}

// Twilio is how SMS leaves. Credentials come from the environment.
type Twilio struct {
	AccountSIDEnv string `yaml:"account_sid_env"`
	AuthTokenEnv  string `yaml:"auth_token_env"`
	BaseURL       string `yaml:"base_url"`
	// StatusCallbackURL is the public URL of the worker's callback listener, as Twilio reaches it (for example
	// https://hooks.acme.example/twilio/status). When set, every SMS asks Twilio for status callbacks to it, with
	// ?appointmentId=<id> appended; its path must be StatusCallbackPath and it holds no query or fragment.
	StatusCallbackURL string `yaml:"status_callback_url"`

	AccountSID string `yaml:"-"`
	AuthToken  string `yaml:"-"`
}

// Webhook is one subscriber of an organisation.
type Webhook struct {
	URL       string `yaml:"url" json:"url"`
	SecretEnv string `yaml:"secret_env" json:"secret_env,omitempty"`
	// Sealing holds what the API stores about the secret instead of secret_env (org.go).
	Sealing `yaml:"-"`

	// Secret is the signing secret in the clear: read from SecretEnv, or opened from SealedSecret by the worker, or
	// given once to the API on a write (which seals it at once). It is never stored or returned.
	Secret string `yaml:"-" json:"secret,omitempty"`
	// PreviousSecret is the secret before the last rotation, opened by the worker while its overlap lasts.
	PreviousSecret string `yaml:"-" json:"-"`
	// DeliveryAuth is how the receiver authenticates apptnotify beside the signature (hookauth.go).
	DeliveryAuth `yaml:",inline"`
}

// Org is one organisation. Pointer fields are optional in the file; Load fills in their defaults.
type Org struct {
	ID                           string        `yaml:"id" json:"id"`
	Platform                     appt.Platform `yaml:"platform" json:"platform"`
	EmailFrom                    string        `yaml:"email_from" json:"email_from,omitempty"`
	SMSFrom                      string        `yaml:"sms_from" json:"sms_from,omitempty"`
	ReminderOffsets              []Duration    `yaml:"reminder_offsets" json:"reminder_offsets,omitempty"`
	RoomOffset                   *Duration     `yaml:"room_offset" json:"room_offset,omitempty"`
	AutoActivate                 *bool         `yaml:"auto_activate" json:"auto_activate,omitempty"`
	MaxAttempts                  *int          `yaml:"max_attempts" json:"max_attempts,omitempty"`
	Expiry                       *Duration     `yaml:"expiry" json:"expiry,omitempty"`
	ReminderSpread               *Duration     `yaml:"reminder_spread" json:"reminder_spread,omitempty"`
	TemplatesDir                 string        `yaml:"templates_dir" json:"templates_dir,omitempty"`
	Webhooks                     []Webhook     `yaml:"webhooks" json:"webhooks,omitempty"`
	AllowPrivateWebhookAddresses bool          `yaml:"allow_private_webhook_addresses" json:"allow_private_webhook_addresses,omitempty"`
	// CalendarInvites attaches an iCalendar invite to CREATE, RESCHEDULE and CANCELLED emails; default true.
	CalendarInvites *bool `yaml:"calendar_invites" json:"calendar_invites,omitempty"`
	// ReceiptWait is how long a finished appointment stays open for the receipts of its last SMS; default
	// DefaultReceiptWait, 0 turns the wait off.
	ReceiptWait *Duration `yaml:"receipt_wait" json:"receipt_wait,omitempty"`
	// Templates are templates as data, keyed by the file name templates_dir would hold (create.subject.txt,
	// de/reminder.txt); what the API stores instead of templates_dir (internal/templates).
	Templates map[string]string `yaml:"templates" json:"templates,omitempty"`
	// NotifyAgents sends agents CREATE, RESCHEDULE, CANCELLED and REMINDER in the agents' templates (never ROOM
	// or FOLLOW_UP); default false. Appointments capture it at scheduling (docs/rules.md#notifications-and-windows).
	NotifyAgents bool `yaml:"notify_agents" json:"notify_agents"`
	// Suppression: the suppression list's lifetimes and the email relays' webhook keys (suppression.go).
	Suppression Suppression `yaml:"suppression" json:"suppression"`
}

// InvitesOn reports whether the organisation's CREATE, RESCHEDULE and CANCELLED emails carry a calendar invite.
func (o *Org) InvitesOn() bool { return o.CalendarInvites == nil || *o.CalendarInvites }

// EmailProvisioned reports whether the organisation sends email: genesys with a sender.
func (o *Org) EmailProvisioned() bool { return o.Platform == appt.Genesys && o.EmailFrom != "" }

// SMSProvisioned reports whether the organisation sends SMS: genesys with a number.
func (o *Org) SMSProvisioned() bool { return o.Platform == appt.Genesys && o.SMSFrom != "" }

// Offsets returns the reminder offsets as durations.
func (o *Org) Offsets() []time.Duration {
	out := make([]time.Duration, len(o.ReminderOffsets))
	for i, d := range o.ReminderOffsets {
		out[i] = d.D()
	}
	return out
}

// Duration is a time.Duration written in Go's syntax (90s, 15m, 24h).
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: a duration such as 90s, 15m or 24h is expected", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 90s, 15m or 24h", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Org returns the organisation with the given ID.
func (c *Config) Org(id string) (*Org, bool) {
	for i := range c.Organizations {
		if c.Organizations[i].ID == id {
			return &c.Organizations[i], true
		}
	}
	return nil, false
}

// Demo is the config used when there is no config file: one genesys organisation, email through Mailpit's default
// SMTP port, no SMS, no webhooks.
func Demo() *Config {
	c := &Config{
		SMTP:          SMTP{Host: "127.0.0.1", Port: 1025, TLS: TLSNone},
		Organizations: []Org{{ID: DemoOrg, Platform: appt.Genesys, EmailFrom: "Demo Clinic <appointments@demo.example>"}},
	}
	if err := c.finish(); err != nil {
		panic("config: the demo config is invalid: " + err.Error())
	}
	return c
}

// Resolve returns the config named by path, else by $APPTNOTIFY_CONFIG, else the demo config. It reads no secret:
// that is what a client (the starter, the HTTP API, a Go backend) needs. The worker then calls ResolveSecrets.
func Resolve(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		path = getenv(EnvVar)
	}
	if path == "" {
		return Demo(), nil
	}
	return Load(path)
}

// Load reads, checks and completes a config file, without reading any secret.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// LoadWorker is Load followed by ResolveSecrets: the worker's view of a config file.
func LoadWorker(path string, getenv func(string) string) (*Config, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := c.ResolveSecrets(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseWorker is Parse followed by ResolveSecrets.
func ParseWorker(b []byte, getenv func(string) string) (*Config, error) {
	c, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if err := c.ResolveSecrets(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse checks and completes a config held in memory, without reading any secret. Every *_env field is checked
// for shape only; ResolveSecrets reads the variables.
func Parse(b []byte) (*Config, error) {
	var doc yaml.Node
	lines := map[int][]string{}
	if err := yaml.Unmarshal(b, &doc); err == nil {
		var kerr error
		if lines, kerr = keyPaths(&doc); kerr != nil {
			return nil, kerr
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config: the file is empty")
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = wordsOf(m, lines)
			}
			return nil, errors.New("config: " + strings.Join(msgs, "; "))
		}
		return nil, errors.New("config: " + wordsOf(err.Error(), lines))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config: the file holds more than one YAML document")
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return &c, nil
}

// MinWebhookSecretBytes is the shortest signing key Standard Webhooks allows: 24 bytes (192 bits), after the
// whsec_ prefix is removed and the rest base64-decoded (Standard Webhooks, "Signature scheme", symmetric keys).
const MinWebhookSecretBytes = 24

// ValidateWebhookSecret checks a webhook signing secret as the worker signs with it: whsec_ (optional, as the
// standard-webhooks library reads it) followed by standard base64 of a key of at least MinWebhookSecretBytes bytes.
// A shorter key, empty included, would let anyone who guesses it forge our webhooks. field names the config field
// and envVar the variable the secret came from; the error quotes neither the secret nor its length in characters,
// only the decoded key's length in bytes.
func ValidateWebhookSecret(field, envVar, secret string) error {
	if _, err := standardwebhooks.NewWebhook(secret); err != nil {
		return &appt.FieldError{Field: field, Msg: fmt.Sprintf("the secret in %s is not a whsec_ base64 secret", envVar)}
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) < MinWebhookSecretBytes {
		return &appt.FieldError{Field: field, Msg: fmt.Sprintf("the secret in %s is a %d-byte key; Standard Webhooks requires at least %d bytes (whsec_ + base64 of 24-64 random bytes)",
			envVar, len(key), MinWebhookSecretBytes)}
	}
	return nil
}

func fieldErr(field, format string, args ...any) error {
	return &appt.FieldError{Field: "config: " + field, Msg: fmt.Sprintf(format, args...)}
}

// finish applies the defaults and validates every field. It reads no secret.
func (c *Config) finish() error {
	if c.SMTP.Host == "" {
		c.SMTP.Host = "127.0.0.1"
	}
	if c.SMTP.Port == 0 {
		c.SMTP.Port = 1025
	}
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		return fieldErr("smtp.port", "%d is not a port number", c.SMTP.Port)
	}
	switch c.SMTP.TLS {
	case "":
		c.SMTP.TLS = TLSOpportunistic
	case TLSMandatory, TLSOpportunistic, TLSNone:
	default:
		return fieldErr("smtp.tls", "%q is not mandatory, opportunistic or none", c.SMTP.TLS)
	}
	if c.SMTP.Username != "" {
		if c.SMTP.PasswordEnv == "" {
			return fieldErr("smtp.password_env", "is required with smtp.username")
		}
	}
	if c.Twilio.BaseURL != "" {
		if u, err := url.Parse(c.Twilio.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("twilio.base_url", "must be an absolute http or https URL")
		}
	}
	if c.Twilio.StatusCallbackURL != "" {
		u, err := url.Parse(c.Twilio.StatusCallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("twilio.status_callback_url", "must be an absolute http or https URL")
		}
		if u.Path != StatusCallbackPath || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fieldErr("twilio.status_callback_url", "the path must be %s, with no query, fragment or user info", StatusCallbackPath)
		}
	}
	if len(c.Organizations) == 0 {
		return fieldErr("organizations", "at least one organisation is required")
	}
	seen := map[string]bool{}
	needTwilio := false
	for i := range c.Organizations {
		o := &c.Organizations[i]
		f := fmt.Sprintf("organizations[%d]", i)
		if errs := o.complete("config: "+f+".", true); len(errs) > 0 {
			return errs[0]
		}
		if seen[o.ID] {
			return fieldErr(f+".id", "%q is given twice", o.ID)
		}
		seen[o.ID] = true
		needTwilio = needTwilio || o.SMSProvisioned()
	}
	if needTwilio {
		if c.Twilio.AccountSIDEnv == "" {
			c.Twilio.AccountSIDEnv = "TWILIO_ACCOUNT_SID"
		}
		if c.Twilio.AuthTokenEnv == "" {
			c.Twilio.AuthTokenEnv = "TWILIO_AUTH_TOKEN"
		}
	}
	return nil
}

// NeedsTwilio reports whether an organisation sends SMS, so the Twilio credentials are required.
func (c *Config) NeedsTwilio() bool {
	for i := range c.Organizations {
		if c.Organizations[i].SMSProvisioned() {
			return true
		}
	}
	return false
}

// ResolveSecrets reads, through getenv, every secret that something in the config uses: the SMTP password with a
// username, the Twilio credentials when an organisation sends SMS, and each webhook's signing secret. Only the
// worker calls it; a client never holds the worker's secrets. A missing or malformed secret is an error that names
// the *_env field and the variable, never the value.
func (c *Config) ResolveSecrets(getenv func(string) string) error {
	if c.SMTP.Username != "" {
		c.SMTP.Password = getenv(c.SMTP.PasswordEnv)
		if c.SMTP.Password == "" {
			return fieldErr("smtp.password_env", "environment variable %s is not set", c.SMTP.PasswordEnv)
		}
	}
	for i := range c.Organizations {
		for j := range c.Organizations[i].Webhooks {
			w := &c.Organizations[i].Webhooks[j]
			wf := fmt.Sprintf("organizations[%d].webhooks[%d]", i, j)
			w.Secret = getenv(w.SecretEnv)
			if w.Secret == "" {
				return fieldErr(wf+".secret_env", "environment variable %s is not set", w.SecretEnv)
			}
			if err := ValidateWebhookSecret("config: "+wf+".secret_env", w.SecretEnv, w.Secret); err != nil {
				return err
			}
			if err := w.resolveAuthEnv(wf, getenv); err != nil {
				return err
			}
		}
	}
	if !c.NeedsTwilio() {
		// No organisation of the file sends SMS, but one written through the API may: a worker whose environment
		// holds the Twilio credentials takes them (both, under the configured or the default names), and without
		// them such an organisation's SMS are logged unprovisioned.
		sidEnv, tokenEnv := c.Twilio.AccountSIDEnv, c.Twilio.AuthTokenEnv
		if sidEnv == "" {
			sidEnv = "TWILIO_ACCOUNT_SID"
		}
		if tokenEnv == "" {
			tokenEnv = "TWILIO_AUTH_TOKEN"
		}
		if sid, token := getenv(sidEnv), getenv(tokenEnv); sid != "" && token != "" {
			c.Twilio.AccountSIDEnv, c.Twilio.AuthTokenEnv, c.Twilio.AccountSID, c.Twilio.AuthToken = sidEnv, tokenEnv, sid, token
		}
	}
	if c.NeedsTwilio() {
		c.Twilio.AccountSID = getenv(c.Twilio.AccountSIDEnv)
		if c.Twilio.AccountSID == "" {
			return fieldErr("twilio.account_sid_env", "environment variable %s is not set (an organisation has sms_from)", c.Twilio.AccountSIDEnv)
		}
		c.Twilio.AuthToken = getenv(c.Twilio.AuthTokenEnv)
		if c.Twilio.AuthToken == "" {
			return fieldErr("twilio.auth_token_env", "environment variable %s is not set (an organisation has sms_from)", c.Twilio.AuthTokenEnv)
		}
	}
	return c.resolveCallbackToken(getenv)
}

// resolveCallbackToken reads the Twilio auth token when status callbacks are on: the callback listener verifies
// X-Twilio-Signature with it, and an HMAC check with an empty key would accept forgeries. It is a step of its own
// so it can move with the other secret reads.
func (c *Config) resolveCallbackToken(getenv func(string) string) error {
	if c.Twilio.StatusCallbackURL == "" || c.Twilio.AuthToken != "" {
		return nil
	}
	if c.Twilio.AuthTokenEnv == "" {
		c.Twilio.AuthTokenEnv = "TWILIO_AUTH_TOKEN"
	}
	c.Twilio.AuthToken = getenv(c.Twilio.AuthTokenEnv)
	if c.Twilio.AuthToken == "" {
		return fieldErr("twilio.auth_token_env", "environment variable %s is not set (twilio.status_callback_url is set: callbacks are verified with the auth token)", c.Twilio.AuthTokenEnv)
	}
	return nil
}

// complete applies an organisation's defaults and checks every field, as the config loader does. prefix is put
// before each field's name in an error ("config: organizations[0]." in the file, "" through the API). file is
// true for the config file, whose subscribers name their secret by secret_env; through the API a subscriber's
// secret is sealed instead (org.go). It returns one error per failing field, in field order.
func (o *Org) complete(prefix string, file bool) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &appt.FieldError{Field: prefix + field, Msg: fmt.Sprintf(format, args...)})
	}
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(appt.ValidateParticipantID(prefix+"id", o.ID))
	switch o.Platform {
	case appt.Genesys, appt.Talkdesk:
	case "":
		bad("platform", "is required (genesys or talkdesk)")
	default:
		bad("platform", "%q is not genesys or talkdesk", o.Platform)
	}
	if o.EmailFrom != "" {
		if a, err := mail.ParseAddress(o.EmailFrom); err != nil {
			bad("email_from", "%q is not a valid sender address", o.EmailFrom)
		} else if err := appt.ValidateEmail(prefix+"email_from", a.Address); err != nil {
			add(err)
		} else if err := appt.ValidateDisplayName(prefix+"email_from", a.Name, appt.MaxNameLen); err != nil {
			add(err)
		} else if back, err := mail.ParseAddress(a.String()); err != nil || back.Name != a.Name {
			// The From header is what net/mail writes (go-mail's FromMailAddress); it must read back as typed.
			bad("email_from", "the display name cannot be written as an RFC 2047 From header that reads back as typed "+
				"(net/mail Q-encodes a non-ASCII name with a backslash wrongly); add punctuation such as a comma, or drop the backslash")
		}
	}
	if o.SMSFrom != "" {
		add(appt.ValidatePhone(prefix+"sms_from", o.SMSFrom))
	}
	if o.ReminderOffsets == nil {
		for _, d := range appt.DefaultReminderOffsets() {
			o.ReminderOffsets = append(o.ReminderOffsets, Duration(d))
		}
	}
	add(appt.ValidateOffsets(prefix+"reminder_offsets", o.Offsets()))
	if o.RoomOffset == nil {
		d := Duration(DefaultRoomOffset)
		o.RoomOffset = &d
	}
	if o.RoomOffset.D() <= 0 || o.RoomOffset.D() > appt.MaxReminderOffset {
		bad("room_offset", "%s must be positive and at most %s", o.RoomOffset.D(), appt.MaxReminderOffset)
	}
	if o.AutoActivate == nil {
		t := appt.DefaultAutoActivate
		o.AutoActivate = &t
	}
	if o.MaxAttempts == nil {
		n := DefaultMaxAttempts
		o.MaxAttempts = &n
	}
	if *o.MaxAttempts < 1 || *o.MaxAttempts > MaxMaxAttempts {
		bad("max_attempts", "%d is not between 1 and %d", *o.MaxAttempts, MaxMaxAttempts)
	}
	if o.Expiry == nil {
		d := Duration(DefaultExpiry)
		o.Expiry = &d
	}
	if o.Expiry.D() <= 0 || o.Expiry.D() > 30*24*time.Hour {
		bad("expiry", "%s must be positive and at most 720h", o.Expiry.D())
	}
	if o.ReminderSpread == nil {
		var d Duration
		o.ReminderSpread = &d
	}
	if o.ReminderSpread.D() < 0 || o.ReminderSpread.D() > 30*time.Second {
		bad("reminder_spread", "%s must be between 0s and 30s (a reminder may fire from 30 s before its due time; see docs/rules.md#notifications-and-windows)", o.ReminderSpread.D())
	}
	if o.CalendarInvites == nil {
		t := true
		o.CalendarInvites = &t
	}
	if o.ReceiptWait == nil {
		d := Duration(DefaultReceiptWait)
		o.ReceiptWait = &d
	}
	if o.ReceiptWait.D() < 0 || o.ReceiptWait.D() > MaxReceiptWait {
		bad("receipt_wait", "%s must be between 0s (off) and %s", o.ReceiptWait.D(), MaxReceiptWait)
	}
	add(o.finishSuppression(prefix))
	if o.TemplatesDir != "" {
		if !file {
			bad("templates_dir", "is a path on the worker's host, which the API cannot set; send the templates themselves in templates")
		} else if st, err := os.Stat(o.TemplatesDir); err != nil || !st.IsDir() {
			bad("templates_dir", "%q is not a readable directory", o.TemplatesDir)
		}
	}
	for j := range o.Webhooks {
		w := &o.Webhooks[j]
		wf := fmt.Sprintf("webhooks[%d]", j)
		u, err := url.Parse(w.URL)
		if w.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(wf+".url", "must be an absolute http or https URL")
		}
		switch {
		case file && w.SecretEnv == "":
			bad(wf+".secret_env", "is required")
		case !file && w.SecretEnv != "":
			bad(wf+".secret_env", "names a variable of the worker's environment, which the API cannot read; send the secret itself in secret (it is sealed at once)")
		}
		errs = append(errs, w.checkAuth(prefix+wf, file, o.AllowPrivateWebhookAddresses)...)
	}
	return errs
}
