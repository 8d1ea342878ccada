package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/apptnotify/apptnotify/internal/config"
)

// XSignatureHeader is the product-compatible signature header (docs/api.md, "Webhook delivery auth").
const XSignatureHeader = "x-signature"

// XSignature is the x-signature header's value for a delivered body: the lowercase hex of HMAC-SHA256 keyed with
// the UTF-8 bytes of the subscriber's x_signature secret, over the exact bytes of the HTTP body. The product signs
// its delivered payload field; apptnotify's body is the payload itself (no envelope), so the receiver hashes the raw
// body as received, before any JSON parsing. It has no timestamp: the Standard Webhooks signature, which every
// webhook still carries, is the one that protects against replays.
func XSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// tokenCache holds the OAuth2 access tokens of subscribers, keyed by everything the token request sends (the
// organisation, token URL, client ID, the client secret's digest, scopes, audience, parameters): a token is
// reused until it expires (oauth2.Token.Valid: its expires_in, less 10 s; a token without expires_in until a 401),
// and concurrent deliveries that need a new one share one request.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]*oauth2.Token
	group  singleflight.Group
}

func newTokenCache() *tokenCache { return &tokenCache{tokens: map[string]*oauth2.Token{}} }

func tokenKey(org string, o *config.OAuth2Auth) string {
	h := sha256.New()
	for _, s := range []string{org, o.TokenURL, o.ClientID, o.ClientSecret.Value, strings.Join(o.Scopes, " "), o.Audience} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	ps := tokenParams(o)
	fmt.Fprintf(h, "%s", ps.Encode()) // Encode sorts by key
	return hex.EncodeToString(h.Sum(nil))
}

func tokenParams(o *config.OAuth2Auth) url.Values {
	v := url.Values{}
	for k, p := range o.EndpointParams {
		v.Set(k, p)
	}
	if o.Audience != "" {
		v.Set("audience", o.Audience)
	}
	return v
}

// token returns a valid token for the subscriber and whether it came from the cache. stale, when not empty, is a
// token the receiver refused: it is dropped, and a new one fetched unless another delivery replaced it already.
func (c *tokenCache) token(ctx context.Context, hc *http.Client, key string, o *config.OAuth2Auth, stale string) (string, bool, error) {
	c.mu.Lock()
	t := c.tokens[key]
	if t != nil && stale != "" && t.AccessToken == stale {
		delete(c.tokens, key)
		t = nil
	}
	c.mu.Unlock()
	if t.Valid() {
		return t.AccessToken, stale == "", nil
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		cfg := clientcredentials.Config{
			ClientID: o.ClientID, ClientSecret: o.ClientSecret.Value, TokenURL: o.TokenURL, Scopes: o.Scopes,
			EndpointParams: tokenParams(o),
			// RFC 6749 §2.3.1: every server supports HTTP Basic for the client's credentials; auto-detection
			// would send a refused secret a second time in the body.
			AuthStyle: oauth2.AuthStyleInHeader,
		}
		t, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		for k, old := range c.tokens { // expired tokens of other subscribers (a rotated secret's, a removed one's)
			if !old.Valid() {
				delete(c.tokens, k)
			}
		}
		c.tokens[key] = t
		c.mu.Unlock()
		return t, nil
	})
	if err != nil {
		return "", false, err
	}
	return v.(*oauth2.Token).AccessToken, false, nil
}

// tokenError classifies a failed token request: the address guard's refusal is permanent, as for the webhook URL;
// anything else the token endpoint does (no answer, an error response, a malformed token) is transient
// (docs/rules.md#webhook-delivery-auth). It names the token endpoint's host and the OAuth2 error code, never the
// response body, the URL's path or a credential.
func tokenError(ctx context.Context, who, tokenURL string, err error, w *WebhookClient) *DeliveryError {
	host := "?"
	if u, perr := url.Parse(tokenURL); perr == nil {
		host = u.Hostname()
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("%s: the token endpoint (%s) answered", who, host)
		if re.Response != nil {
			msg += fmt.Sprintf(" HTTP %d", re.Response.StatusCode)
		}
		if re.ErrorCode != "" {
			msg += " " + re.ErrorCode
		}
		return Transient(0, "%s", msg)
	}
	return webhookTransportError(ctx, who+": token endpoint ("+host+")", err, w.timeout)
}

// authorize sets the subscriber's delivery auth on req (docs/api.md, "Webhook delivery auth"): its custom headers,
// Basic credentials and x-signature. OAuth2's bearer token is do's. A credential that is not open (a sealed one
// on a worker without the seal key) is a permanent error naming its field.
func authorize(req *http.Request, sub *config.Webhook, body []byte, who string) *DeliveryError {
	for _, r := range sub.Credentials() {
		if r.C.Value == "" {
			return Permanent(ErrBadInput, "%s: %s is not available to the worker (sealed for another key, or its variable unset)", who, r.Field)
		}
	}
	for _, h := range sub.Headers {
		v := h.Value
		if h.Secret != nil {
			v = h.Secret.Value
		}
		req.Header.Set(h.Name, v)
	}
	if b := sub.BasicAuth; b != nil {
		req.SetBasicAuth(b.Username, b.Password.Value)
	}
	if x := sub.XSignature; x != nil {
		req.Header.Set(XSignatureHeader, XSignature(x.Secret.Value, body))
	}
	return nil
}

// do sends a subscriber's POST with its delivery auth. With oauth2 it adds the bearer token; when the receiver
// answers 401 to a token that came from the cache, the token is dropped, a new one fetched and the POST sent once
// more; that second answer, whatever it is, follows the usual classes (a 401 then is a permanent 4xx).
func (w *WebhookClient) do(ctx context.Context, hc *http.Client, org string, sub *config.Webhook, req *http.Request, body []byte, who string) (*http.Response, *DeliveryError) {
	if derr := authorize(req, sub, body, who); derr != nil {
		return nil, derr
	}
	o := sub.OAuth2
	if o == nil {
		resp, err := hc.Do(req)
		if err != nil {
			return nil, webhookTransportError(ctx, who, err, w.timeout)
		}
		return resp, nil
	}
	key := tokenKey(org, o)
	tok, cached, err := w.tokens.token(ctx, hc, key, o, "")
	if err != nil {
		return nil, tokenError(ctx, who, o.TokenURL, err, w)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, webhookTransportError(ctx, who, err, w.timeout)
	}
	if resp.StatusCode != http.StatusUnauthorized || !cached {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if tok, _, err = w.tokens.token(ctx, hc, key, o, tok); err != nil {
		return nil, tokenError(ctx, who, o.TokenURL, err, w)
	}
	again := req.Clone(ctx)
	again.Body = io.NopCloser(bytes.NewReader(body))
	again.Header.Set("Authorization", "Bearer "+tok)
	if resp, err = hc.Do(again); err != nil {
		return nil, webhookTransportError(ctx, who, err, w.timeout)
	}
	return resp, nil
}
