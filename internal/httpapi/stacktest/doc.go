// Package stacktest holds the HTTP API's tests against the real stack: an embedded Temporal server, a worker with
// the real activities, Mailpit, a signed-webhook receiver and `starter serve` itself. They live apart from
// internal/httpapi so that fuzzing that package does not instrument the Temporal server.
package stacktest
