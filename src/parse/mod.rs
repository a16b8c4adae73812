//! Stage 1: recognise tokens in an invite template.
//!
//! The grammar is normative text in `grammar/tokens.abnf`; [`Template::parse`] implements it and
//! `tests/grammar.rs` checks every example written there. Spans are byte ranges into the source;
//! line and column are computed only when a finding is shown ([`line_col`]).

mod diagnostic;
mod html;
mod lexer;
mod lookalike;
pub(crate) mod stream;
mod token;

use std::fmt;
use std::ops::Range;

pub(crate) use diagnostic::render_finding_at;
pub use diagnostic::render_findings;
pub(crate) use lexer::{may_hold_token, token_starts};
pub use token::{Product, Scope, Token, Unknown};

/// One piece of a lexed template: literal text or a known token, both as byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text copied as is. `$$` before a token shape leaves two pieces: the text before the first
    /// `$`, and the literal token shape from the second `$` on.
    Text(Range<usize>),
    /// A known token occupying `span` (from its `$`).
    Token {
        /// The token.
        token: Token,
        /// Where it stands in the source.
        span: Range<usize>,
    },
}

/// A template lexed without errors: the source and its pieces, in order.
#[derive(Debug, Clone)]
pub struct Template<'a> {
    source: &'a str,
    pieces: Vec<Piece>,
}

impl<'a> Template<'a> {
    /// Lexes `source`. Fails with every finding, in source order, when any token shape in it is
    /// not a known token.
    pub fn parse(source: &'a str) -> Result<Template<'a>, Vec<Finding>> {
        let (pieces, findings) = lexer::lex(source.as_bytes());
        if findings.is_empty() {
            Ok(Template { source, pieces })
        } else {
            Err(findings)
        }
    }

    /// The source the template was lexed from.
    pub fn source(&self) -> &'a str {
        self.source
    }

    /// The pieces, in source order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The known tokens, with their spans, in source order.
    pub fn tokens(&self) -> impl Iterator<Item = (Token, Range<usize>)> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Token { token, span } => Some((*token, span.clone())),
            Piece::Text(_) => None,
        })
    }

    /// Writes the template with every token replaced by `value(token, span)`'s output, and the
    /// text between tokens passed through `text`. The renderer uses it with an html escaper for
    /// values and the identity for text.
    pub fn expand<E>(
        &self,
        out: &mut String,
        mut value: impl FnMut(Token, &Range<usize>, &mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        for piece in &self.pieces {
            match piece {
                Piece::Text(range) => out.push_str(&self.source[range.clone()]),
                Piece::Token { token, span } => value(*token, span, out)?,
            }
        }
        Ok(())
    }
}

/// Where a token stands, and so how its value is written. Decided once per token occurrence,
/// when a request's templates are parsed; the planner and the renderer both follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Context {
    /// A subject line: one value, every line break or control character written as a space.
    Subject,
    /// A plain-text body: written as is; a list of links is one line per event.
    Text,
    /// Text between HTML tags: HTML-escaped; a list of links is written as HTML links.
    HtmlText,
    /// A quoted HTML attribute value: HTML-escaped; one value.
    HtmlAttribute,
}

impl Context {
    /// Whether the token must stand for one value here (no list of links).
    pub fn single_value(self) -> bool {
        matches!(self, Context::Subject | Context::HtmlAttribute)
    }

    /// The context of every token of `template`, a subject line (`subject`: also checked to be
    /// one line) or a body in HTML (`html`: run through a WHATWG tokenizer, see
    /// `src/parse/html.rs`) or plain text; or a finding for each token that stands where no
    /// value can go safely.
    pub fn of_template(
        template: &Template<'_>,
        subject: bool,
        html: bool,
    ) -> Result<Vec<Context>, Vec<Finding>> {
        if subject {
            let found = line_breaks(template.source());
            if !found.is_empty() {
                return Err(found);
            }
            return Ok(vec![Context::Subject; template.tokens().count()]);
        }
        if !html {
            return Ok(vec![Context::Text; template.tokens().count()]);
        }
        let hidden = html::referenced_tokens(template.source());
        if !hidden.is_empty() {
            return Err(hidden);
        }
        let tokens: Vec<_> = template.tokens().collect();
        html::contexts(template.source(), &tokens)
    }
}

/// Whether `c` breaks a line or controls a terminal (C0, DEL, C1 with NEL, U+2028, U+2029):
/// none of them may stand in a subject.
pub fn breaks_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A finding for each run of line breaks and control characters in a subject template.
fn line_breaks(source: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for (at, c) in source.char_indices().filter(|&(_, c)| breaks_line(c)) {
        match found.last_mut() {
            Some(last) if last.span.end == at => last.span.end = at + c.len_utf8(),
            _ => found.push(Finding {
                span: at..at + c.len_utf8(),
                kind: FindingKind::SubjectNotOneLine { character: c },
            }),
        }
    }
    found
}

/// Something wrong in a template, at a byte range of its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte range of the offending text (a whole token shape, from its `$`).
    pub span: Range<usize>,
    /// What is wrong.
    pub kind: FindingKind,
}

/// What a [`Finding`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// A token shape that is not a known token.
    UnknownToken {
        /// The shape as written.
        shape: String,
        /// Why it is not known, with a suggestion where one fits.
        why: Unknown,
    },
    /// An `$Event.…` token in an invite that covers several events, where one value is needed.
    EventTokenAmbiguous {
        /// The token.
        token: Token,
        /// How many events the invite covers.
        events: usize,
        /// Whether the token stands where one value must go (a subject line, an HTML tag's
        /// attribute), so that even the link tokens, which elsewhere list every event, cannot.
        single_value: bool,
    },
    /// A template link token whose session has no template id to launch with.
    MissingTemplateId {
        /// The token.
        token: Token,
        /// The event (or `None` for the interview) that has no `codesignal.template_id`.
        event_id: Option<String>,
    },
    /// A token where an HTML body cannot hold a value safely.
    HtmlContext {
        /// The token.
        token: Token,
        /// Where it stands.
        place: HtmlPlace,
    },
    /// A line break or control character in a subject template (the first of a run): a
    /// subject is one line.
    SubjectNotOneLine {
        /// The character.
        character: char,
    },
    /// A token in a request without events: there is nothing for it to stand for. (A request
    /// built through its checks always has events; this keeps the planner from guessing.)
    NoEvents {
        /// The token.
        token: Token,
    },
}

/// Where in an HTML body a token stands, when no value can go there safely.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HtmlPlace {
    /// In an unquoted attribute value: a value with a space or `>` would add attributes.
    UnquotedAttribute {
        /// The attribute's name.
        attribute: String,
        /// The value as written in the template.
        value: String,
    },
    /// In a tag name (also right after a `<`, where a value would make one).
    TagName,
    /// In an attribute name.
    AttributeName,
    /// In a comment (an Outlook conditional comment too).
    Comment,
    /// In a doctype or another markup declaration.
    Markup,
    /// In the content of an element that is not HTML text (`<script>`, `<style>`, `<title>`,
    /// `<textarea>`, ...).
    RawText {
        /// The element.
        element: String,
    },
    /// In an attribute that holds script, style or a document (`on*`, `style`, `srcdoc`).
    ActiveAttribute {
        /// The attribute's name.
        attribute: String,
    },
    /// A value that is not a link at the start of a URL attribute, where it could choose the
    /// scheme (`javascript:`), or after a scheme that runs it (`javascript:alert('...')`).
    UrlScheme {
        /// The attribute's name.
        attribute: String,
    },
}

impl Finding {
    /// The one-line message, without position.
    pub fn message(&self) -> String {
        match &self.kind {
            FindingKind::UnknownToken { shape, why } => match why {
                Unknown::Unsupported { vendor } => format!(
                    "`{shape}` is a {vendor} link token; invitoken resolves only CodeSignal links"
                ),
                Unknown::WrongCase { .. } => {
                    format!("unknown token `{shape}`: tokens are case-sensitive")
                }
                Unknown::Misspelt { .. } => format!("unknown token `{shape}`"),
                Unknown::LookAlike { token } => format!(
                    "`{}` looks like `{token}` but is not it: it holds a look-alike or invisible character, or braces",
                    non_ascii_escaped(shape)
                ),
            },
            FindingKind::EventTokenAmbiguous { token, events, .. } => {
                format!("`{token}` has no single value in this invite: it covers {events} events")
            }
            FindingKind::MissingTemplateId { token, event_id } => match event_id {
                Some(id) => format!(
                    "`{token}` needs a template id, but event `{id}` has no `codesignal.template_id` and neither has the interview"
                ),
                None => format!(
                    "`{token}` needs a template id, but the interview has no `codesignal.template_id`"
                ),
            },
            FindingKind::HtmlContext { token, place } => match place {
                HtmlPlace::UnquotedAttribute { attribute, .. } => format!(
                    "`{token}` stands in the unquoted value of HTML attribute `{}`, where a value with a space or `>` adds attributes",
                    crate::shown(attribute)
                ),
                HtmlPlace::TagName => format!("`{token}` stands in an HTML tag name"),
                HtmlPlace::AttributeName => format!("`{token}` stands in an HTML attribute name"),
                HtmlPlace::Comment => format!("`{token}` stands in an HTML comment"),
                HtmlPlace::Markup => {
                    format!("`{token}` stands in an HTML doctype or markup declaration")
                }
                HtmlPlace::RawText { element } => format!(
                    "`{token}` stands inside `<{}>`, whose content is not HTML text",
                    crate::shown(element)
                ),
                HtmlPlace::ActiveAttribute { attribute } => format!(
                    "`{token}` stands in HTML attribute `{}`, which holds script, style or a document",
                    crate::shown(attribute)
                ),
                HtmlPlace::UrlScheme { attribute } => format!(
                    "`{token}` stands in the URL of HTML attribute `{}` where a value could choose its scheme or run as script (`javascript:`)",
                    crate::shown(attribute)
                ),
            },
            FindingKind::NoEvents { token } => {
                format!("`{token}` has no value: the request has no events")
            }
            FindingKind::SubjectNotOneLine { character } => format!(
                "the subject template holds {} U+{:04X}: a subject is one line",
                if matches!(
                    character,
                    '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
                ) {
                    "line break"
                } else {
                    "control character"
                },
                u32::from(*character)
            ),
        }
    }

    /// How to fix it, when there is something to say.
    pub fn help(&self) -> Option<String> {
        match &self.kind {
            FindingKind::UnknownToken { why, .. } => match why {
                Unknown::Unsupported { .. } => Some(format!(
                    "use `{}` or `{}`; write `$$` before the token to keep it as literal text",
                    Token::InterviewLiveLink,
                    Token::EventLiveLink
                )),
                Unknown::WrongCase { token } => Some(format!("did you mean `{token}`?")),
                Unknown::LookAlike { token } => Some(format!(
                    "did you mean `{token}`? retype it in plain ASCII, without braces"
                )),
                Unknown::Misspelt {
                    suggestion: Some(token),
                } => Some(format!("did you mean `{token}`?")),
                Unknown::Misspelt { suggestion: None } => Some(
                    "see grammar/tokens.abnf for the known tokens; write `$$` before it to keep it as literal text"
                        .to_owned(),
                ),
            },
            FindingKind::EventTokenAmbiguous { single_value, .. } => Some(if *single_value {
                "a subject line or an HTML attribute holds one value: use `$Interview.CodeSignal.Live.Link` here, or put the `$Event` link token in the body text, where it lists every event".to_owned()
            } else {
                "in the candidate's invite only `$Event.CodeSignal.Live.Link` and `$Event.CodeSignal.Template.Link` list every event; use `$Interview.Start` for the start".to_owned()
            }),
            FindingKind::MissingTemplateId { event_id, .. } => Some(match event_id {
                Some(id) => format!(
                    "set `codesignal.template_id` on event `{id}` or on the interview"
                ),
                None => "set `interview.codesignal.template_id`".to_owned(),
            }),
            FindingKind::HtmlContext { token, place } => Some(match place {
                HtmlPlace::UnquotedAttribute { attribute, value } => format!(
                    "quote the attribute: write `{}=\"{}\"`",
                    crate::shown(attribute),
                    crate::shown(value)
                ),
                HtmlPlace::UrlScheme { .. } => format!(
                    "only link tokens may start a URL or follow a scheme other than http, https, mailto or tel; put `{token}` after a fixed start (`https://example.com/?q={token}`) or in the text"
                ),
                HtmlPlace::TagName => {
                    "a value may stand in text or in a quoted attribute value; a `<` meant as text before it is written `&lt;`".to_owned()
                }
                HtmlPlace::AttributeName => {
                    "a value may stand in text or in a quoted attribute value (`name=\"$Candidate.Name\"`)".to_owned()
                }
                HtmlPlace::Comment => {
                    "a comment's content (an Outlook conditional comment's too) is not read as HTML here, so where a value would stand in it is unknown: move the token out of the comment".to_owned()
                }
                _ => "a value may stand in text or in a quoted attribute value: move the token there".to_owned(),
            }),
            FindingKind::NoEvents { .. } => {
                Some("give the interview at least one event in `interview.events`".to_owned())
            }
            FindingKind::SubjectNotOneLine { .. } => Some(
                "write the subject on one line (a value's line breaks become spaces; the template's are refused)".to_owned(),
            ),
        }
    }

    /// The short label under the caret.
    pub fn label(&self) -> &'static str {
        match &self.kind {
            FindingKind::UnknownToken { why, .. } => match why {
                Unknown::Unsupported { .. } => "not supported",
                Unknown::WrongCase { .. } => "wrong case",
                Unknown::Misspelt { .. } => "not a known token",
                Unknown::LookAlike { .. } => "look-alike token",
            },
            FindingKind::EventTokenAmbiguous { .. } => "one value needed, several events",
            FindingKind::MissingTemplateId { .. } => "no template id",
            FindingKind::HtmlContext { place, .. } => match place {
                HtmlPlace::UnquotedAttribute { .. } => "unquoted attribute",
                HtmlPlace::TagName | HtmlPlace::AttributeName => "in a name",
                HtmlPlace::Comment => "in a comment",
                HtmlPlace::Markup => "in markup",
                HtmlPlace::RawText { .. } => "not HTML text",
                HtmlPlace::ActiveAttribute { .. } => "script, style or document",
                HtmlPlace::UrlScheme { .. } => "could make the URL script",
            },
            FindingKind::SubjectNotOneLine { .. } => "not one line",
            FindingKind::NoEvents { .. } => "no events",
        }
    }
}

/// `shape` with every character that is not printable ASCII written as `\u{...}`, so that a
/// look-alike shows what it is made of, invisible characters included.
fn non_ascii_escaped(shape: &str) -> String {
    shape
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        if let Some(help) = self.help() {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source.as_bytes()[..offset.min(source.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}
