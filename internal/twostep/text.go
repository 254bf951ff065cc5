package twostep

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// checkText returns an *InvalidError naming field unless s is text a person
// can safely be shown: valid UTF-8 with no control character (U+0000–U+001F,
// U+007F–U+009F: NUL, tab, CR, LF, escape…), no line or paragraph separator
// (U+2028, U+2029) and no bidirectional formatting character (the embeddings
// and overrides U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E,
// U+200F and U+061C). Every free-text field a person or program gives goes
// through it — factor labels, organisation names, e-mail addresses — because
// these come back in pages, messages, audit lines and the logs of other
// programs: a line break forges a second line there, and U+202E ("right-to-left
// override") makes "Pixel\u202Egnp.exe" read as "Pixelexe.png" (AU-04). Lengths
// and emptiness stay with each caller, whose limits differ.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, ReasonTextUTF8)
	}
	for i, r := range s {
		if unicode.IsControl(r) || bidiControl(r) || r == '\u2028' || r == '\u2029' {
			return invalid(field, ReasonTextChars, "Char", fmt.Sprintf("U+%04X", r),
				"Position", strconv.Itoa(utf8.RuneCountInString(s[:i])+1))
		}
	}
	return nil
}

// bidiControl reports whether r is one of Unicode's bidirectional formatting
// characters (UAX #9, section 2), which reorder the text around them.
func bidiControl(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	case r == '\u200E', r == '\u200F', r == '\u061C':
		return true
	}
	return false
}
