package config_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/config"
)

// goWords are the YAML library's Go terms that a config error must never show: type names, "field … not found",
// "cannot unmarshal", "!!str".
var goWords = regexp.MustCompile(`config\.[A-Z]|appt\.|not found in type|cannot unmarshal|!!|\[\]config|time\.Duration|\bint\b`)

// TestConfigErrorsSpeakTheConfigsLanguage: every kind of error the YAML layer can give is reported by the key's
// path in the file, with the expected value described in words, and an unknown key suggests the key that was
// probably meant.
func TestConfigErrorsSpeakTheConfigsLanguage(t *testing.T) {
	org := "organizations:\n  - id: acme\n    platform: genesys\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown org key, plural meant", org + "    reminder_offset: [1h]\n",
			"config: organizations[0].reminder_offset: unknown key (did you mean reminder_offsets?)"},
		{"unknown org key, typo", "organizations:\n  - {id: a, platform: genesys}\n  - id: b\n    platfrom: talkdesk\n",
			"config: organizations[1].platfrom: unknown key (did you mean platform?)"},
		{"unknown key, nothing close", org + "    colour: blue\n",
			"config: organizations[0].colour: unknown key"},
		{"unknown top-level key", "organisations: []\n" + org,
			"config: organisations: unknown key (did you mean organizations?)"},
		{"unknown smtp key, flow style", "smtp: {host: 127.0.0.1, prot: 25}\n" + org,
			"config: smtp.prot: unknown key (did you mean port?)"},
		{"unknown webhook key", org + "    webhooks:\n      - url: https://h.example\n        secret: whsec_x\n",
			"config: organizations[0].webhooks[0].secret: unknown key (did you mean secret_env?)"},
		{"text for a number", org + "    max_attempts: three\n",
			"config: organizations[0].max_attempts: `three` is not a whole number"},
		{"text for true/false", org + "    auto_activate: maybe\n",
			"config: organizations[0].auto_activate: `maybe` is not true or false"},
		{"scalar for a list", org + "    reminder_offsets: 1h\n",
			"config: organizations[0].reminder_offsets: `1h` is not a list"},
		{"list for text", org + "    email_from: [a, b]\n",
			"config: organizations[0].email_from: a list is not text"},
		{"scalar for a mapping", "smtp: localhost\n" + org,
			"config: smtp: `localhost` is not a mapping of keys"},
		{"scalar for the organisation list", "organizations: acme\n",
			"config: organizations: `acme` is not a list"},
		{"bad duration", org + "    room_offset: 15 minutes\n",
			`config: organizations[0].room_offset: "15 minutes" is not a duration such as 90s, 15m or 24h`},
		{"bad duration in a list", org + "    reminder_offsets: [1h, 1 day]\n",
			`config: organizations[0].reminder_offsets: "1 day" is not a duration such as 90s, 15m or 24h`},
		{"duplicate key", org + "    platform: talkdesk\n",
			"config: organizations[0].platform: is given twice (first at line 3)"},
		{"syntax error", "organizations:\n  - id: [acme\n",
			"config: line 1: did not find expected ',' or ']'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.ParseWorker([]byte(c.yaml), env)
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
			assert.NotRegexp(t, goWords, err.Error(), "Go's words in a config error")
		})
	}
}
