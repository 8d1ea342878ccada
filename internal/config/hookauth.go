package config

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// DeliveryAuth is how a subscriber's receiver authenticates apptnotify beyond the Standard Webhooks signature, which
// every webhook carries regardless (docs/api.md, "Webhook delivery auth"). All four parts are optional; basic_auth
// and oauth2 exclude each other (both set Authorization). It is inlined in Webhook, so its keys sit beside url and
// secret.
type DeliveryAuth struct {
	// BasicAuth sends Authorization: Basic (RFC 7617) on every POST.
	BasicAuth *BasicAuth `yaml:"basic_auth" json:"basic_auth,omitempty"`
	// OAuth2 fetches a bearer token by the client-credentials grant (RFC 6749 §4.4) and sends it on every POST.
	OAuth2 *OAuth2Auth `yaml:"oauth2" json:"oauth2,omitempty"`
	// Headers are sent as given on every POST, each either plain (value) or secret (secret).
	Headers []WebhookHeader `yaml:"headers" json:"headers,omitempty"`
	// XSignature adds the product-compatible x-signature header (activities.XSignature).
	XSignature *XSignature `yaml:"x_signature" json:"x_signature,omitempty"`
}

// BasicAuth is HTTP Basic: the username is plain, the password a Credential. RFC 7617 forbids a colon in the
// user-id and control characters in either.
type BasicAuth struct {
	Username string     `yaml:"username" json:"username"`
	Password Credential `yaml:"password" json:"password"`
}

// OAuth2Auth is the client-credentials grant (RFC 6749 §4.4) as golang.org/x/oauth2/clientcredentials runs it.
type OAuth2Auth struct {
	// TokenURL is the token endpoint: an absolute https URL (http only with allow_private_webhook_addresses),
	// checked against the webhook address guard like the subscriber URL.
	TokenURL     string     `yaml:"token_url" json:"token_url"`
	ClientID     string     `yaml:"client_id" json:"client_id"`
	ClientSecret Credential `yaml:"client_secret" json:"client_secret"`
	// Scopes are sent space-separated in scope; none sends no scope.
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
	// Audience, when set, is sent as the audience parameter (Auth0, Okta and others require it).
	Audience string `yaml:"audience" json:"audience,omitempty"`
	// EndpointParams are further form parameters of the token request; they cannot replace grant_type, scope,
	// client_id, client_secret or audience.
	EndpointParams map[string]string `yaml:"endpoint_params" json:"endpoint_params,omitempty"`
}

// WebhookHeader is one custom header: name and exactly one of value (plain, shown on reads) or secret (a
// Credential, write-only).
type WebhookHeader struct {
	Name   string      `yaml:"name" json:"name"`
	Value  string      `yaml:"value" json:"value,omitempty"`
	Secret *Credential `yaml:"secret" json:"secret,omitempty"`
}

// XSignature is the product-compatible signature's key.
type XSignature struct {
	Secret Credential `yaml:"secret" json:"secret"`
}

// Credential is one delivery-auth secret, kept like a subscriber's signing secret (docs/security.md, "Seal keys").
// In the config file it names a variable of the worker's environment (env); through the API it is given once in
// the clear (value), sealed for the worker at once (sealed, digest) and shown on reads only as set and changed_at.
// The worker holds the opened value in Value.
type Credential struct {
	// Env names the environment variable holding the value (config file only).
	Env string `yaml:"env" json:"env,omitempty"`
	// Value is the secret in the clear: write-only through the API, opened by the worker; never stored.
	Value string `yaml:"-" json:"value,omitempty"`
	// Sealed is Value sealed for the worker (seal1.<key ID>.<data>); stored, never returned.
	Sealed string `yaml:"-" json:"sealed,omitempty"`
	// Digest is the hex SHA-256 of Value, so that writing the same value again changes nothing; stored, never
	// returned.
	Digest string `yaml:"-" json:"digest,omitempty"`
	// Set is true on a read when the credential has a value.
	Set bool `yaml:"-" json:"set,omitempty"`
	// ChangedAt is when the value was last set or changed.
	ChangedAt *time.Time `yaml:"-" json:"changed_at,omitempty"`
}

// MaxCredentialLen bounds a credential's value, in bytes.
const MaxCredentialLen = 4096

// MinXSignatureSecretBytes is the shortest x-signature key: 32 bytes, the HMAC-SHA256 block-size guidance of
// RFC 2104 §3 (a key shorter than the hash output weakens it).
const MinXSignatureSecretBytes = 32

// MaxWebhookHeaders bounds a subscriber's custom headers.
const MaxWebhookHeaders = 20

// reservedHeaders are the header names a custom header may never set: what apptnotify sets itself on every POST
// (the signatures, the body's framing, the content type) and the hop-by-hop and connection headers of RFC 9110 §7.6.
var reservedHeaders = map[string]bool{
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true, "X-Signature": true,
	"Host": true, "Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Expect": true, "User-Agent": true, "Cookie": true,
}

// reservedTokenParams are the token request's parameters that clientcredentials sets itself.
var reservedTokenParams = map[string]bool{"grant_type": true, "scope": true, "client_id": true, "client_secret": true, "audience": true}

// CredentialRef is one credential of a subscriber: Key identifies it across writes (a header's by its canonical
// name), Field names it in errors relative to the subscriber (basic_auth.password, headers[1].secret).
type CredentialRef struct {
	Key, Field string
	C          *Credential
}

// Credentials lists the subscriber's delivery-auth credentials, in field order.
func (a *DeliveryAuth) Credentials() []CredentialRef {
	var out []CredentialRef
	if a.BasicAuth != nil {
		out = append(out, CredentialRef{"basic_auth.password", "basic_auth.password", &a.BasicAuth.Password})
	}
	if a.OAuth2 != nil {
		out = append(out, CredentialRef{"oauth2.client_secret", "oauth2.client_secret", &a.OAuth2.ClientSecret})
	}
	for i := range a.Headers {
		if h := &a.Headers[i]; h.Secret != nil {
			out = append(out, CredentialRef{"headers." + http.CanonicalHeaderKey(h.Name), fmt.Sprintf("headers[%d].secret", i), h.Secret})
		}
	}
	if a.XSignature != nil {
		out = append(out, CredentialRef{"x_signature.secret", "x_signature.secret", &a.XSignature.Secret})
	}
	return out
}

// copyAuth gives a the credentials of its own (the document's copies share nothing with the original).
func (a *DeliveryAuth) copyAuth() {
	if a.BasicAuth != nil {
		b := *a.BasicAuth
		a.BasicAuth = &b
	}
	if a.OAuth2 != nil {
		o := *a.OAuth2
		a.OAuth2 = &o
	}
	if a.XSignature != nil {
		x := *a.XSignature
		a.XSignature = &x
	}
	if a.Headers != nil {
		hs := append([]WebhookHeader(nil), a.Headers...)
		for i := range hs {
			if hs[i].Secret != nil {
				c := *hs[i].Secret
				hs[i].Secret = &c
			}
		}
		a.Headers = hs
	}
}

// CopyAuth returns a deep copy of the delivery auth (for a document about to be sealed or redacted).
func (a DeliveryAuth) CopyAuth() DeliveryAuth {
	a.copyAuth()
	return a
}

// redactAuth reduces every credential to set and changed_at, as a read shows it.
func (a *DeliveryAuth) redactAuth() {
	a.copyAuth()
	for _, r := range a.Credentials() {
		r.C.Set = r.C.Sealed != "" || r.C.Env != ""
		r.C.Value, r.C.Sealed, r.C.Digest = "", "", ""
	}
}

// resolveAuthEnv reads every credential of a config-file subscriber from the environment; field prefixes the
// field names of errors (organizations[0].webhooks[1]).
func (a *DeliveryAuth) resolveAuthEnv(field string, getenv func(string) string) error {
	for _, r := range a.Credentials() {
		r.C.Value = getenv(r.C.Env)
		if r.C.Value == "" {
			return fieldErr(field+"."+r.Field+".env", "environment variable %s is not set", r.C.Env)
		}
		if err := checkCredentialValue(r, r.C.Value); err != "" {
			return fieldErr(field+"."+r.Field+".env", "the value of %s %s", r.C.Env, err)
		}
	}
	return nil
}

// ResolveAuthEnv is resolveAuthEnv for `starter org apply`, which reads a file's env credentials from the applying
// shell and sends them only to be sealed: each credential's Env becomes its Value.
func (a *DeliveryAuth) ResolveAuthEnv(field string, getenv func(string) string) error {
	if err := a.resolveAuthEnv(field, getenv); err != nil {
		return err
	}
	for _, r := range a.Credentials() {
		r.C.Env = ""
	}
	return nil
}

// checkCredentialValue checks a credential's clear value; "" is fine. Messages never quote the value.
func checkCredentialValue(r CredentialRef, v string) string {
	switch {
	case len(v) > MaxCredentialLen:
		return fmt.Sprintf("is %d bytes; at most %d", len(v), MaxCredentialLen)
	case strings.HasPrefix(r.Key, "headers.") && !httpguts.ValidHeaderFieldValue(v):
		return "is not a valid header value (no control characters, CR or LF)"
	case r.Key == "basic_auth.password" && strings.ContainsFunc(v, isCTL):
		return "holds a control character, which RFC 7617 forbids"
	case r.Key == "x_signature.secret" && len(v) < MinXSignatureSecretBytes:
		return fmt.Sprintf("is %d bytes; an HMAC-SHA256 key needs at least %d", len(v), MinXSignatureSecretBytes)
	}
	return ""
}

func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

// checkAuth checks a subscriber's delivery auth by the rules of docs/rules.md#webhook-delivery-auth, naming every
// failing field under wf (webhooks[0]). file is true for the config file (credentials by env), false through the
// API (credentials by value, or kept from the stored document when omitted).
func (a *DeliveryAuth) checkAuth(wf string, file, allowPrivate bool) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &appt.FieldError{Field: wf + "." + field, Msg: fmt.Sprintf(format, args...)})
	}
	if a.BasicAuth != nil && a.OAuth2 != nil {
		bad("oauth2", "cannot be set with basic_auth: both set Authorization")
	}
	if b := a.BasicAuth; b != nil {
		switch {
		case b.Username == "":
			bad("basic_auth.username", "is required")
		case strings.Contains(b.Username, ":"):
			bad("basic_auth.username", "holds a colon, which RFC 7617 forbids in the user-id")
		case strings.ContainsFunc(b.Username, isCTL) || len(b.Username) > 256:
			bad("basic_auth.username", "must be at most 256 bytes without control characters")
		}
	}
	if o := a.OAuth2; o != nil {
		u, err := url.Parse(o.TokenURL)
		switch {
		case o.TokenURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("oauth2.token_url", "must be an absolute https URL")
		case u.Scheme == "http" && !allowPrivate:
			bad("oauth2.token_url", "must be https: the client secret is sent to it (http only with allow_private_webhook_addresses)")
		case u.User != nil || u.Fragment != "":
			bad("oauth2.token_url", "must hold no user information or fragment")
		}
		if o.ClientID == "" || strings.ContainsFunc(o.ClientID, isCTL) || len(o.ClientID) > 256 {
			bad("oauth2.client_id", "is required: at most 256 bytes without control characters")
		}
		for i, s := range o.Scopes {
			if s == "" || strings.ContainsAny(s, " \"\\") || strings.ContainsFunc(s, isCTL) {
				bad(fmt.Sprintf("oauth2.scopes[%d]", i), "is not a scope-token (RFC 6749 §3.3: printable ASCII but space, \" and \\)")
			}
		}
		for _, k := range appt.SortedKeys(o.EndpointParams) {
			if reservedTokenParams[k] || k == "" {
				bad("oauth2.endpoint_params."+k, "cannot be set here (grant_type, scope, client_id, client_secret and audience have their own fields)")
			}
		}
	}
	if len(a.Headers) > MaxWebhookHeaders {
		bad("headers", "%d headers; at most %d", len(a.Headers), MaxWebhookHeaders)
	}
	seen := map[string]int{}
	for i, h := range a.Headers {
		hf := fmt.Sprintf("headers[%d]", i)
		canon := http.CanonicalHeaderKey(h.Name)
		switch {
		case !httpguts.ValidHeaderFieldName(h.Name):
			bad(hf+".name", "is not an HTTP field name (RFC 9110 §5.1 token)")
		case reservedHeaders[canon] || strings.HasPrefix(canon, "Webhook-"):
			bad(hf+".name", "%s is set by apptnotify itself and cannot be replaced", canon)
		case canon == "Authorization" && (a.BasicAuth != nil || a.OAuth2 != nil):
			bad(hf+".name", "Authorization is set by basic_auth or oauth2 here")
		default:
			if j, dup := seen[canon]; dup {
				bad(hf+".name", "repeats headers[%d] (%s)", j, canon)
			}
			seen[canon] = i
		}
		switch {
		case h.Secret != nil && h.Value != "":
			bad(hf, "has both value and secret: a header is either plain or secret")
		case h.Secret == nil && h.Value == "":
			bad(hf, "needs value (plain) or secret")
		case h.Value != "" && !httpguts.ValidHeaderFieldValue(h.Value):
			bad(hf+".value", "is not a valid header value (no control characters, CR or LF)")
		}
	}
	for _, r := range a.Credentials() {
		c := r.C
		switch {
		case file && c.Env == "":
			bad(r.Field+".env", "is required (the environment variable holding the value)")
		case !file && c.Env != "":
			bad(r.Field+".env", "names a variable of the worker's environment, which the API cannot read; send the value itself in value (it is sealed at once)")
		case !file && (c.Sealed != "" || c.Digest != ""):
			bad(r.Field, "sealed and digest are the server's; send value")
		}
		if msg := checkCredentialValue(r, c.Value); msg != "" {
			bad(r.Field+".value", "%s", msg)
		}
	}
	return errs
}
