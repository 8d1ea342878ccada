// Package suppresstemporal holds the tests of internal/suppress that need a real Temporal server (the sharded list
// at 100,000 entries). They live apart so that internal/suppress itself builds without the server, which keeps it
// in CI's race step.
package suppresstemporal
