package devserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

// countingTag counts how often its value is read.
type countingTag struct {
	key   string
	reads *int
}

func (t countingTag) Key() string { return t.key }
func (t countingTag) Value() any  { *t.reads++; return "v-" + t.key }

func TestSlogLoggerWithIsLazyAndKeepsTags(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reads := 0
	l := slogLogger{log: base, level: slog.LevelWarn}.
		With(countingTag{"shard", &reads}).(slogLogger).
		With(countingTag{"wf", &reads})

	l.Info("dropped", tag.NewStringTag("k", "x"))
	if reads != 0 || buf.Len() != 0 {
		t.Fatalf("a record below the level converted %d tags and wrote %q", reads, buf.String())
	}

	l.Warn("kept", tag.NewStringTag("k", "x"))
	out := buf.String()
	for _, want := range []string{"msg=kept", "shard=v-shard", "wf=v-wf", "k=x"} {
		if !strings.Contains(out, want) {
			t.Errorf("record %q lacks %q", out, want)
		}
	}
	if reads != 2 {
		t.Errorf("tags read %d times, want 2", reads)
	}

	// Loggers derived from the same parent must not share tag storage.
	reads = 0
	parent := slogLogger{log: base, level: slog.LevelWarn}.With(countingTag{"a", &reads}).(slogLogger)
	c1 := parent.With(countingTag{"b", &reads})
	c2 := parent.With(countingTag{"c", &reads})
	buf.Reset()
	c1.Warn("one")
	if s := buf.String(); !strings.Contains(s, "b=v-b") || strings.Contains(s, "c=v-c") {
		t.Errorf("first child logged %q", s)
	}
	buf.Reset()
	c2.Warn("two")
	if s := buf.String(); !strings.Contains(s, "c=v-c") || strings.Contains(s, "b=v-b") {
		t.Errorf("second child logged %q", s)
	}
	if s := parent.SLog(); s == base {
		t.Error("SLog of a logger with tags dropped them")
	}
}

func TestSlogLoggerDropsNoise(t *testing.T) {
	var buf bytes.Buffer
	l := slogLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), level: slog.LevelDebug}
	l.Warn("GetHistory page size is larger than threshold", tag.NewStringTag("wf-id", "appointment:A1"))
	if buf.Len() != 0 {
		t.Fatalf("the page-size warning was logged: %q", buf.String())
	}
	l.Warn("another warning")
	l.Error("GetHistory page size is larger than threshold")
	out := buf.String()
	if !strings.Contains(out, "another warning") {
		t.Errorf("other warnings must still be logged, got %q", out)
	}
	if !strings.Contains(out, "level=ERROR") {
		t.Errorf("an error with the same text must still be logged, got %q", out)
	}
}
