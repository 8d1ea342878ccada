package devserver

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// slogLogger adapts a *slog.Logger to the Temporal server's log.Logger.
// Records below level are dropped before any tag conversion.
type slogLogger struct {
	log   *slog.Logger
	level slog.Leveler
	// quiet, once set (while stopping), drops everything below error: the
	// shutdown of the internal services produces a burst of dial and poll
	// warnings that mean nothing.
	quiet *atomic.Bool
}

var (
	_ log.Logger      = slogLogger{}
	_ log.WithLogger  = slogLogger{}
	_ log.SLogWrapper = slogLogger{}
	_ log.SkipLogger  = slogLogger{}
)

func (s slogLogger) Debug(msg string, tags ...tag.Tag) { s.logAt(slog.LevelDebug, msg, tags) }
func (s slogLogger) Info(msg string, tags ...tag.Tag)  { s.logAt(slog.LevelInfo, msg, tags) }
func (s slogLogger) Warn(msg string, tags ...tag.Tag)  { s.logAt(slog.LevelWarn, msg, tags) }
func (s slogLogger) Error(msg string, tags ...tag.Tag) { s.logAt(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal are logged as errors: an embedded server must never
// exit or panic the host process because of a log call.
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.logAt(slog.LevelError, msg, tags) }
func (s slogLogger) Panic(msg string, tags ...tag.Tag)  { s.logAt(slog.LevelError, msg, tags) }
func (s slogLogger) Fatal(msg string, tags ...tag.Tag)  { s.logAt(slog.LevelError, msg, tags) }

// With returns a logger that prepends tags to every record.
func (s slogLogger) With(tags ...tag.Tag) log.Logger {
	attrs := logTagsToAttrs(tags)
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return slogLogger{log: s.log.With(args...), level: s.level, quiet: s.quiet}
}

// Skip is a no-op: slog records its own source position when asked to.
func (s slogLogger) Skip(int) log.Logger { return s }

// SLog exposes the underlying slog logger (used by the server's NewSlogLogger).
func (s slogLogger) SLog() *slog.Logger { return s.log }

func (s slogLogger) logAt(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.level.Level() || (level < slog.LevelError && s.quiet != nil && s.quiet.Load()) {
		return
	}
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.LogAttrs(ctx, level, msg, logTagsToAttrs(tags)...)
}

func logTagsToAttrs(tags []tag.Tag) []slog.Attr {
	if len(tags) == 0 {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		if t == nil {
			continue
		}
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	return attrs
}
