package startercli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/startercli"
)

// TestPreviewBadInputNeverDials: `starter preview`, `test-send` and `test-recipients` refuse bad input before they
// dial, exit 2 and name the flag: the type, neither --id nor a sample, a sample participant's field, an unsaved
// template that does not parse (named by its name), a test send without a channel or recipient, a test address.
func TestPreviewBadInputNeverDials(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.txt")
	require.NoError(t, os.WriteFile(broken, []byte("{{.Start"), 0o600))
	sample := []string{"--start", "2026-05-02T10:00:00Z", "--participant", good}
	cases := []struct {
		name  string
		args  []string
		field string
	}{
		{"no type", append([]string{"preview", "--org", "demo"}, sample...), "type:"},
		{"bad type", append([]string{"preview", "--org", "demo", "--type", "nudge"}, sample...), "type:"},
		{"neither id nor sample", []string{"preview", "--org", "demo", "--type", "REMINDER"}, "sample:"},
		{"bad participant", []string{"preview", "--org", "demo", "--type", "REMINDER", "--start", "2026-05-02T10:00:00Z",
			"--participant", "id=c1,email=not-an-address"}, "participant[0].email:"},
		{"broken template", append([]string{"preview", "--org", "demo", "--type", "REMINDER", "--template", "de/reminder.txt=" + broken}, sample...),
			"template de/reminder.txt:"},
		{"unknown org", append([]string{"preview", "--org", "nope", "--type", "REMINDER"}, sample...), "org:"},
		{"test send without channel", append([]string{"test-send", "--org", "demo", "--type", "REMINDER"}, sample...), "channel:"},
		{"test email without recipient", append([]string{"test-send", "--org", "demo", "--type", "REMINDER", "--channel", "email"}, sample...), "recipient:"},
		{"bad test address", []string{"test-recipients", "add", "--org", "demo", "--channel", "email", "--address", "nope"}, "address:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stderr, dialed := runNoDial(c.args...)
			require.Equal(t, startercli.ExitBadInput, code, stderr)
			require.Contains(t, stderr, c.field)
			require.False(t, dialed, "bad input must not reach Temporal")
		})
	}
}
