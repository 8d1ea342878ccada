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
	// with holds the tags of With calls, converted only when a record is
	// actually logged: the server calls With on every task it runs, and
	// converting eagerly cost ~2 % of the CPU of a reminder herd.
	with []tag.Tag
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
	if len(tags) == 0 {
		return s
	}
	with := make([]tag.Tag, 0, len(s.with)+len(tags))
	s.with = append(append(with, s.with...), tags...)
	return s
}

// Skip is a no-op: slog records its own source position when asked to.
func (s slogLogger) Skip(int) log.Logger { return s }

// SLog exposes the underlying slog logger (used by the server's NewSlogLogger).
func (s slogLogger) SLog() *slog.Logger {
	if len(s.with) == 0 {
		return s.log
	}
	attrs := logTagsToAttrs(s.with)
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return s.log.With(args...)
}

// noise lists server messages below error that tell an operator nothing and are dropped whatever the level.
//
//   - "GetHistory page size is larger than threshold": the Web UI asks for history pages larger than the
//     frontend's fixed maximum (primitives.GetHistoryMaxPageSize, a server constant, not a setting); the server
//     serves the smaller page and warns on every history view.
var noise = map[string]bool{
	"GetHistory page size is larger than threshold": true,
}

func (s slogLogger) logAt(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.level.Level() || (level < slog.LevelError && s.quiet != nil && s.quiet.Load()) {
		return
	}
	if level < slog.LevelError && noise[msg] {
		return
	}
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.LogAttrs(ctx, level, msg, logTagsToAttrs(s.with, tags)...)
}

func logTagsToAttrs(lists ...[]tag.Tag) []slog.Attr {
	n := 0
	for _, tags := range lists {
		n += len(tags)
	}
	if n == 0 {
		return nil
	}
	attrs := make([]slog.Attr, 0, n)
	for _, tags := range lists {
		for _, t := range tags {
			if t == nil {
				continue
			}
			attrs = append(attrs, slog.Any(t.Key(), t.Value()))
		}
	}
	return attrs
}
