package orgs

import (
	"errors"
	"fmt"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// URLCheck checks a subscriber URL against the webhook address guard (activities.CheckWebhookURL).
type URLCheck func(raw string, allowPrivate bool) error

// Check validates a document written through the API and completes its defaults, naming every failing field
// (docs/api.md, "Organisations"): the config loader's rules (config.ValidateOrg), the templates parsed and
// trial-rendered (templates.Set.CheckOrg), each subscriber URL against the address guard (checkURL; nil skips
// it), and each secret given in the clear as Standard Webhooks requires (config.ValidateWebhookSecret, at least
// config.MinWebhookSecretBytes bytes). No message quotes a secret.
func Check(doc *config.Org, set *templates.Set, checkURL URLCheck) []*appt.FieldError {
	var out []*appt.FieldError
	for _, err := range config.ValidateOrg(doc) {
		var fe *appt.FieldError
		if errors.As(err, &fe) {
			out = append(out, fe)
		} else {
			out = append(out, &appt.FieldError{Field: "", Msg: err.Error()})
		}
	}
	if set != nil && doc.TemplatesDir == "" {
		if err := set.CheckOrg(doc); err != nil {
			out = append(out, &appt.FieldError{Field: "templates", Msg: err.Error()})
		}
	}
	for i, w := range doc.Webhooks {
		if checkURL != nil && w.URL != "" {
			if err := checkURL(w.URL, doc.AllowPrivateWebhookAddresses); err != nil {
				out = append(out, &appt.FieldError{Field: fmt.Sprintf("webhooks[%d].url", i), Msg: err.Error()})
			}
		}
		if w.Secret != "" {
			if err := config.ValidateWebhookSecret(fmt.Sprintf("webhooks[%d].secret", i), "the request", w.Secret); err != nil {
				var fe *appt.FieldError
				if errors.As(err, &fe) {
					out = append(out, fe)
				}
			}
		}
	}
	return append(out, checkAuthURLs(doc, checkURL)...)
}
