// Package logging builds certflow's zerolog logger and adapts it to the
// Temporal SDK's log.Logger, so the worker, the SDK and the starter write one
// stream in one format: JSON lines for machines by default, a human-readable
// console format when asked. Whatever the format, personal data is redacted
// from every line (see redact.go).
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	tlog "go.temporal.io/sdk/log"

	"github.com/certflow/certflow/internal/personal"
)

// Formats accepted by New.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error") in the given format ("json" or "console"). An unknown
// level or format is an error naming the accepted values, so a typo in
// LOG_LEVEL fails at start rather than silencing the logs. Every line is
// redacted of personal data before it reaches w (see redactor).
func New(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || lvl == zerolog.NoLevel {
		return zerolog.Nop(), fmt.Errorf("log level %q is not one of debug, info, warn, error", level)
	}
	out := w
	switch strings.ToLower(format) {
	case FormatJSON, "":
	case FormatConsole:
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q is not one of json, console", format)
	}
	return zerolog.New(redactor{out: out}).Level(lvl).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a character device, so console output is
// coloured on a terminal and plain in files and CI logs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// Temporal adapts a zerolog logger to the SDK's log.Logger, including the
// optional With and WithCallerSkip, so SDK lines carry workflow and activity
// context as fields and point at the caller rather than at this adapter.
type Temporal struct {
	l    zerolog.Logger
	skip int
}

var (
	_ tlog.Logger          = Temporal{}
	_ tlog.WithLogger      = Temporal{}
	_ tlog.WithSkipCallers = Temporal{}
)

// NewTemporal wraps l for the SDK.
func NewTemporal(l zerolog.Logger) Temporal { return Temporal{l: l} }

// Debug logs at debug level; keyvals alternate keys and values.
func (t Temporal) Debug(msg string, keyvals ...any) { t.log(zerolog.DebugLevel, msg, keyvals) }

// Info logs at info level.
func (t Temporal) Info(msg string, keyvals ...any) { t.log(zerolog.InfoLevel, msg, keyvals) }

// Warn logs at warn level.
func (t Temporal) Warn(msg string, keyvals ...any) { t.log(zerolog.WarnLevel, msg, keyvals) }

// Error logs at error level.
func (t Temporal) Error(msg string, keyvals ...any) { t.log(zerolog.ErrorLevel, msg, keyvals) }

// With returns a logger that adds keyvals to every line; t is unchanged.
func (t Temporal) With(keyvals ...any) tlog.Logger {
	ctx := t.l.With()
	for i := 0; i < len(keyvals); i += 2 {
		key, val := pair(keyvals, i)
		if s, ok := val.(string); ok {
			ctx = ctx.Str(key, s)
			continue
		}
		ctx = ctx.Interface(key, val)
	}
	return Temporal{l: ctx.Logger(), skip: t.skip}
}

// WithCallerSkip returns a logger whose caller field skips extra frames.
func (t Temporal) WithCallerSkip(skip int) tlog.Logger {
	return Temporal{l: t.l, skip: t.skip + skip}
}

// callerFrames is the number of frames between the caller of Debug/Info/...
// and the Caller call in log.
const callerFrames = 2

func (t Temporal) log(level zerolog.Level, msg string, keyvals []any) {
	ev := t.l.WithLevel(level)
	if ev == nil {
		return
	}
	ev = ev.Caller(callerFrames + t.skip)
	for i := 0; i < len(keyvals); i += 2 {
		key, val := pair(keyvals, i)
		if s, ok := val.(string); ok {
			ev = ev.Str(key, s)
			continue
		}
		ev = ev.Interface(key, val)
	}
	ev.Msg(msg)
}

// pair returns the i-th key and its value as they may be logged; a key that
// is not a string is formatted, and a missing value is reported rather than
// dropped.
//
// The value is redacted here, before zerolog encodes it, so that SDK lines
// carry no personal data whatever logger the adapter wraps: a personal key's value
// becomes redacted, and a string's or an error's text is scrubbed of emails
// and phones (an error is logged as its text, as zerolog's AnErr does).
// Other values are encoded as they are: New's writer scrubs what they
// contain, at any depth.
func pair(keyvals []any, i int) (string, any) {
	key, ok := keyvals[i].(string)
	if !ok {
		key = fmt.Sprint(keyvals[i])
	}
	if i+1 >= len(keyvals) {
		return key, "MISSING-VALUE"
	}
	if personal.Key(key) {
		return key, redacted
	}
	switch v := keyvals[i+1].(type) {
	case string:
		if key == workerIDKey {
			return key, v
		}
		return key, scrubString(v)
	case error:
		// fmt rather than v.Error(): it survives a nil pointer in the error.
		return key, scrubString(fmt.Sprint(v))
	}
	return key, keyvals[i+1]
}
