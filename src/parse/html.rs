//! Where each token of an HTML body stands, decided by a WHATWG tokenizer, once.
//!
//! A hand scan for `<` and `>` is wrong as soon as a quoted attribute holds a `>`
//! (`<a title="a>b" href="$Event.CodeSignal.Live.Link">`) and cannot tell a quoted attribute from
//! an unquoted one. The body is run through [html5gum]'s tokenizer instead, the one of the three
//! crates measured that fits: it implements the WHATWG tokenizer state machine (tested against
//! html5lib-tests), has no dependencies, and reports byte spans of every tag name, attribute name,
//! attribute value, text run and comment, which is what placing a token needs. html5ever's
//! tokenizer gives line numbers, not byte spans, and brings string interning and tendrils;
//! lol_html is a streaming rewriter behind CSS selectors (a dozen crates) that reports text kinds
//! but neither attribute spans nor whether a value was quoted.
//!
//! Each token is first replaced by as many ASCII letters. A value, once escaped, holds none of
//! `<`, `>`, `"`, `'` and no bare `&`, so it leaves the tokenizer in the state it found it in
//! wherever the context is text or a quoted attribute value: letters make the same run. Where
//! the value could change the state (after a template's `<` or `</`, in a name, in an unquoted
//! value), letters show it as a tag name, an attribute name or an unquoted value, and those are
//! refused. So the contexts decided here are the contexts of the rendered invite.
//!
//! Accepted: text (where a list of links may be written) and quoted attribute values (one value).
//! Refused, with a finding that says how to fix it: unquoted attribute values, tag and attribute
//! names, comments (Outlook's conditional comments included: their content is not parsed as HTML
//! here, so its context is unknown), doctypes and other markup declarations, the content of
//! `<script>`, `<style>`, `<title>`, `<textarea>` and the other elements whose content is not
//! HTML text, attributes that hold script, style or a document (`on*`, `style`, `srcdoc`), and a
//! value that is not a link where it could set the scheme of a URL (`href="$Candidate.Name"` with
//! the name `javascript:...`).
//!
//! Only HTML bodies that hold tokens are tokenized; the lexer never runs this. It lives in the
//! parse stage, not in render, because the planner needs the contexts too (a token in an
//! attribute is one value, never a list of links) and sits below render.

use std::convert::Infallible;
use std::ops::Range;

use html5gum::emitters::callback::{Callback, CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, ForwardingEmitter, Span, State, Tokenizer};

use super::{Context, Finding, FindingKind, HtmlPlace, Token};

/// The context of each token (`tokens`, in source order, with their spans in `source`) of an
/// HTML body, or a finding for every token that stands where a value cannot go safely.
pub(crate) fn contexts(
    source: &str,
    tokens: &[(Token, Range<usize>)],
) -> Result<Vec<Context>, Vec<Finding>> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let mut letters = source.as_bytes().to_vec();
    for (_, span) in tokens {
        letters[span.clone()].fill(b'a');
    }
    let letters = String::from_utf8(letters).expect("ASCII replaced ASCII");
    let mut classifier = Classifier {
        source: source.as_bytes(),
        spans: tokens.iter().map(|(_, s)| s.clone()).collect(),
        places: vec![None; tokens.len()],
        open_tag: Vec::new(),
        attribute: Vec::new(),
        raw: None,
        switch: None,
    };
    let emitter = Switching {
        inner: CallbackEmitter::new(&mut classifier),
    };
    let Ok(()) = Tokenizer::new_with_emitter(letters.as_str(), emitter).finish();
    let mut found = Vec::new();
    let mut contexts = Vec::with_capacity(tokens.len());
    for ((token, span), place) in tokens.iter().zip(classifier.places) {
        let place = match place {
            Some(Place::Text) => {
                contexts.push(Context::HtmlText);
                continue;
            }
            Some(Place::Quoted {
                tag,
                attribute,
                value,
            }) => {
                match attribute_danger(&tag, &attribute, *token, &source[value.start..span.start]) {
                    None => {
                        contexts.push(Context::HtmlAttribute);
                        continue;
                    }
                    Some(place) => place,
                }
            }
            Some(Place::Refused(place)) => place,
            // Nothing of the document held it (the tokenizer drops a doctype's junk, for one).
            None => HtmlPlace::Markup,
        };
        found.push(Finding {
            span: span.clone(),
            kind: FindingKind::HtmlContext {
                token: *token,
                place,
            },
        });
    }
    if found.is_empty() {
        Ok(contexts)
    } else {
        Err(found)
    }
}

/// Tokens of an HTML body written with character references (`&#36;Event.CodeSignal.Live.Link`,
/// `&dollar;`, `&#x24;`, or any of their letters as references): a browser shows them as the
/// token's text, raw, while the lexer, which reads the source, sees none. Each is a look-alike
/// finding at its `&`.
pub(crate) fn referenced_tokens(source: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut next = 0;
    for amp in memchr::memchr_iter(b'&', source.as_bytes()) {
        if amp < next {
            continue;
        }
        // Decode a window from the `&`, as a browser would: a token name is short.
        let mut decoded = String::new();
        let mut ends = Vec::new();
        let mut at = amp;
        while at < source.len() && decoded.len() < super::lookalike::WINDOW {
            let (c, len) = char_ref(&source[at..]).unwrap_or_else(|| {
                let c = source[at..].chars().next().expect("at is a char boundary");
                (c, c.len_utf8())
            });
            if at == amp && (len == 1 || !(c == '$' || super::lookalike::is_dollar(c))) {
                break; // a plain `&`, or a reference to another character
            }
            decoded.push(c);
            at += len;
            ends.push((decoded.len(), at));
        }
        if !decoded.starts_with(|c: char| c == '$' || super::lookalike::is_dollar(c)) {
            continue;
        }
        let (pieces, findings) = super::lexer::lex(decoded.as_bytes());
        let hit = match (pieces.first(), findings.first()) {
            (Some(super::Piece::Token { token, span }), _) if span.start == 0 => {
                Some((*token, span.end))
            }
            (
                _,
                Some(Finding {
                    span,
                    kind:
                        FindingKind::UnknownToken {
                            why: super::Unknown::LookAlike { token },
                            ..
                        },
                }),
            ) if span.start == 0 => Some((*token, span.end)),
            _ => None,
        };
        let Some((token, decoded_end)) = hit else {
            continue;
        };
        let end = ends
            .iter()
            .find(|(d, _)| *d >= decoded_end)
            .map_or(at, |&(_, s)| s);
        next = end;
        found.push(Finding {
            span: amp..end,
            kind: FindingKind::UnknownToken {
                shape: source[amp..end].to_owned(),
                why: super::Unknown::LookAlike { token },
            },
        });
    }
    found
}

/// The character a character reference at the start of `text` stands for, and its length:
/// numeric (`&#36;`, `&#x24;`, the `;` optional as browsers take it) or the named references
/// of the characters a token is made of (`&dollar;`, `&period;`, `&lowbar;`, `&lbrace;`,
/// `&rbrace;`).
fn char_ref(text: &str) -> Option<(char, usize)> {
    let rest = text.strip_prefix('&')?;
    if let Some(num) = rest.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        let value = u32::from_str_radix(digits.get(..len.min(8))?, radix).ok()?;
        let semi = usize::from(digits[len..].starts_with(';'));
        return Some((char::from_u32(value)?, 1 + skip + len + semi));
    }
    [
        ("dollar;", '$'),
        ("period;", '.'),
        ("lowbar;", '_'),
        ("lbrace;", '{'),
        ("rbrace;", '}'),
    ]
    .into_iter()
    .find(|(name, _)| rest.starts_with(name))
    .map(|(name, c)| (c, 1 + name.len()))
}

/// Attributes whose value is a URL, or a list of URLs (the characters that separate them): a
/// value that is not a link must not be able to choose the scheme of any of them, so it may
/// not stand in a list at all. SVG's
/// animation attributes set another attribute (`<set attributeName="href" to="...">`).
const URL_ATTRIBUTES: [(&str, &[char]); 22] = [
    ("href", &[]),
    ("src", &[]),
    ("action", &[]),
    ("formaction", &[]),
    ("background", &[]),
    ("cite", &[]),
    ("poster", &[]),
    ("longdesc", &[]),
    ("data", &[]),
    ("codebase", &[]),
    ("srcset", &[',']),
    ("imagesrcset", &[',']),
    ("ping", &[' ', '\t', '\n', '\r', '\u{c}']),
    ("archive", &[' ', '\t', '\n', '\r', '\u{c}', ',']),
    ("xlink:href", &[]),
    ("lowsrc", &[]),
    ("dynsrc", &[]),
    ("manifest", &[]),
    ("icon", &[]),
    ("to", &[]),
    ("from", &[]),
    ("values", &[';']),
];

/// Schemes after which a value is only data: the rest of a web link, an address, a number.
const INERT_SCHEMES: [&str; 4] = ["http", "https", "mailto", "tel"];

/// Why a token cannot stand in the quoted value of `attribute` of element `tag` (both
/// lowercase, as the tokenizer gives them), `before` being the value's text before the token,
/// as written (character references not decoded).
fn attribute_danger(tag: &str, attribute: &str, token: Token, before: &str) -> Option<HtmlPlace> {
    if attribute.starts_with("on") || attribute == "style" || attribute == "srcdoc" {
        return Some(HtmlPlace::ActiveAttribute {
            attribute: attribute.to_owned(),
        });
    }
    // Links are checked URLs: wherever they stand they choose no scheme.
    if token.link().is_some() {
        return None;
    }
    // The URL the token is part of: the value, or what follows the delay and `url=` of a
    // `<meta http-equiv=refresh content="0; url=...">`.
    let url = if tag == "meta" && attribute == "content" {
        let after_delay = before.find([';', ',']).map_or(before, |i| &before[i + 1..]);
        let trimmed = after_delay.trim_start();
        trimmed
            .get(..3)
            .filter(|u| u.eq_ignore_ascii_case("url"))
            .and_then(|_| trimmed[3..].trim_start().strip_prefix('='))
            .unwrap_or(after_delay)
    } else {
        let (_, separators) = URL_ATTRIBUTES.iter().find(|(a, _)| *a == attribute)?;
        if !separators.is_empty() {
            // A value holding a separator (`1x, javascript:...`, `;javascript:...`) starts a URL
            // of its own, wherever it stands in the list.
            return Some(HtmlPlace::UrlScheme {
                attribute: attribute.to_owned(),
            });
        }
        before
    };
    if scheme_fixed(url) {
        None
    } else {
        Some(HtmlPlace::UrlScheme {
            attribute: attribute.to_owned(),
        })
    }
}

/// Whether `url`, the start of a URL as written in an attribute, already fixes an inert scheme
/// whatever follows it. A scheme ends at the first `:`, and there is none once a `/`, `?` or
/// `#` came first (a relative URL). A character reference before those (`java&#115;cript&#58;`)
/// may decode to anything, and a browser drops tabs and line breaks inside a scheme
/// (`java\tscript:`): neither fixes it. `javascript:`, `vbscript:` and `data:` make whatever
/// follows code or a document, so they fix nothing either.
fn scheme_fixed(url: &str) -> bool {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    match url.find([':', '/', '?', '#', '&']) {
        Some(i) if url.as_bytes()[i] == b':' => INERT_SCHEMES
            .iter()
            .any(|scheme| url[..i].eq_ignore_ascii_case(scheme)),
        Some(i) => url.as_bytes()[i] != b'&',
        None => false,
    }
}

/// Where the tokenizer put a token.
#[derive(Debug, Clone)]
enum Place {
    Text,
    Quoted {
        tag: String,
        attribute: String,
        value: Range<usize>,
    },
    Refused(HtmlPlace),
}

/// The elements whose content the tokenizer does not read as HTML text, and the state it reads
/// it in, as a browser's tree builder switches it (`noscript` as if scripting were on: its
/// content is refused either way).
fn content_state(element: &[u8]) -> Option<State> {
    Some(match element {
        b"script" => State::ScriptData,
        b"style" | b"xmp" | b"iframe" | b"noembed" | b"noframes" | b"noscript" => State::RawText,
        b"textarea" | b"title" => State::RcData,
        b"plaintext" => State::PlainText,
        _ => return None,
    })
}

/// Follows the tokenizer's events and places every token span they cover.
struct Classifier<'a> {
    source: &'a [u8],
    spans: Vec<Range<usize>>,
    places: Vec<Option<Place>>,
    /// The start tag being read.
    open_tag: Vec<u8>,
    /// The attribute being read.
    attribute: Vec<u8>,
    /// The element whose non-HTML content is being read.
    raw: Option<String>,
    /// The state to switch the tokenizer to after the start tag just closed.
    switch: Option<State>,
}

impl Classifier<'_> {
    /// Places every token within `span` (a token is never cut by an event: it is one run of
    /// letters). A refusal wins over an earlier acceptance: an end tag's span covers the
    /// attribute values it (wrongly) holds.
    fn place(&mut self, span: Span<usize>, place: impl Fn() -> Place) {
        let first = self.spans.partition_point(|s| s.end <= span.start);
        for i in first..self.spans.len() {
            let token = &self.spans[i];
            if token.start >= span.end {
                break;
            }
            let new = if token.start >= span.start && token.end <= span.end {
                place()
            } else {
                Place::Refused(HtmlPlace::Markup)
            };
            match (&self.places[i], &new) {
                (Some(Place::Refused(_)), _) => {}
                (Some(_), Place::Text | Place::Quoted { .. }) => {}
                _ => self.places[i] = Some(new),
            }
        }
    }

    fn name(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl Callback<Infallible, usize> for &mut Classifier<'_> {
    fn handle_event(&mut self, event: CallbackEvent<'_>, span: Span<usize>) -> Option<Infallible> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.open_tag.clear();
                self.open_tag.extend_from_slice(name);
                self.place(span, || Place::Refused(HtmlPlace::TagName));
            }
            CallbackEvent::AttributeName { name } => {
                self.attribute.clear();
                self.attribute.extend_from_slice(name);
                self.place(span, || Place::Refused(HtmlPlace::AttributeName));
            }
            CallbackEvent::AttributeValue { .. } => {
                let attribute = Classifier::name(&self.attribute);
                let tag = Classifier::name(&self.open_tag);
                // A quoted value's span starts after its quote; an unquoted one's after `=` or
                // white space.
                let quoted = span.start > 0 && matches!(self.source[span.start - 1], b'"' | b'\'');
                let value = span.start..span.end;
                if quoted {
                    self.place(span, || Place::Quoted {
                        tag: tag.clone(),
                        attribute: attribute.clone(),
                        value: value.clone(),
                    });
                } else {
                    let text = String::from_utf8_lossy(&self.source[value.clone()]).into_owned();
                    self.place(span, || {
                        Place::Refused(HtmlPlace::UnquotedAttribute {
                            attribute: attribute.clone(),
                            value: text.clone(),
                        })
                    });
                }
            }
            CallbackEvent::CloseStartTag { .. } => {
                self.switch = content_state(&self.open_tag);
                if self.switch.is_some() {
                    self.raw = Some(Classifier::name(&self.open_tag));
                }
            }
            CallbackEvent::EndTag { .. } => {
                // In a raw state only the element's own end tag is a tag at all.
                self.raw = None;
                self.place(span, || Place::Refused(HtmlPlace::TagName));
            }
            CallbackEvent::String { .. } => match &self.raw {
                None => self.place(span, || Place::Text),
                Some(element) => {
                    let element = element.clone();
                    self.place(span, || {
                        Place::Refused(HtmlPlace::RawText {
                            element: element.clone(),
                        })
                    })
                }
            },
            CallbackEvent::Comment { .. } => {
                self.place(span, || Place::Refused(HtmlPlace::Comment));
            }
            CallbackEvent::Doctype { .. } => {
                self.place(span, || Place::Refused(HtmlPlace::Markup));
            }
            CallbackEvent::Error(_) => {}
        }
        None
    }
}

/// The callback emitter, with the content states of [`content_state`] switched to after a start
/// tag (html5gum's own `naive_next_state` misses `noframes`).
struct Switching<'c, 'a> {
    inner: CallbackEmitter<&'c mut Classifier<'a>, Infallible, usize>,
}

impl ForwardingEmitter for Switching<'_, '_> {
    type Token = Infallible;

    fn inner(&mut self) -> &mut impl Emitter<Token = Infallible> {
        &mut self.inner
    }

    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn emit_current_tag(&mut self) -> Option<State> {
        let _ = self.inner.emit_current_tag();
        let next = self.inner.callback_mut().switch.take();
        if next.is_some() {
            // The text that follows starts here, as the callback emitter does for its own
            // switches.
            self.inner.init_string();
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The context of each token of `source`, or the places of the refused ones.
    fn of(source: &str) -> Result<Vec<Context>, Vec<HtmlPlace>> {
        let t = super::super::Template::parse(source).unwrap();
        let tokens: Vec<_> = t.tokens().collect();
        contexts(source, &tokens).map_err(|found| {
            found
                .into_iter()
                .map(|f| match f.kind {
                    FindingKind::HtmlContext { place, .. } => place,
                    other => panic!("{other:?}"),
                })
                .collect()
        })
    }

    #[test]
    fn text_and_quoted_attributes_are_accepted() {
        assert_eq!(
            of(
                r#"<p title='$Candidate.Name'>Hi $Candidate.Name,</p><a href="$Event.CodeSignal.Live.Link">x</a>"#
            ),
            Ok(vec![
                Context::HtmlAttribute,
                Context::HtmlText,
                Context::HtmlAttribute
            ])
        );
    }

    #[test]
    fn a_gt_in_an_earlier_quoted_attribute_does_not_end_the_tag() {
        assert_eq!(
            of(
                r#"<a title="a>b" href="$Event.CodeSignal.Live.Link">x</a> $Event.CodeSignal.Live.Link"#
            ),
            Ok(vec![Context::HtmlAttribute, Context::HtmlText])
        );
    }

    #[test]
    fn spans_survive_crlf_nul_and_character_references() {
        assert_eq!(
            of(
                "<p\r\n class=\"&amp;\0\">\r\n&lt;\0\r\n$Candidate.Name</p>\r\n<b title=\"\r\n&quot;$Candidate.Name\">"
            ),
            Ok(vec![Context::HtmlText, Context::HtmlAttribute])
        );
        assert_eq!(
            of("<p>\r\r$Candidate.Name\r</p><b\rtitle=\"\r$Event.Topic\">é\u{2028}$Event.End"),
            Ok(vec![
                Context::HtmlText,
                Context::HtmlAttribute,
                Context::HtmlText
            ])
        );
    }

    #[test]
    fn refused_places() {
        let unquoted = HtmlPlace::UnquotedAttribute {
            attribute: "alt".into(),
            value: "$Candidate.Name".into(),
        };
        assert_eq!(of("<img alt=$Candidate.Name>"), Err(vec![unquoted]));
        assert_eq!(of("<$Candidate.Name>"), Err(vec![HtmlPlace::TagName]));
        assert_eq!(of("</$Candidate.Name>"), Err(vec![HtmlPlace::TagName]));
        assert_eq!(of("<b$Candidate.Name>"), Err(vec![HtmlPlace::TagName]));
        assert_eq!(
            of("<b $Candidate.Name>"),
            Err(vec![HtmlPlace::AttributeName])
        );
        assert_eq!(
            of("<b x=\"1\"$Candidate.Name=2>"),
            Err(vec![HtmlPlace::AttributeName])
        );
        assert_eq!(
            of("<!-- $Candidate.Name -->"),
            Err(vec![HtmlPlace::Comment])
        );
        assert_eq!(of("<!$Candidate.Name>"), Err(vec![HtmlPlace::Comment]));
        assert_eq!(
            of("<!DOCTYPE html $Candidate.Name>"),
            Err(vec![HtmlPlace::Markup])
        );
        assert_eq!(
            of("</p title=\"$Candidate.Name\">"),
            Err(vec![HtmlPlace::TagName])
        );
        for element in ["script", "style", "title", "textarea", "noframes", "xmp"] {
            assert_eq!(
                of(&format!(
                    "<{element}>$Candidate.Name</{element}> $Candidate.Name"
                )),
                Err(vec![HtmlPlace::RawText {
                    element: element.into()
                }]),
                "{element}"
            );
        }
        assert_eq!(
            of("<a onclick=\"$Candidate.Name\" style='$Event.Topic'>"),
            Err(vec![
                HtmlPlace::ActiveAttribute {
                    attribute: "onclick".into()
                },
                HtmlPlace::ActiveAttribute {
                    attribute: "style".into()
                }
            ])
        );
    }

    #[test]
    fn only_links_choose_a_url_scheme() {
        let href = || HtmlPlace::UrlScheme {
            attribute: "href".into(),
        };
        assert_eq!(of(r#"<a href="$Candidate.Name">"#), Err(vec![href()]));
        assert_eq!(of(r#"<a HREF="java$Event.Topic">"#), Err(vec![href()]));
        assert_eq!(
            of(r#"<a href="https://x.example/?n=$Candidate.Name"><img src="/p/$Event.Topic">"#),
            Ok(vec![Context::HtmlAttribute, Context::HtmlAttribute])
        );
        assert_eq!(
            of(r#"<a href="$Interview.CodeSignal.Live.Link#$Candidate.Name">"#),
            Ok(vec![Context::HtmlAttribute, Context::HtmlAttribute])
        );
        // A scheme that runs what follows, or one that may decode or unfold to anything.
        for start in [
            "javascript:",
            " JavaScript:alert(&#39;",
            "vbscript:",
            "data:text/html,",
            "&#106;avascript:",
            "java&#115;cript&#58;//%0a",
            "java\tscript:",
        ] {
            assert_eq!(
                of(&format!(r#"<a href="{start}$Candidate.Name">"#)),
                Err(vec![href()]),
                "{start}"
            );
        }
        assert_eq!(
            of(r#"<a href="mailto:$Candidate.Name"><a href="/x?a&amp;b=$Event.Topic">"#),
            Ok(vec![Context::HtmlAttribute, Context::HtmlAttribute])
        );
    }

    #[test]
    fn every_url_of_a_list_and_of_svg_animations_and_refreshes_is_a_url() {
        let refused = |attribute: &str| {
            Err(vec![HtmlPlace::UrlScheme {
                attribute: attribute.into(),
            }])
        };
        assert_eq!(
            of(r#"<img srcset="/a.png 1x, $Candidate.Name 2x">"#),
            refused("srcset")
        );
        assert_eq!(of(r#"<a ping="/p $Candidate.Name">"#), refused("ping"));
        assert_eq!(
            of(r#"<svg><set attributeName="href" to="$Candidate.Name"/></svg>"#),
            refused("to")
        );
        assert_eq!(
            of(r#"<svg><animate attributeName="href" values="/a;$Candidate.Name"/></svg>"#),
            refused("values")
        );
        for content in ["0;url=", "5; URL = ", "0,", "0"] {
            assert_eq!(
                of(&format!(
                    r#"<meta http-equiv="refresh" content="{content}$Candidate.Name">"#
                )),
                refused("content"),
                "{content}"
            );
        }
        assert_eq!(
            of(r#"<img srcset="/a.png?n=$Event.Topic 2x">"#),
            refused("srcset")
        );
        assert_eq!(
            of(
                r#"<meta http-equiv="refresh" content="0; url=https://x.example/?n=$Candidate.Name"><img srcset="$Event.CodeSignal.Live.Link 2x">"#
            ),
            Ok(vec![Context::HtmlAttribute, Context::HtmlAttribute])
        );
    }
}
