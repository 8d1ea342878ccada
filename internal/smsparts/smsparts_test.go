package smsparts_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/smsparts"
)

// TestMeasureEncoding: a body of the GSM 7-bit default alphabet and its extension table goes as GSM-7 (extension
// characters cost two septets); any other character makes the whole body UCS-2, where a character beyond the BMP
// costs two units (3GPP TS 23.038 §6.2.1, §6.2.3).
func TestMeasureEncoding(t *testing.T) {
	for _, tc := range []struct {
		body  string
		enc   smsparts.Encoding
		units int
	}{
		{"", smsparts.GSM7, 0},
		{"Hello @ 9:00 £5 ¥ è é ù ì ò Ç Ø ø Å å Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ Æ æ ß É ¤ ¡ Ä Ö Ñ Ü § ¿ ä ö ñ ü à\r\n", smsparts.GSM7, 95},
		{"Termin: Dienstag, 5. März 2030 um 15:00 Uhr MEZ", smsparts.GSM7, 47}, // ä is in the alphabet
		{"{}[]~^|\\€\f", smsparts.GSM7, 20},
		{"Café à 9h", smsparts.GSM7, 9},     // é and à are in the alphabet
		{"façade", smsparts.UCS2, 6},        // ç is not (only Ç)
		{"Ça coûte", smsparts.UCS2, 8},      // û is not in the alphabet
		{"Zoë", smsparts.UCS2, 3},           // ë is not either
		{"ok 👍", smsparts.UCS2, 5},          // a surrogate pair
		{"`backtick`", smsparts.UCS2, 10},   // ` is not in the alphabet
		{"\x1b", smsparts.UCS2, 1},          // the escape code is no character
		{"ÄÖÜäöüß É", smsparts.GSM7, 9},     // German letters: all in the alphabet
		{"straße \u00a0", smsparts.UCS2, 8}, // a no-break space is not
	} {
		c := smsparts.Measure(tc.body)
		require.Equal(t, tc.enc, c.Encoding, "%q", tc.body)
		require.Equal(t, tc.units, c.Units, "%q", tc.body)
	}
	require.Equal(t, 2, smsparts.Septets('€'))
	require.Equal(t, 1, smsparts.Septets('ß'))
	require.Equal(t, 0, smsparts.Septets('ë'))
}

// TestMeasureSegments: one segment holds 160 septets or 70 units; a concatenated SMS 153 or 67 per segment, and
// neither an escape sequence nor a surrogate pair is split between segments (3GPP TS 23.040 §9.2.3.24.1).
func TestMeasureSegments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		segments int
	}{
		{"empty", "", 0},
		{"160 septets", strings.Repeat("a", 160), 1},
		{"161 septets", strings.Repeat("a", 161), 2},
		{"306 septets", strings.Repeat("a", 306), 2},
		{"307 septets", strings.Repeat("a", 307), 3},
		{"80 euros are 160 septets", strings.Repeat("€", 80), 1},
		{"an escape that would straddle the boundary", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), 3},
		{"an escape that fits the boundary", strings.Repeat("a", 151) + "€" + strings.Repeat("a", 153), 2},
		{"70 units", strings.Repeat("ë", 70), 1},
		{"71 units", strings.Repeat("ë", 71), 2},
		{"134 units", strings.Repeat("ë", 134), 2},
		{"135 units", strings.Repeat("ë", 135), 3},
		{"35 emoji are 70 units", strings.Repeat("👍", 35), 1},
		{"a surrogate pair that would straddle the boundary", strings.Repeat("ë", 66) + "👍" + strings.Repeat("ë", 66), 3},
		{"a surrogate pair that fits the boundary", strings.Repeat("ë", 65) + "👍" + strings.Repeat("ë", 67), 2},
	} {
		require.Equal(t, tc.segments, smsparts.Measure(tc.body).Segments, tc.name)
	}
}
