// Package smsparts says how an SMS body travels: in which encoding (the GSM 7-bit default alphabet, or UCS-2) and
// in how many segments, as 3GPP TS 23.038 (GSM 03.38) and TS 23.040 define them and as Twilio bills them.
//
// A body whose every character is in the GSM 7-bit default alphabet or its extension table goes as GSM-7: one
// septet per character, two for the extension table's (an escape and the character). Any other character makes
// the whole body UCS-2: one 16-bit unit per character, two for a character beyond the Basic Multilingual Plane
// (an emoji, say: a UTF-16 surrogate pair). One segment holds 160 septets or 70 units. A longer body is sent as a
// concatenated SMS, whose segments each give up 6 octets to the user data header (TS 23.040 §9.2.3.24.1) and so
// hold 153 septets or 67 units; an escape sequence or a surrogate pair is never split between two segments.
package smsparts

import "unicode/utf8"

// Encoding is how an SMS body is encoded on the air.
type Encoding string

// The two encodings of SMS text.
const (
	GSM7 Encoding = "GSM-7" // the GSM 7-bit default alphabet and its extension table (TS 23.038 §6.2.1)
	UCS2 Encoding = "UCS-2" // 16-bit units (TS 23.038 §6.2.3); UTF-16 in practice, as handsets and Twilio send it
)

// Segment sizes, in septets (GSM-7) or 16-bit units (UCS-2).
const (
	GSM7Single = 160 // a single-segment SMS
	GSM7Concat = 153 // each segment of a concatenated SMS
	UCS2Single = 70
	UCS2Concat = 67
)

// Count is how a body travels.
type Count struct {
	Encoding Encoding `json:"encoding"`
	// Units is the body's length in its encoding: septets for GSM-7 (2 for each extension-table character), 16-bit
	// units for UCS-2 (2 for each character beyond the Basic Multilingual Plane).
	Units int `json:"units"`
	// Segments is how many SMS the body is sent as (Twilio bills each); 0 for an empty body.
	Segments int `json:"segments"`
}

// basic is the GSM 7-bit default alphabet (TS 23.038 §6.2.1, table 1), in the order of its codes 0x00-0x7F; the
// escape code 0x1B is written as a space that the set below leaves out.
const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// extension is the default alphabet's extension table (TS 23.038 §6.2.1.1): each costs an escape and its code.
const extension = "\f^{}\\[~]|€"

var septets = func() map[rune]int {
	m := map[rune]int{}
	for _, r := range basic {
		if r != '\x1b' {
			m[r] = 1
		}
	}
	for _, r := range extension {
		m[r] = 2
	}
	return m
}()

// Septets returns the septets a character takes in GSM-7 (1, or 2 for the extension table), and 0 when GSM-7
// cannot carry it.
func Septets(r rune) int { return septets[r] }

// Measure returns the encoding, length and segment count of an SMS body. A body that is not valid UTF-8 is measured
// as UCS-2, with each invalid byte as one unit (it would arrive as U+FFFD).
func Measure(body string) Count {
	gsm := utf8.ValidString(body)
	if gsm {
		for _, r := range body {
			if septets[r] == 0 {
				gsm = false
				break
			}
		}
	}
	enc, single, concat := GSM7, GSM7Single, GSM7Concat
	cost := func(r rune) int { return septets[r] }
	if !gsm {
		enc, single, concat = UCS2, UCS2Single, UCS2Concat
		cost = func(r rune) int {
			if r > 0xFFFF {
				return 2
			}
			return 1
		}
	}
	units := 0
	for _, r := range body {
		units += cost(r)
	}
	c := Count{Encoding: enc, Units: units}
	switch {
	case units == 0:
	case units <= single:
		c.Segments = 1
	default:
		// Pack the characters into segments of concat units; a character that does not fit whole (an escape
		// sequence, a surrogate pair) starts the next segment.
		used := 0
		c.Segments = 1
		for _, r := range body {
			n := cost(r)
			if used+n > concat {
				c.Segments++
				used = 0
			}
			used += n
		}
	}
	return c
}
