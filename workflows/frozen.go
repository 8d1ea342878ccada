package workflows

// nonRetryableErrorTypes is the workflow's frozen copy of the application error types that are never retried
// (docs/rules.md#delivery-and-retries). The workflow decides on it whether a failed target gets a retry (a timer
// and an activity), so it must not move when the activities package changes its list:
// TestFrozenNonRetryableErrorTypes fails when the two differ. Add a new type here only behind workflow.GetVersion
// (docs/changing-workflows.md).
var nonRetryableErrorTypes = []string{
	"HTTPClientError",   // activities.ErrHTTPClient
	"HTTPRedirect",      // activities.ErrHTTPRedirect
	"ProviderPermanent", // activities.ErrProviderPermanent
	"SMTPPermanent",     // activities.ErrSMTPPermanent
	"InvalidRecipient",  // activities.ErrInvalidRecipient
	"Unprovisioned",     // activities.ErrUnprovisioned
	"BadInput",          // activities.ErrBadInput
	"OptedOut",          // activities.ErrOptedOut
}

// retryable reports whether a failure of the given application error type is retried by the workflow.
func retryable(errType string) bool {
	for _, t := range nonRetryableErrorTypes {
		if t == errType {
			return false
		}
	}
	return true
}
