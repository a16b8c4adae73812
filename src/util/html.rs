//! HTML escaping, shared by the renderer and the `.ics` rewriter (an `X-ALT-DESC` body).

/// Appends `value` escaped for html text and double- or single-quoted attributes.
pub fn escape_html(value: &str, out: &mut String) {
    // Most values (names, times, URLs) need nothing: a branch-free pass the compiler can
    // vectorise decides that before the byte-by-byte loop.
    let special = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    if !value.bytes().fold(false, |any, b| any | special(b)) {
        out.push_str(value);
        return;
    }
    let mut last = 0;
    for (i, b) in value.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&value[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&value[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_text_and_attributes() {
        let mut out = String::new();
        escape_html(r#"A & <B> "q" 'r'"#, &mut out);
        assert_eq!(out, "A &amp; &lt;B&gt; &quot;q&quot; &#39;r&#39;");
    }
}
