package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/httpapi"
)

// TestDocumentAcceptsDeliveryAuth states that the API's request validation (api/openapi.yaml) lets a subscriber's
// delivery auth through in the shape docs/api.md gives (basic_auth, oauth2, headers plain and secret, x_signature,
// credentials as {"value"} on a write and as a read shows them), and refuses a key a credential does not have.
func TestDocumentAcceptsDeliveryAuth(t *testing.T) {
	doc, err := httpapi.LoadDocument()
	require.NoError(t, err)
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	validate := func(body string) error {
		req := httptest.NewRequest(http.MethodPut, "/v1/organizations/acme", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := router.FindRoute(req)
		require.NoError(t, err)
		return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		})
	}
	ok := `{"platform":"talkdesk","webhooks":[
	  {"url":"https://a.example/h","secret":"whsec_x","basic_auth":{"username":"u","password":{"value":"pw"}},
	   "headers":[{"name":"X-Tenant","value":"acme"},{"name":"X-Key","secret":{"value":"k"}}],
	   "x_signature":{"secret":{"set":true,"changed_at":"2026-12-04T08:00:00Z"}}},
	  {"url":"https://b.example/h","oauth2":{"token_url":"https://idp.example/token","client_id":"c",
	   "client_secret":{"value":"s"},"scopes":["a","b"],"audience":"https://api.example","endpoint_params":{"tenant":"t1"}}}]}`
	require.NoError(t, validate(ok))
	require.Error(t, validate(strings.Replace(ok, `{"value":"pw"}`, `{"value":"pw","plain":"pw"}`, 1)))
	require.Error(t, validate(strings.Replace(ok, `"client_id":"c",`, ``, 1)), "client_id is required")
}
