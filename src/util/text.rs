//! Terminal-safe text: control characters escaped, length capped.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of an outside value [`shown`] keeps.
pub const MAX_SHOWN: usize = 200;

/// `value` made safe to print: every control character (C0, DEL, C1), line and paragraph
/// separator (U+2028, U+2029) and bidirectional override (U+202A..U+202E, U+2066..U+2069) is
/// written as a Rust-style escape (`\u{1b}`, `\r`, `\n`, `\t`), and text past [`MAX_SHOWN`]
/// characters is cut with a note of how much was left out. A server cannot clear the screen,
/// move the cursor or forge an `error:` line, and a 1 MB message stays one short line.
pub fn shown(value: &str) -> Cow<'_, str> {
    shown_with(value, MAX_SHOWN)
}

/// [`shown`] with a cap of `max` characters.
pub fn shown_with(value: &str, max: usize) -> Cow<'_, str> {
    let count = value.chars().count();
    if count <= max && !value.chars().any(needs_escape) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len().min(max * 4) + 32);
    for c in value.chars().take(max) {
        if needs_escape(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
            }
        } else {
            out.push(c);
        }
    }
    if count > max {
        let _ = write!(out, "... ({} more characters)", count - max);
    }
    Cow::Owned(out)
}

/// Whether `c` can change what a terminal shows beyond its own glyph.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(shown("plain text: ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_and_separators_are_escaped() {
        assert_eq!(
            shown("a\u{1b}[2Jb\r\nerror: x\u{85}\u{2028}\u{202e}"),
            "a\\u{1b}[2Jb\\r\\nerror: x\\u{85}\\u{2028}\\u{202e}"
        );
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(1_000_000);
        let s = shown(&long);
        assert!(s.starts_with(&"x".repeat(MAX_SHOWN)));
        assert!(s.ends_with("... (999800 more characters)"), "{s}");
        assert!(s.len() < MAX_SHOWN + 40);
    }
}
