package startercli_test

import (
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/startercli"
)

// smsConfig writes a config with an organisation that sends SMS ("sms", optionally with templates_dir) and one that
// does not ("mail"), and returns its path.
func smsConfig(t *testing.T, templatesDir string) string {
	t.Helper()
	yaml := `
organizations:
  - {id: sms, platform: genesys, email_from: "Acme Care <care@acme.example>", sms_from: "+15550000000", templates_dir: "` + templatesDir + `"}
  - {id: mail, platform: genesys, email_from: "Acme Care <care@acme.example>"}
`
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

// TestJoinURLMustFitTheSMS: a join link that would push an SMS past Twilio's 1,600 characters is refused with exit
// 2 and join-url named, but only where an SMS would be sent: an organisation with sms_from and a customer with a
// phone. The check renders the organisation's own templates (templates_dir).
func TestJoinURLMustFitTheSMS(t *testing.T) {
	link := "https://video.example/j/" + strings.Repeat("a", 1970) // 1,994 characters, the size of the bug report
	withPhone := "id=c1,name=Ann Lee,email=ann@example.com,phone=+15551234567"
	noPhone := "id=c1,name=Ann Lee,email=ann@example.com"
	agent := "id=a1,name=Dr Who,phone=+15551234568,role=agent"
	schedule := func(cfg, org string, extra ...string) []string {
		return append([]string{"schedule", "--config", cfg, "--id", "A1", "--org", org, "--start", "2026-05-02T10:00:00Z",
			"--join-url", link}, extra...)
	}
	cfg := smsConfig(t, "")

	code, stderr, dialed := runNoDial(schedule(cfg, "sms", "--participant", withPhone)...)
	assert.Equal(t, startercli.ExitBadInput, code, stderr)
	assert.False(t, dialed)
	assert.Contains(t, stderr, "join-url: is 1994 characters")
	assert.Regexp(t, `SMS to participant\[0\] would be \d+ characters, over Twilio's limit of 1600`, stderr)
	assert.Regexp(t, `a link of at most \d+ characters fits`, stderr)
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line")

	for name, args := range map[string][]string{
		"customer without a phone":     schedule(cfg, "sms", "--participant", noPhone),
		"only the agent has a phone":   schedule(cfg, "sms", "--participant", noPhone, "--participant", agent),
		"organisation without SMS":     schedule(cfg, "mail", "--participant", withPhone),
		"short link, SMS organisation": {"schedule", "--config", cfg, "--id", "A1", "--org", "sms", "--start", "2026-05-02T10:00:00Z", "--join-url", "https://video.example/j/1", "--participant", withPhone},
	} {
		code, stderr, dialed := runNoDial(args...)
		assert.True(t, dialed, "%s: accepted: %s", name, stderr)
		assert.Equal(t, startercli.ExitOther, code, name)
	}

	// The organisation's own template decides: a long one refuses a link the default would take, and a long
	// name can be what overflows.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "room.sms.txt"),
		[]byte("{{.Name}} {{.Name}} {{.Name}} {{.Name}} {{.Name}} {{.Name}} {{.Name}} {{.Name}} {{.Name}}: {{.JoinURL}}"), 0o600))
	cfg = smsConfig(t, dir)
	name := strings.Repeat("山", 190)
	code, stderr, dialed = runNoDial("schedule", "--config", cfg, "--id", "A1", "--org", "sms", "--start", "2026-05-02T10:00:00Z",
		"--participant", "id=c1,phone=+15551234567,name="+name)
	assert.Equal(t, startercli.ExitBadInput, code, stderr)
	assert.False(t, dialed)
	assert.Contains(t, stderr, "participant[0].name: is 190 characters: the ROOM SMS to participant[0] would be")
	code, stderr, _ = runNoDial("schedule", "--config", cfg, "--id", "A1", "--org", "sms", "--start", "2026-05-02T10:00:00Z",
		"--participant", "id=c1,phone=+15551234567,name="+strings.Repeat("N", 50), "--join-url", "https://video.example/j/"+strings.Repeat("b", 1276))
	assert.Equal(t, startercli.ExitBadInput, code, stderr)
	assert.Contains(t, stderr, "join-url:")
	assert.Contains(t, stderr, "ROOM SMS")
}

// TestFieldsRefusedAtTheStarter: the bug report's inputs, and the other shapes no channel can carry, exit 2 with
// the field named and nothing dialed; the ones every channel can carry are accepted.
func TestFieldsRefusedAtTheStarter(t *testing.T) {
	base := []string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z"}
	cases := []struct {
		name, participant, field string
	}{
		{"unpaired quote", `id=c1,name=Liam O"Neil,email=liam@example.com`, ""},
		{"paired quotes", `id=c1,name=Robert "Bob" Smith,email=bob@example.com`, ""},
		{"escaped comma and backslash", `id=c1,name=Lee\, Ann \\ Jr.,email=ann@example.com`, ""},
		{"cjk, rtl, emoji, combining", "id=c1,name=山田 مريم 👩🏽‍⚕️ Zoe\u0308,email=山田@例え.jp", ""},
		{"CR LF header injection", "id=c1,name=Eve Stone\r\nBcc: someone@example.net,email=eve@example.com", "participant[0].name"},
		{"tab", "id=c1,name=Eve\tStone", "participant[0].name"},
		{"name one past 200", "id=c1,name=" + strings.Repeat("é", 201), "participant[0].name"},
		{"encoded-word", "id=c1,name==?utf-8?q?Bank?=", "participant[0].name"},
		{"email with a domain literal", "id=c1,email=eve@[192.0.2.1]", "participant[0].email"},
		{"email local part one past 64", "id=c1,email=" + strings.Repeat("l", 65) + "@example.com", "participant[0].email"},
		{"locale one past 35", "id=c1,locale=de-DE-u-co-phonebk-ca-gregory-x-abcd", "participant[0].locale"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stderr, dialed := runNoDial(append(base, "--participant", c.participant)...)
			if c.field == "" {
				assert.True(t, dialed, stderr)
				return
			}
			assert.Equal(t, startercli.ExitBadInput, code, stderr)
			assert.False(t, dialed)
			assert.Contains(t, stderr, c.field+":")
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
		})
	}
	for name, args := range map[string][]string{
		"metadata line feed":  append(base, "--participant", "id=c1", "--metadata", "note=a\nb"),
		"metadata C1 control": append(base, "--participant", "id=c1", "--metadata", "note=a\u0085b"),
		"update with CR":      {"update", "--id", "A1", "--metadata", "note=a\rb"},
		"cancel reason ESC":   {"cancel", "--id", "A1", "--reason", "\x1b[2J"},
		"raw unicode link":    append(base, "--participant", "id=c1", "--join-url", "https://video.example/j/山田"),
	} {
		code, stderr, dialed := runNoDial(args...)
		assert.Equal(t, startercli.ExitBadInput, code, "%s: %s", name, stderr)
		assert.False(t, dialed, name)
	}
}

// shapes are the pieces FuzzFieldShapes builds values from: Latin with specials, CJK, emoji, right-to-left,
// combining marks, and control characters.
var shapes = []string{
	`O"Neil, \ (Jr.) <x@y> ; : '`, "山田太郎", "👩🏽‍⚕️🎉", "مريم\u200f", "e\u0301o\u0308", "\r\n", "\t", "\x00", "\u0085",
	"\u2028", "=?utf-8?q?x?=", "\xff",
}

// FuzzFieldShapes: a name or metadata value built from the shapes, any number of times, is either refused with exit
// 2 and the field named, or accepted; and an accepted value can be carried as typed: it is valid UTF-8 without
// control characters and within its limit, and it round-trips through the email display name (the To header as the
// email sender writes it, read back by net/mail) and through the webhook's JSON.
func FuzzFieldShapes(f *testing.F) {
	for i := range shapes {
		f.Add("Ann ", uint8(i), uint16(1), " Lee")
	}
	f.Add("", uint8(1), uint16(200), "")
	f.Add("", uint8(1), uint16(201), "")
	f.Add("x", uint8(2), uint16(60), "")
	f.Fuzz(func(t *testing.T, prefix string, shape uint8, reps uint16, suffix string) {
		v := prefix + strings.Repeat(shapes[int(shape)%len(shapes)], int(reps%400)) + suffix
		escaped := strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(v)
		for _, tc := range []struct {
			field string
			args  []string
		}{
			{"participant[0]", []string{"--participant", "id=c1,email=ann@example.com,name=" + escaped}},
			{"metadata", []string{"--participant", "id=c1", "--metadata", "note=" + v}},
		} {
			args := append([]string{"schedule", "--id", "A1", "--org", "demo", "--start", "2026-05-02T10:00:00Z"}, tc.args...)
			code, stderr, dialed := runNoDial(args...)
			if !dialed {
				if code != startercli.ExitBadInput || !strings.Contains(stderr, tc.field) ||
					strings.Count(strings.TrimSpace(stderr), "\n") > 0 || strings.Contains(stderr, "\r") {
					t.Fatalf("%q refused without naming %s on one line: %d %q", v, tc.field, code, stderr)
				}
				continue
			}
			if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) {
				t.Fatalf("%s %q accepted with a character no channel carries", tc.field, v)
			}
			if tc.field == "metadata" {
				if len(v) > appt.MaxMetadataValueLen {
					t.Fatalf("metadata value of %d bytes accepted", len(v))
				}
			} else {
				if utf8.RuneCountInString(v) > appt.MaxNameLen {
					t.Fatalf("name of %d characters accepted", utf8.RuneCountInString(v))
				}
				header := activities.DisplayAddress(v, "ann@example.com")                // what SendEmail writes into To
				back, err := mail.ParseAddress(strings.ReplaceAll(header, "\r\n ", " ")) // unfolded, as a reader does
				if err != nil || back.Name != v {
					t.Fatalf("name %q does not survive the To header %q: %+v %v", v, header, back, err)
				}
			}
			b, _ := json.Marshal(v)
			var back string
			if err := json.Unmarshal(b, &back); err != nil || back != v {
				t.Fatalf("%q does not survive JSON: %q", v, back)
			}
		}
	})
}
