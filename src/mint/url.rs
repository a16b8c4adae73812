//! The only way a minted URL reaches an invite.

use std::fmt;

/// A URL that is safe to write into a text, HTML or iCalendar invite: `https`, with a host, and
/// without whitespace, control characters, quotes, backslashes or angle brackets (so it cannot
/// end a line, an attribute or a property early).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct SafeUrl(String);

/// The longest URL accepted: a session link is well under 100 bytes, and a 100 KB one would be
/// copied into every invite.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `https://`.
    #[error("{shown} is not an https URL")]
    NotHttps {
        /// The URL, with control characters escaped.
        shown: String,
    },
    /// A character that could break out of its place in an invite.
    #[error("{shown} holds {what} at byte {at}")]
    BadCharacter {
        /// The URL, with control characters escaped.
        shown: String,
        /// The kind of character.
        what: &'static str,
        /// Its byte offset.
        at: usize,
    },
    /// Longer than any real session link ([`MAX_URL_LEN`]).
    #[error("{shown} is {length} bytes long; a link may be at most {MAX_URL_LEN}")]
    TooLong {
        /// The start of the URL, with control characters escaped.
        shown: String,
        /// Its length in bytes.
        length: usize,
    },
    /// Does not parse as a URL with a host.
    #[error("{shown} is not a valid URL: {reason}")]
    Invalid {
        /// The URL, with control characters escaped.
        shown: String,
        /// What the parser said.
        reason: String,
    },
}

fn shown(url: &str) -> String {
    // Enough of it to recognise, escaped so a log line stays one line.
    let cut: String = url.chars().take(120).collect();
    format!("{:?}", cut)
}

impl SafeUrl {
    /// Checks `url`.
    pub fn parse(url: &str) -> Result<SafeUrl, UrlError> {
        if url.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong {
                shown: shown(url),
                length: url.len(),
            });
        }
        for (at, c) in url.char_indices() {
            let what = match c {
                c if c.is_whitespace() => "whitespace",
                c if c.is_control() => "a control character",
                '"' | '\'' | '`' => "a quote",
                '<' | '>' => "an angle bracket",
                '\\' => "a backslash",
                _ => continue,
            };
            return Err(UrlError::BadCharacter {
                shown: shown(url),
                what,
                at,
            });
        }
        if !url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            return Err(UrlError::NotHttps { shown: shown(url) });
        }
        let invalid = |reason: String| UrlError::Invalid {
            shown: shown(url),
            reason,
        };
        // The url crate would read `https:///x` as host `x`; the text itself must name a host.
        let authority = url[8..].split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() {
            return Err(invalid("it has no host".into()));
        }
        // `https://app.codesignal.com@evil.example` goes to evil.example.
        if authority.contains('@') {
            return Err(invalid(
                "it carries a user name, which can disguise its host".into(),
            ));
        }
        let parsed = ::url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host".into()));
        }
        Ok(SafeUrl(url.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafeUrl({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_links() {
        for ok in [
            "https://app.codesignal.com/live-interview/abc-123",
            "https://codesignal.co/Ab3?x=1&y=%20",
            "HTTPS://sandbox.invitoken.invalid/live/00ff",
        ] {
            assert_eq!(SafeUrl::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_what_could_inject_into_an_invite() {
        for (bad, what) in [
            (
                "https://x\r\nATTENDEE:mailto:evil@example.com",
                "whitespace",
            ),
            ("https://x/\u{7}", "a control character"),
            ("https://x/\"onmouseover=\"", "a quote"),
            ("https://x/'", "a quote"),
            ("https://x/<script>", "an angle bracket"),
            ("https://x/\\n", "a backslash"),
            ("https://x/a b", "whitespace"),
        ] {
            match SafeUrl::parse(bad) {
                Err(UrlError::BadCharacter { what: w, shown, .. }) => {
                    assert_eq!(w, what, "{bad:?}");
                    assert!(!shown.contains('\n'), "{shown}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(matches!(
            SafeUrl::parse("http://x/"),
            Err(UrlError::NotHttps { .. })
        ));
        assert!(matches!(
            SafeUrl::parse("javascript:alert(1)"),
            Err(UrlError::NotHttps { .. })
        ));
        for bad in [
            "https:///path",
            "https://",
            "https://app.codesignal.com@evil.example/x",
        ] {
            assert!(
                matches!(SafeUrl::parse(bad), Err(UrlError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
