// Package e2e runs the product as a user does: it builds the worker and starter binaries, starts the worker as a
// subprocess (with its embedded Temporal server) against a private Mailpit and webhook receiver, and drives it with
// the starter. Its tests take a few minutes; `go test -short` skips them.
package e2e
