//! The normative grammar in `grammar/` against the implementation.
//!
//! - Every example in a fenced `examples` block of `grammar/README.md` is run through
//!   [`Template::parse`], and its pieces (or its findings) must be exactly the ones written there.
//!   The format is described in that README; a line that does not follow it fails the test, and
//!   so does finding fewer examples than [`MIN_EXAMPLES`], so that no format change can quietly
//!   skip them.
//! - The token lists in `grammar/tokens.abnf`, in the table of `grammar/README.md` and in the
//!   table of the top-level README are the names of [`Token::ALL`], both ways.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;

use invitoken::{Finding, FindingKind, Piece, Template, Token, Unknown};

/// Fewer examples than this means the examples were not all found.
const MIN_EXAMPLES: usize = 100;

/// The arrow between an example's input and what it is expected to give.
const ARROW: char = '\u{27F6}';

fn read(relative: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), relative].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn token_named(name: &str) -> Option<Token> {
    Token::ALL.into_iter().find(|t| t.name() == name)
}

// ---------------------------------------------------------------------------------------------
// The example notation
// ---------------------------------------------------------------------------------------------

/// One expected (or actual) item of an example's result.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Text(String),
    Token(Token),
    Error {
        shape: String,
        /// Byte offset of the shape; `None` in an expectation means "the next occurrence".
        at: Option<usize>,
        why: Why,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Why {
    Misspelt(Option<Token>),
    WrongCase(Token),
    Unsupported(String),
    LookAlike(Token),
}

/// One example: where it is, its input, and what it must give.
struct Example {
    line_no: usize,
    line: String,
    input: String,
    expected: Vec<Item>,
}

/// A cursor over one line of the notation.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches(' ');
    }

    fn eat(&mut self, prefix: &str) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, prefix: &str) -> Result<(), String> {
        if self.eat(prefix) {
            Ok(())
        } else {
            Err(format!("expected `{prefix}` at `{}`", self.rest))
        }
    }

    /// A string literal: `"` ... `"` with `\"`, `\\`, `\n`, `\r`, `\t` and `\u{HEX}`.
    fn string(&mut self) -> Result<String, String> {
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('u') => {
                        if chars.next().map(|(_, c)| c) != Some('{') {
                            return Err("`\\u` must be followed by `{HEX}`".into());
                        }
                        let mut hex = String::new();
                        loop {
                            match chars.next().map(|(_, c)| c) {
                                Some('}') => break,
                                Some(c) if c.is_ascii_hexdigit() => hex.push(c),
                                _ => return Err(format!("bad `\\u{{{hex}` escape")),
                            }
                        }
                        let code = u32::from_str_radix(&hex, 16)
                            .map_err(|e| format!("bad `\\u{{{hex}}}`: {e}"))?;
                        out.push(
                            char::from_u32(code)
                                .ok_or_else(|| format!("`\\u{{{hex}}}` is not a character"))?,
                        );
                    }
                    other => return Err(format!("unknown escape `\\{}`", other.unwrap_or(' '))),
                },
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }

    /// Characters up to (not including) `end`.
    fn until(&mut self, end: char) -> Result<&'a str, String> {
        let i = self
            .rest
            .find(end)
            .ok_or_else(|| format!("expected `{end}` in `{}`", self.rest))?;
        let (word, rest) = self.rest.split_at(i);
        self.rest = rest;
        Ok(word)
    }

    fn number(&mut self) -> Result<usize, String> {
        let digits = self.rest.len()
            - self
                .rest
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        let (n, rest) = self.rest.split_at(digits);
        self.rest = rest;
        n.parse().map_err(|e| format!("bad offset `{n}`: {e}"))
    }

    /// A token name written in a string, with its `$`.
    fn token_string(&mut self) -> Result<Token, String> {
        let name = self.string()?;
        token_named(&name).ok_or_else(|| format!("`{name}` is not a known token"))
    }

    fn item(&mut self) -> Result<Item, String> {
        if self.eat("text(") {
            let text = self.string()?;
            self.expect(")")?;
            Ok(Item::Text(text))
        } else if self.eat("token(") {
            let name = self.until(')')?;
            self.expect(")")?;
            let token = token_named(&format!("${name}"))
                .ok_or_else(|| format!("`${name}` is not a known token"))?;
            Ok(Item::Token(token))
        } else if self.eat("error(") {
            let kind = self.until(',')?;
            self.expect(",")?;
            self.skip_spaces();
            let shape = self.string()?;
            let at = if self.eat("@") {
                Some(self.number()?)
            } else {
                None
            };
            self.expect(",")?;
            self.skip_spaces();
            let why = match kind {
                "misspelt" if self.eat("no suggestion") => Why::Misspelt(None),
                "misspelt" => {
                    self.expect("suggestion ")?;
                    Why::Misspelt(Some(self.token_string()?))
                }
                "wrong-case" => {
                    self.expect("meant ")?;
                    Why::WrongCase(self.token_string()?)
                }
                "unsupported" => {
                    self.expect("vendor ")?;
                    Why::Unsupported(self.string()?)
                }
                "look-alike" => {
                    self.expect("meant ")?;
                    Why::LookAlike(self.token_string()?)
                }
                other => return Err(format!("unknown error kind `{other}`")),
            };
            self.expect(")")?;
            Ok(Item::Error { shape, at, why })
        } else {
            Err(format!(
                "expected `text(`, `token(` or `error(` at `{}`",
                self.rest
            ))
        }
    }
}

/// Parses `"INPUT" ⟶ EXPECTED`.
fn parse_example(line: &str) -> Result<(String, Vec<Item>), String> {
    let mut cursor = Cursor { rest: line };
    let input = cursor.string()?;
    cursor.skip_spaces();
    cursor.expect(&ARROW.to_string())?;
    cursor.skip_spaces();
    if cursor.eat("nothing") {
        return if cursor.rest.trim().is_empty() {
            Ok((input, Vec::new()))
        } else {
            Err(format!("unexpected `{}` after `nothing`", cursor.rest))
        };
    }
    let mut items = Vec::new();
    while !cursor.rest.is_empty() {
        items.push(cursor.item()?);
        cursor.skip_spaces();
    }
    if items.is_empty() {
        return Err("nothing expected: write `nothing` for no pieces".into());
    }
    let errors = items
        .iter()
        .filter(|i| matches!(i, Item::Error { .. }))
        .count();
    if errors != 0 && errors != items.len() {
        return Err("an example expects either pieces or errors, not both".into());
    }
    Ok((input, items))
}

/// Every example of every fenced `examples` block of `markdown`.
fn examples(markdown: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut in_examples = false;
    let mut fence_open = false;
    for (i, line) in markdown.lines().enumerate() {
        let line_no = i + 1;
        if let Some(info) = line.trim_start().strip_prefix("```") {
            if fence_open {
                fence_open = false;
                in_examples = false;
            } else {
                fence_open = true;
                let info = info.trim();
                in_examples = info == "examples";
                if !in_examples && info.starts_with("example") {
                    problems.push(format!(
                        "line {line_no}: fence `{info}` is not `examples`: its examples would be skipped"
                    ));
                }
            }
            continue;
        }
        if !in_examples || line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_example(line) {
            Ok((input, expected)) => out.push(Example {
                line_no,
                line: line.to_owned(),
                input,
                expected,
            }),
            Err(e) => problems.push(format!("line {line_no}: {e}\n    {line}")),
        }
    }
    if fence_open {
        problems.push("a fenced block is not closed".into());
    }
    assert!(
        problems.is_empty(),
        "grammar/README.md examples do not follow the format:\n{}",
        problems.join("\n")
    );
    out
}

// ---------------------------------------------------------------------------------------------
// The actual result, in the same notation
// ---------------------------------------------------------------------------------------------

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || (c.is_whitespace() && c != ' ') || is_invisible(c) => {
                write!(out, "\\u{{{:X}}}", c as u32).unwrap();
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{A0}'
    )
}

fn show(items: &[Item]) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<String> = items
        .iter()
        .map(|item| match item {
            Item::Text(text) => format!("text({})", quote(text)),
            Item::Token(token) => format!("token({})", &token.name()[1..]),
            Item::Error { shape, at, why } => {
                let at = at.map(|n| format!("@{n}")).unwrap_or_default();
                let why = match why {
                    Why::Misspelt(Some(t)) => {
                        format!("misspelt, {}{at}, suggestion \"{t}\"", quote(shape))
                    }
                    Why::Misspelt(None) => format!("misspelt, {}{at}, no suggestion", quote(shape)),
                    Why::WrongCase(t) => format!("wrong-case, {}{at}, meant \"{t}\"", quote(shape)),
                    Why::Unsupported(v) => {
                        format!("unsupported, {}{at}, vendor {}", quote(shape), quote(v))
                    }
                    Why::LookAlike(t) => format!("look-alike, {}{at}, meant \"{t}\"", quote(shape)),
                };
                format!("error({why})")
            }
        })
        .collect();
    shown.join(" ")
}

fn finding_item(source: &str, finding: &Finding) -> Result<Item, String> {
    let FindingKind::UnknownToken { shape, why } = &finding.kind else {
        return Err(format!("unexpected finding from the lexer: {finding:?}"));
    };
    if source.get(finding.span.clone()) != Some(shape.as_str()) {
        return Err(format!(
            "finding span {:?} does not hold its shape `{shape}`",
            finding.span
        ));
    }
    let why = match why {
        Unknown::Misspelt { suggestion } => Why::Misspelt(*suggestion),
        Unknown::WrongCase { token } => Why::WrongCase(*token),
        Unknown::Unsupported { vendor } => Why::Unsupported(vendor.clone()),
        Unknown::LookAlike { token } => Why::LookAlike(*token),
        other => return Err(format!("unexpected kind of unknown token: {other:?}")),
    };
    Ok(Item::Error {
        shape: shape.clone(),
        at: Some(finding.span.start),
        why,
    })
}

/// Checks that the pieces cover `source` in order, leaving out only the first `$` of each `$$`
/// escape, and gives them as items.
fn piece_items(source: &str, pieces: &[Piece]) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut covered = 0;
    for piece in pieces {
        let range: &Range<usize> = match piece {
            Piece::Text(range) => range,
            Piece::Token { span, .. } => span,
        };
        let gap = source.get(covered..range.start);
        match gap {
            Some("") => {}
            Some("$") if source[range.start..].starts_with('$') => {}
            _ => {
                return Err(format!(
                    "piece {range:?} does not follow the previous one (ends at {covered}): gap {gap:?}"
                ));
            }
        }
        let text = source
            .get(range.clone())
            .ok_or_else(|| format!("piece {range:?} is not a range of the source"))?;
        items.push(match piece {
            Piece::Text(_) => Item::Text(text.to_owned()),
            Piece::Token { token, .. } => {
                if text != token.name() {
                    return Err(format!(
                        "token {token} spans {range:?}, which holds `{text}`"
                    ));
                }
                Item::Token(*token)
            }
        });
        covered = range.end;
    }
    if covered != source.len() {
        return Err(format!(
            "the pieces end at {covered}, the source at {}",
            source.len()
        ));
    }
    Ok(items)
}

/// The actual result of `input`, with every error at its offset.
fn actual(input: &str) -> Result<Vec<Item>, String> {
    match Template::parse(input) {
        Ok(template) => {
            if template.source() != input {
                return Err("the template's source is not its input".into());
            }
            piece_items(input, template.pieces())
        }
        Err(findings) => {
            if findings.is_empty() {
                return Err("parse failed with no findings".into());
            }
            findings.iter().map(|f| finding_item(input, f)).collect()
        }
    }
}

/// Gives every expected error without `@N` its offset: the first occurrence of its shape at or
/// after the end of the previous error.
fn place_errors(input: &str, expected: &mut [Item]) -> Result<(), String> {
    let mut from = 0;
    for item in expected {
        if let Item::Error { shape, at, .. } = item {
            let start = match at {
                Some(n) => *n,
                None => {
                    let found = input
                        .get(from..)
                        .and_then(|rest| rest.find(shape.as_str()))
                        .ok_or_else(|| {
                            format!("`{shape}` does not occur in the input after byte {from}")
                        })?;
                    *at = Some(from + found);
                    from + found
                }
            };
            from = start + shape.len();
        }
    }
    Ok(())
}

#[test]
fn every_example_in_the_grammar_readme_holds() {
    let examples = examples(&read("grammar/README.md"));
    assert!(
        examples.len() >= MIN_EXAMPLES,
        "found only {} examples in grammar/README.md (at least {MIN_EXAMPLES} expected): has the format changed?",
        examples.len()
    );
    let mut failures = Vec::new();
    for example in &examples {
        let mut expected = example.expected.clone();
        let result =
            place_errors(&example.input, &mut expected).and_then(|()| actual(&example.input));
        match result {
            Ok(actual) if actual == expected => {}
            Ok(actual) => failures.push(format!(
                "grammar/README.md:{}: {}\n    expected: {}\n    actual:   {}",
                example.line_no,
                example.line,
                show(&expected),
                show(&actual)
            )),
            Err(e) => failures.push(format!(
                "grammar/README.md:{}: {}\n    {e}",
                example.line_no, example.line
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples fail:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_notation_round_trips() {
    // What `show` prints for a failure must read back as the same expectation.
    for example in examples(&read("grammar/README.md")) {
        let mut expected = example.expected.clone();
        place_errors(&example.input, &mut expected).unwrap();
        let line = format!("{} {ARROW} {}", quote(&example.input), show(&expected));
        let (input, mut reread) = parse_example(&line)
            .unwrap_or_else(|e| panic!("line {}: {e}\n    {line}", example.line_no));
        place_errors(&input, &mut reread).unwrap();
        assert_eq!(
            (input, reread),
            (example.input.clone(), expected),
            "line {}",
            example.line_no
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The token lists
// ---------------------------------------------------------------------------------------------

fn all_names() -> Vec<&'static str> {
    Token::ALL.into_iter().map(Token::name).collect()
}

/// Compares a list of names with `Token::ALL`'s, naming what is missing and what is extra.
fn assert_names(what: &str, names: &[String], in_order: bool) {
    let all = all_names();
    let missing: Vec<&str> = all
        .iter()
        .copied()
        .filter(|n| !names.iter().any(|m| m == n))
        .collect();
    let extra: Vec<&String> = names
        .iter()
        .filter(|n| !all.contains(&n.as_str()))
        .collect();
    let mut sorted = names.to_vec();
    sorted.sort();
    sorted.dedup();
    assert!(
        missing.is_empty() && extra.is_empty() && sorted.len() == names.len(),
        "{what}: missing {missing:?}, not in Token::ALL {extra:?}, {} duplicate(s)",
        names.len() - sorted.len()
    );
    if in_order {
        assert_eq!(names, all, "{what}: not in the order of Token::ALL");
    }
}

/// The rules of an ABNF text, comments removed: name, and its definition with continuations.
fn abnf_rules(abnf: &str) -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = Vec::new();
    for line in abnf.lines() {
        // Drop the comment: a `;` outside a quoted string.
        let mut quoted = false;
        let mut end = line.len();
        for (i, c) in line.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let line = &line[..end];
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (name, definition) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not a rule: `{line}`"));
            rules.push((name.trim().to_owned(), definition.to_owned()));
        } else {
            let (_, definition) = rules
                .last_mut()
                .unwrap_or_else(|| panic!("continuation before any rule: `{line}`"));
            definition.push(' ');
            definition.push_str(line);
        }
    }
    rules
}

/// The strings of a rule that is nothing but alternatives of strings of one kind (`%s"..."` when
/// `case_sensitive`, else plain `"..."`).
fn string_alternatives(name: &str, definition: &str, case_sensitive: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = Cursor { rest: definition };
    loop {
        cursor.rest = cursor.rest.trim_start();
        let prefix = if case_sensitive { "%s\"" } else { "\"" };
        assert!(
            cursor.rest.starts_with(prefix),
            "rule `{name}` should be alternatives of {prefix}...\" strings, found `{}`",
            cursor.rest
        );
        if case_sensitive {
            cursor.expect("%s").unwrap();
        }
        out.push(cursor.string().unwrap());
        cursor.rest = cursor.rest.trim_start();
        if cursor.rest.is_empty() {
            return out;
        }
        assert!(
            cursor.eat("/"),
            "rule `{name}`: expected `/` at `{}`",
            cursor.rest
        );
    }
}

#[test]
fn the_abnf_lists_exactly_the_known_tokens() {
    let rules = abnf_rules(&read("grammar/tokens.abnf"));
    let rule = |name: &str| {
        let found: Vec<&String> = rules
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, d)| d)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "rule `{name}` defined {} times",
            found.len()
        );
        found[0].clone()
    };
    let known = string_alternatives("known-token", &rule("known-token"), true);
    assert_names("grammar/tokens.abnf known-token", &known, true);
    let wrong_case = string_alternatives("wrong-case", &rule("wrong-case"), false);
    assert_names("grammar/tokens.abnf wrong-case", &wrong_case, true);
    // Every rule used is defined (core rules of RFC 5234 aside), and the shape rule is the one
    // the lexer implements.
    let shape = rule("token-shape");
    assert_eq!(shape.trim(), r#""$" ident 1*( "." ident )"#);
}

/// The backquoted `$…` names in the first cell of each row of the markdown table that follows
/// `heading`.
fn table_names(markdown: &str, heading: &str) -> Vec<String> {
    let mut lines = markdown.lines().skip_while(|l| l.trim() != heading).skip(1);
    let rows: Vec<&str> = lines
        .by_ref()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(rows.len() > 2, "no table after `{heading}`");
    let mut names = Vec::new();
    for row in &rows[2..] {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for (i, part) in first_cell.split('`').enumerate() {
            if i % 2 == 1 {
                assert!(part.starts_with('$'), "`{part}` in `{row}` is not a token");
                names.push(part.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_grammar_readme_table_lists_exactly_the_known_tokens() {
    let names = table_names(&read("grammar/README.md"), "## The tokens");
    assert_names("grammar/README.md table", &names, true);
}

#[test]
fn the_readme_table_lists_exactly_the_known_tokens() {
    // The top-level README groups some tokens in one row; order is not checked there.
    let names = table_names(&read("README.md"), "## Tokens");
    assert_names("README.md table", &names, false);
}
