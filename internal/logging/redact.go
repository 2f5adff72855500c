package logging

import (
	"bytes"
	"io"
	"sync"

	"github.com/certflow/certflow/internal/personal"
)

// certflow handles applicants' names, emails, phones and document numbers,
// and logs end up in places with wider access and longer retention than the
// database. Redaction therefore happens here, in the one place every log line
// goes through, instead of trusting every present and future log call:
//
//   - by key: a field whose name says it holds personal data (personal.Key)
//     has its whole value, at any depth, replaced by redacted;
//   - by shape: inside any string, text that looks like an email address or an
//     E.164 phone number is replaced by redactedEmail or redactedPhone, since
//     such data also arrives under innocent keys, typically an SDK "Error"
//     quoting a provider's reply.
//
// Both are applied by redactor to every JSON line New's logger writes, and the
// Temporal adapter applies them to its keyvals as well, so it stays safe on a
// logger that was not built by New.
const (
	redacted      = "[redacted]"
	redactedEmail = "[redacted-email]"
	redactedPhone = "[redacted-phone]"
)

// workerIDKey is the SDK's field for the worker identity, "pid@host@queue".
// It is built by the SDK from the host name, never from personal data, but
// with a dotted host name it looks like an email address; its value is kept
// so that the worker start line still says which process it is.
const workerIDKey = "WorkerID"

// scrubString returns s with email addresses and phone numbers replaced. It
// allocates only when s contains an '@' or a '+', the bytes every match needs.
func scrubString(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '@' || s[i] == '+' {
			return string(appendScrubbed(make([]byte, 0, len(s)+len(redactedEmail)), s))
		}
	}
	return s
}

// appendScrubbed appends s to dst with every email address replaced by
// redactedEmail and every phone number by redactedPhone. It scans s once and
// only looks closer at an '@' or a '+'.
func appendScrubbed[T string | []byte](dst []byte, s T) []byte {
	last := 0 // s[:last] is in dst already
	for i := 0; i < len(s); i++ {
		var start, end int
		var repl string
		switch s[i] {
		case '@':
			start, end, repl = emailStart(s, last, i), emailEnd(s, i), redactedEmail
			if start == i || end == i {
				continue
			}
		case '+':
			start, end, repl = i, phoneEnd(s, i), redactedPhone
			if end == i {
				continue
			}
		default:
			continue
		}
		dst = append(dst, s[last:start]...)
		dst = append(dst, repl...)
		last, i = end, end-1
	}
	return append(dst, s[last:]...)
}

// emailStart returns where the local part of an address whose '@' is s[at]
// starts, never before lo; at when there is none.
func emailStart[T string | []byte](s T, lo, at int) int {
	start := at
	for start > lo && isLocalChar(s[start-1]) {
		start--
	}
	return start
}

// emailEnd returns the end of the domain after the '@' at s[at], or at when
// what follows is not a domain: at least two labels, the last starting with
// a letter. That last rule keeps Go module versions such as
// "sdk@v1.50.0/internal" in stack traces and caller fields intact.
func emailEnd[T string | []byte](s T, at int) int {
	end := at + 1
	for end < len(s) && (isAlnum(s[end]) || s[end] == '.' || s[end] == '-') {
		end++
	}
	for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
		end-- // the full stop ending a sentence is not part of the domain
	}
	dot := -1
	for i := end - 1; i > at+1; i-- {
		if s[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 || !isAlnum(s[at+1]) || end-dot < 3 || !isLetter(s[dot+1]) {
		return at
	}
	return end
}

// phoneEnd returns the end of the E.164 number starting with the '+' at
// s[at], or at when there is none: 8 to 15 digits, as a whole token. Needing
// the '+' is what keeps pks, counters and durations intact; needing a whole
// token keeps out timestamps ("+01:00", "+0200" are too short), semver build
// metadata ("v1.0.0+20240101120000"), base64 and "+34...@example.com", which
// the email rule takes whole.
func phoneEnd[T string | []byte](s T, at int) int {
	if at > 0 && isAlnum(s[at-1]) {
		return at
	}
	end := at + 1
	for end < len(s) && '0' <= s[end] && s[end] <= '9' {
		end++
	}
	if n := end - at - 1; n < 8 || n > 15 {
		return at
	}
	if end < len(s) && (isAlnum(s[end]) || s[end] == '@') {
		return at
	}
	return end
}

// isLetter reports whether c is an ASCII letter or part of a UTF-8 sequence,
// so that internationalised addresses ("josé@correos.es") match too.
func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

func isAlnum(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }

// isLocalChar reports whether c is common in the part of an address before
// the '@'.
func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// redactor is the io.Writer New puts under its logger: it receives each JSON
// line zerolog writes and passes a redacted copy on to out. Doing it on the
// encoded line, rather than field by field, is what makes it cover every
// zerolog call (Str, Interface, Dict, Err, ...) and values nested at any
// depth. It is placed before a ConsoleWriter, which re-parses the JSON, so
// the console format is redacted alike.
type redactor struct{ out io.Writer }

// maxPooled bounds the buffers kept for reuse, so one huge line does not pin
// its memory for the life of the process.
const maxPooled = 64 << 10

var linePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// Write writes the redacted copy of p to out in one call, as zerolog and
// ConsoleWriter expect one event per Write. It reports len(p) on success,
// since all of p was consumed.
func (r redactor) Write(p []byte) (int, error) {
	bp := linePool.Get().(*[]byte)
	out := (*bp)[:0]
	for rest := p; len(rest) > 0; {
		line := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
			out = append(redactLine(out, line), '\n')
			continue
		}
		out, rest = redactLine(out, line), nil
	}
	_, err := r.out.Write(out)
	if cap(out) <= maxPooled {
		*bp = out
		linePool.Put(bp)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactLine appends the redacted line to dst. A line that is not a JSON
// object, which zerolog does not write, still has its emails and phones
// replaced, as plain text.
func redactLine(dst, line []byte) []byte {
	s := scrubber{out: dst}
	i := skipSpace(line, 0)
	if i < len(line) && line[i] == '{' {
		if end, ok := s.value(line, i, false); ok && skipSpace(line, end) == len(line) {
			return s.out
		}
	}
	return appendScrubbed(s.out[:len(dst)], line)
}

// scrubber copies one JSON value to out, redacted. It is a minimal scanner
// rather than encoding/json so that a line costs no allocation and keeps its
// field order; it checks only as much syntax as it needs to find values, and
// reports anything else as not ok. Whitespace between tokens is dropped.
type scrubber struct{ out []byte }

// value copies the value at in[i:] and returns the index after it. keep is
// true for the value of workerIDKey, whose string is copied as it is.
func (s *scrubber) value(in []byte, i int, keep bool) (int, bool) {
	if i >= len(in) {
		return i, false
	}
	switch in[i] {
	case '{', '[':
		return s.container(in, i)
	case '"':
		end, ok := stringEnd(in, i)
		if !ok {
			return i, false
		}
		if keep {
			s.out = append(s.out, in[i:end]...)
			return end, true
		}
		s.out = append(s.out, '"')
		s.out = appendScrubbedJSON(s.out, in[i+1:end-1])
		s.out = append(s.out, '"')
		return end, true
	}
	end := i // number, true, false or null
	for end < len(in) && !isDelim(in[end]) {
		end++
	}
	s.out = append(s.out, in[i:end]...)
	return end, end > i
}

// container copies the object or array opening at in[i]. An object's keys
// are scrubbed like any string, since a map keyed by email addresses encodes
// them as keys, and the value of a personal key is replaced by redacted.
func (s *scrubber) container(in []byte, i int) (int, bool) {
	object := in[i] == '{'
	closing := byte(']')
	if object {
		closing = '}'
	}
	s.out = append(s.out, in[i])
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == closing {
		s.out = append(s.out, closing)
		return i + 1, true
	}
	for {
		var ok, isPersonal, keep bool
		if object {
			if i >= len(in) || in[i] != '"' {
				return i, false
			}
			keyStart := i
			if i, ok = s.value(in, i, false); !ok {
				return i, false
			}
			key := in[keyStart+1 : i-1]
			isPersonal, keep = personal.Key(key), string(key) == workerIDKey
			if i = skipSpace(in, i); i >= len(in) || in[i] != ':' {
				return i, false
			}
			s.out = append(s.out, ':')
			i = skipSpace(in, i+1)
		}
		mark := len(s.out)
		if i, ok = s.value(in, i, keep); !ok {
			return i, false
		}
		if isPersonal {
			// The value was copied to check its syntax; drop it.
			s.out = append(s.out[:mark], `"`+redacted+`"`...)
		}
		if i = skipSpace(in, i); i >= len(in) {
			return i, false
		}
		switch in[i] {
		case ',':
			s.out = append(s.out, ',')
			i = skipSpace(in, i+1)
		case closing:
			s.out = append(s.out, closing)
			return i + 1, true
		default:
			return i, false
		}
	}
}

// stringEnd returns the index after the JSON string opening at in[i].
func stringEnd(in []byte, i int) (int, bool) {
	for j := i + 1; j < len(in); j++ {
		switch in[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(in), false
}

// appendScrubbedJSON scrubs the content of a JSON string without decoding it:
// escape sequences are copied as they are and the text between them is
// scrubbed, so a match can neither swallow nor split an escape. Addresses
// and phone numbers have no characters that JSON escapes, so an escape, such
// as the \u003c encoding/json writes for '<', can only be next to a match.
func appendScrubbedJSON(dst, raw []byte) []byte {
	for {
		esc := bytes.IndexByte(raw, '\\')
		if esc < 0 {
			return appendScrubbed(dst, raw)
		}
		dst = appendScrubbed(dst, raw[:esc])
		n := 2
		if esc+1 < len(raw) && raw[esc+1] == 'u' {
			n = 6
		}
		n = min(n, len(raw)-esc)
		dst = append(dst, raw[esc:esc+n]...)
		raw = raw[esc+n:]
	}
}

func skipSpace(in []byte, i int) int {
	for i < len(in) && isSpace(in[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isDelim reports whether c ends a number or a literal.
func isDelim(c byte) bool {
	return isSpace(c) || c == ',' || c == ':' || c == ']' || c == '}' || c == '"'
}
