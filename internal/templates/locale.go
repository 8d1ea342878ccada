package templates

import (
	"strconv"
	"strings"
	"time"
)

// lang is a language the default templates and the date formatting support.
type lang struct {
	code     string
	weekdays [7]string // Sunday first, as time.Weekday counts
	shortWD  [7]string
	months   [12]string
	short    [12]string
	// zone renames Go's zone abbreviations where the language has its own (CET is MEZ in German).
	zone map[string]string
	// long formats a date and time; date formats a date alone; clock formats a time of day with its zone; short is
	// the compact form SMS use.
	long, date, clock, shortFmt func(l *lang, t time.Time) string
	units                       [3][2]string // hour, minute, second: singular and plural
	and                         string
}

var english = &lang{
	code:     "en",
	weekdays: [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	shortWD:  [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
	months: [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September",
		"October", "November", "December"},
	short: [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	date: func(l *lang, t time.Time) string {
		return l.weekdays[t.Weekday()] + ", " + l.months[t.Month()-1] + " " + strconv.Itoa(t.Day()) + ", " +
			strconv.Itoa(t.Year())
	},
	clock: func(l *lang, t time.Time) string { return t.Format("3:04 PM") + " " + l.zoneName(t) },
	long:  func(l *lang, t time.Time) string { return l.date(l, t) + " at " + l.clock(l, t) },
	shortFmt: func(l *lang, t time.Time) string {
		return l.shortWD[t.Weekday()] + ", " + l.short[t.Month()-1] + " " + strconv.Itoa(t.Day()) + ", " + l.clock(l, t)
	},
	units: [3][2]string{{"hour", "hours"}, {"minute", "minutes"}, {"second", "seconds"}},
	and:   "and",
}

var german = &lang{
	code:     "de",
	weekdays: [7]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
	shortWD:  [7]string{"So.", "Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa."},
	months: [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
		"Oktober", "November", "Dezember"},
	short: [12]string{"Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."},
	zone:  map[string]string{"CET": "MEZ", "CEST": "MESZ"},
	date: func(l *lang, t time.Time) string {
		return l.weekdays[t.Weekday()] + ", " + strconv.Itoa(t.Day()) + ". " + l.months[t.Month()-1] + " " +
			strconv.Itoa(t.Year())
	},
	clock: func(l *lang, t time.Time) string { return t.Format("15:04") + " Uhr " + l.zoneName(t) },
	long:  func(l *lang, t time.Time) string { return l.date(l, t) + " um " + l.clock(l, t) },
	shortFmt: func(l *lang, t time.Time) string {
		return l.shortWD[t.Weekday()] + ", " + strconv.Itoa(t.Day()) + ". " + l.short[t.Month()-1] + ", " + l.clock(l, t)
	},
	units: [3][2]string{{"Stunde", "Stunden"}, {"Minute", "Minuten"}, {"Sekunde", "Sekunden"}},
	and:   "und",
}

// languages are the languages with default templates and date formatting. English is the fallback.
var languages = map[string]*lang{"en": english, "de": german}

// baseLanguage reduces a BCP 47 tag (de-AT, en_GB, DE) to its lower-case base language.
func baseLanguage(locale string) string {
	l := strings.ToLower(locale)
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	return l
}

// langFor returns the formatting language for a locale: English unless the base language is supported.
func langFor(locale string) *lang {
	if l, ok := languages[baseLanguage(locale)]; ok {
		return l
	}
	return english
}

func (l *lang) zoneName(t time.Time) string {
	name, _ := t.Zone()
	if n, ok := l.zone[name]; ok {
		return n
	}
	return name
}

// duration writes a duration in whole hours, minutes and seconds: "1 hour and 30 minutes", "24 Stunden".
// Days are written as hours, which reads well in both languages after "in" ("in 24 Stunden").
func (l *lang) duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	parts := []int{int(d / time.Hour), int(d % time.Hour / time.Minute), int(d % time.Minute / time.Second)}
	var out []string
	for i, n := range parts {
		if n == 0 {
			continue
		}
		u := l.units[i][1]
		if n == 1 {
			u = l.units[i][0]
		}
		out = append(out, strconv.Itoa(n)+" "+u)
	}
	switch len(out) {
	case 0:
		return "0 " + l.units[1][1]
	case 1:
		return out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " " + l.and + " " + out[len(out)-1]
}
