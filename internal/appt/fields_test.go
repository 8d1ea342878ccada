package appt_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// verdict is one value of one field and what the edge must say about it: "" accepts it, anything else is the field
// the refusal must name.
type verdict struct {
	shape, value, refuse string
}

// checkVerdicts runs a field's table through its validator.
func checkVerdicts(t *testing.T, cases []verdict, validate func(string) error) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.shape, func(t *testing.T) {
			err := validate(c.value)
			if c.refuse == "" {
				require.NoError(t, err, "%q", c.value)
				return
			}
			var fe *appt.FieldError
			require.ErrorAs(t, err, &fe, "%q must be refused", c.value)
			assert.Equal(t, c.refuse, fe.Field, err.Error())
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.NotContains(t, err.Error(), "\r")
		})
	}
}

// The shapes every free-text field meets (docs/validation.md): Latin with specials, CJK, emoji, right-to-left,
// combining marks, control characters, the longest allowed value and one past it.
func TestNameVerdicts(t *testing.T) {
	const f = "participant[0].name"
	checkVerdicts(t, []verdict{
		{"latin specials", `Liam O"Neil, Jr. \ (Bob) <ceo> ; : @ 'x'`, ""},
		{"paired quotes", `Robert "Bob" Smith`, ""},
		{"cjk", "山田 太郎", ""},
		{"emoji with ZWJ and skin tone", "Ann 👩🏽‍⚕️ Lee 🎉", ""},
		{"right-to-left with RLM", "مريم الحسن\u200f", ""},
		{"combining marks", "Zoe\u0308 Ame\u0301lie Nguye\u0302\u0303n", ""},
		{"empty", "", ""},
		{"longest allowed: 200 code points, 797 bytes", strings.Repeat("山", 199) + "😀", ""},
		{"one past: 201 code points", strings.Repeat("山", 200) + "😀", f},
		{"combining marks count as code points", strings.Repeat("e\u0301", 101), f},
		{"RFC 2047 encoded-word", "=?utf-8?q?Mallory?=", f},
		{"encoded-word characters apart", "Ann =? Lee ?=", ""},
		{"CR LF header injection", "Eve Stone\r\nBcc: someone@example.net", f},
		{"line feed", "Eve\nStone", f},
		{"tab", "Ann\tLee", f},
		{"NUL", "Ann\x00Lee", f},
		{"DEL", "Ann\x7fLee", f},
		{"C1 next line", "Ann\u0085Lee", f},
		{"line separator", "Ann\u2028Lee", f},
		{"paragraph separator", "Ann\u2029Lee", f},
		{"invalid UTF-8", "Ann \xff Lee", f},
	}, func(v string) error {
		return appt.ValidateParticipants([]appt.Participant{{ID: "c1", Name: v}})
	})
}

func TestMetadataValueVerdicts(t *testing.T) {
	const f = "metadata.note"
	checkVerdicts(t, []verdict{
		{"latin specials", `O"Neil, \ <b>&amp; 'x' {"json": true}`, ""},
		{"cjk", "予約メモ：二階の受付", ""},
		{"emoji", "🦷 check-up 👍🏿", ""},
		{"right-to-left", "موعد الأسنان", ""},
		{"combining marks", "Cafe\u0301 Zoe\u0308", ""},
		{"longest allowed: 1024 bytes", strings.Repeat("山", 341) + "x", ""},
		{"one past: 1025 bytes", strings.Repeat("山", 341) + "xy", f},
		{"line feed", "line 1\nline 2", f},
		{"CR", "a\rb", f},
		{"NUL", "a\x00b", f},
		{"C1", "a\u009bb", f},
		{"invalid UTF-8", "\xc3\x28", f},
	}, func(v string) error {
		return appt.ValidateMetadata(map[string]string{"note": v})
	})
	checkVerdicts(t, []verdict{
		{"cjk key", "予約", "metadata"},
		{"longest key", strings.Repeat("k", 64), ""},
		{"one past", strings.Repeat("k", 65), "metadata"},
		{"key with space", "a b", "metadata"},
	}, func(k string) error {
		return appt.ValidateMetadata(map[string]string{k: "v"})
	})
}

func TestReasonVerdicts(t *testing.T) {
	checkVerdicts(t, []verdict{
		{"latin specials", `customer said "no", \ moved`, ""},
		{"cjk", "お客様の都合", ""},
		{"emoji", "🤒 sick", ""},
		{"right-to-left", "ألغى العميل", ""},
		{"combining marks", "Zoe\u0308 cancelled", ""},
		{"longest allowed: 1024 code points", strings.Repeat("😀", 1024), ""},
		{"one past", strings.Repeat("😀", 1025), "reason"},
		{"newline", "a\nb", "reason"},
		{"escape", "a\x1b[31mred", "reason"},
	}, appt.ValidateReason)
}

func TestJoinURLVerdicts(t *testing.T) {
	const f = "join-url"
	long := "https://video.example/j/"
	checkVerdicts(t, []verdict{
		{"ascii specials, percent-encoded", "https://video.example/j/A1?k=a%20b&n=O%27Neil&x=%E5%B1%B1#top", ""},
		{"raw cjk", "https://video.example/j/山田", f},
		{"raw emoji", "https://video.example/j/😀", f},
		{"raw right-to-left", "https://video.example/j/مريم", f},
		{"raw combining mark", "https://video.example/j/e\u0301", f},
		{"IDN host", "https://vidéo.example/j/1", f},
		{"CR LF", "https://video.example/j/a\r\nb", f},
		{"space", "https://video.example/j/a b", f},
		{"longest allowed: 2048", long + strings.Repeat("a", 2048-len(long)), ""},
		{"one past: 2049", long + strings.Repeat("a", 2049-len(long)), f},
		{"not http", "ftp://video.example/j/1", f},
	}, appt.ValidateJoinURL)
}

func TestEmailVerdicts(t *testing.T) {
	const f = "participant[0].email"
	local := strings.Repeat("l", 64)
	label := strings.Repeat("d", 61)
	domain := label + "." + label + "." + label + ".com" // 189 bytes
	checkVerdicts(t, []verdict{
		{"ascii specials", "o'neil+tag.x_y@sub-domain.example.com", ""},
		{"cjk local part and domain", "山田@例え.jp", ""},
		{"emoji local part", "ann😀@example.com", ""},
		{"emoji domain (UTS #46 maps it for lookup)", "ann@😀.example", ""},
		{"right-to-left", "مريم@مثال.example", ""},
		{"combining mark in the domain", "zoe@bu\u0308cher.example", ""},
		{"control character", "ann\x01@example.com", f},
		{"CR LF", "ann@example.com\r\nBcc: x@example.net", f},
		{"display name", "Ann <ann@example.com>", f},
		{"quoted local part", `"ann lee"@example.com`, f},
		{"domain literal", "ann@[192.0.2.1]", f},
		{"underscore in the domain", "ann@mail_host.example", f},
		{"longest allowed: 254 bytes", local + "@" + domain, ""},
		{"one past: 255 bytes", local + "@d" + domain, f},
		{"local part one past 64 bytes", local + "l@example.com", f},
		{"label one past 63 bytes", "a@" + strings.Repeat("d", 64) + ".example", f},
	}, func(v string) error {
		return appt.ValidateParticipants([]appt.Participant{{ID: "c1", Email: v}})
	})
}

func TestPhoneTZLocaleIDVerdicts(t *testing.T) {
	phone := func(v string) error { return appt.ValidateParticipants([]appt.Participant{{ID: "c1", Phone: v}}) }
	checkVerdicts(t, []verdict{
		{"E.164", "+15551234567", ""},
		{"longest: 15 digits", "+491512345678901", ""},
		{"full-width digits", "+１５５５１２３４５６７", "participant[0].phone"},
		{"arabic-indic digits", "+١٥٥٥١٢٣٤٥٦٧", "participant[0].phone"},
		{"spaces", "+1 555 123 4567", "participant[0].phone"},
		{"control", "+1555123456\n7", "participant[0].phone"},
		{"one past: 16 digits", "+4915123456789012", "participant[0].phone"},
	}, phone)
	tz := func(v string) error { return appt.ValidateParticipants([]appt.Participant{{ID: "c1", TZ: v}}) }
	checkVerdicts(t, []verdict{
		{"long IANA name", "America/Argentina/ComodRivadavia", ""},
		{"Local", "Local", "participant[0].tz"},
		{"cjk", "アジア/東京", "participant[0].tz"},
		{"control", "Europe/Berlin\n", "participant[0].tz"},
		{"path", "../../etc/passwd", "participant[0].tz"},
	}, tz)
	locale := func(v string) error { return appt.ValidateParticipants([]appt.Participant{{ID: "c1", Locale: v}}) }
	checkVerdicts(t, []verdict{
		{"script and region", "zh-Hant-TW", ""},
		{"right-to-left language", "ar-EG", ""},
		{"longest allowed: 35", "de-DE-u-co-phonebk-ca-gregory-x-abc", ""},
		{"one past: 36", "de-DE-u-co-phonebk-ca-gregory-x-abcd", "participant[0].locale"},
		{"cjk", "中文", "participant[0].locale"},
		{"control", "de\n", "participant[0].locale"},
	}, locale)
	checkVerdicts(t, []verdict{
		{"specials allowed", "A-1_b.c:d", ""},
		{"longest allowed: 128", strings.Repeat("a", 128), ""},
		{"one past: 129", strings.Repeat("a", 129), "id"},
		{"cjk", "予約1", "id"},
		{"emoji", "a😀", "id"},
		{"slash", "a/b", "id"},
		{"control", "a\x00", "id"},
	}, appt.ValidateAppointmentID)
	checkVerdicts(t, []verdict{
		{"longest allowed: 64", strings.Repeat("p", 64), ""},
		{"one past: 65", strings.Repeat("p", 65), "participant[0].id"},
		{"right-to-left", "مريم", "participant[0].id"},
		{"combining", "e\u0301", "participant[0].id"},
	}, func(v string) error { return appt.ValidateParticipants([]appt.Participant{{ID: v}}) })
}
