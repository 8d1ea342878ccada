package api

import _ "embed" // the OpenAPI document is compiled in

// OpenAPIDocument is the OpenAPI 3.1 document of the HTTP API (`starter serve`), api/openapi.yaml. The server
// validates every request against it and serves it at GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte
