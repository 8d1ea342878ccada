package config_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/config"
)

// The example configs in examples/ load, so the README's walkthrough and reference stay true.
func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		_, err := config.LoadWorker(f, func(k string) string {
			return map[string]string{"ACME_WEBHOOK_SECRET": secret, "TALK_WEBHOOK_SECRET": secret,
				"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}[k]
		})
		require.NoError(t, err, f)
	}
}
