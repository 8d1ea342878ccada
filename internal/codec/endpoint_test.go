package codec_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/apptnotify/apptnotify/internal/codec"
)

const uiOrigin = "http://127.0.0.1:8233"

func post(t *testing.T, url, path, token string, payloads []*commonpb.Payload) (*http.Response, []*commonpb.Payload) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	req.Header.Set("Origin", uiOrigin)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var out commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(b, &out))
	return resp, out.Payloads
}

func TestEndpointRoundTripAndAuth(t *testing.T) {
	c := codec.New(ring(t, "k1="+key(1)), nil)
	srv := httptest.NewServer(codec.Handler(c, codec.EndpointOptions{Token: "s3cret-token", AllowedOrigin: uiOrigin}))
	defer srv.Close()

	in := []*commonpb.Payload{payload("Ann Lee")}
	resp, _ := post(t, srv.URL, "/encode", "", in)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no token")
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
	resp, _ = post(t, srv.URL, "/decode", "wrong", in)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a wrong token")

	resp, enc := post(t, srv.URL, "/encode", "s3cret-token", in)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "binary/encrypted", string(enc[0].Metadata["encoding"]))
	resp, dec := post(t, srv.URL, "/decode", "s3cret-token", enc)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, string(in[0].Data), string(dec[0].Data))

	// The browser's preflight carries no credentials: it is answered before the token check.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	req.Header.Set("Origin", uiOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
	pre, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	assert.Less(t, pre.StatusCode, 300, "preflight answered without a token")
	assert.Equal(t, uiOrigin, pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers")), "authorization")

	// Another origin is not allowed.
	req.Header.Set("Origin", "http://evil.example")
	pre, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	assert.Empty(t, pre.Header.Get("Access-Control-Allow-Origin"))
}

func TestEndpointOpenInLocalMode(t *testing.T) {
	c := codec.New(ring(t, "k1="+key(1)), nil)
	srv := httptest.NewServer(codec.Handler(c, codec.EndpointOptions{AllowedOrigin: uiOrigin}))
	defer srv.Close()
	resp, enc := post(t, srv.URL, "/encode", "", []*commonpb.Payload{payload("x")})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, enc, 1)
}

// A local OpenID provider: discovery document and JWKS, tokens signed with RS256.
func oidcIssuer(t *testing.T) (issuer string, sign func(claims map[string]any) string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	jwk := jose.JSONWebKey{Key: &k.PublicKey, KeyID: "test", Algorithm: "RS256", Use: "sig"}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks",
			"authorization_endpoint": srv.URL + "/auth", "token_endpoint": srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: "test"}}, nil)
	require.NoError(t, err)
	return srv.URL, func(claims map[string]any) string {
		b, err := json.Marshal(claims)
		require.NoError(t, err)
		jws, err := signer.Sign(b)
		require.NoError(t, err)
		s, err := jws.CompactSerialize()
		require.NoError(t, err)
		return s
	}
}

func TestEndpointAcceptsTheOperatorsOIDCToken(t *testing.T) {
	issuer, sign := oidcIssuer(t)
	v, err := codec.NewOIDCVerifier(context.Background(), issuer, "temporal-ui")
	require.NoError(t, err)
	c := codec.New(ring(t, "k1="+key(1)), nil)
	srv := httptest.NewServer(codec.Handler(c, codec.EndpointOptions{Token: "script-token", Verifier: v, AllowedOrigin: uiOrigin}))
	defer srv.Close()

	now := time.Now()
	good := sign(map[string]any{"iss": issuer, "aud": "temporal-ui", "sub": "operator-1", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()})
	resp, _ := post(t, srv.URL, "/encode", good, []*commonpb.Payload{payload("x")})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a valid OIDC token")
	resp, _ = post(t, srv.URL, "/encode", "script-token", []*commonpb.Payload{payload("x")})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the static token still works")

	for name, claims := range map[string]map[string]any{
		"expired":        {"iss": issuer, "aud": "temporal-ui", "exp": now.Add(-time.Hour).Unix()},
		"other audience": {"iss": issuer, "aud": "someone-else", "exp": now.Add(time.Hour).Unix()},
		"other issuer":   {"iss": "https://other.example", "aud": "temporal-ui", "exp": now.Add(time.Hour).Unix()},
	} {
		resp, _ := post(t, srv.URL, "/encode", sign(claims), []*commonpb.Payload{payload("x")})
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
	}
	// A token signed by another key.
	_, otherSign := oidcIssuer(t)
	resp, _ = post(t, srv.URL, "/encode", otherSign(map[string]any{"iss": issuer, "aud": "temporal-ui", "exp": now.Add(time.Hour).Unix()}), []*commonpb.Payload{payload("x")})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "foreign signature")
}

func TestLogReporterRateLimitsPerWorkflow(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	r := &codec.LogReporter{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Now: func() time.Time { return now }}
	r.UnknownKey("appointment:A1", "old")
	r.UnknownKey("appointment:A1", "old")
	r.UnknownKey("appointment:A2", "old")
	now = now.Add(59 * time.Second)
	r.UnknownKey("appointment:A1", "old")
	now = now.Add(2 * time.Second)
	r.UnknownKey("appointment:A1", "old")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3, buf.String())
	assert.Contains(t, lines[0], "level=ERROR")
	assert.Contains(t, lines[0], "workflowId=appointment:A1")
	assert.Contains(t, lines[0], "keyId=old")
	assert.Contains(t, lines[1], "workflowId=appointment:A2")
	assert.Contains(t, lines[2], "workflowId=appointment:A1")
}
