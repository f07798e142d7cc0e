//! A release as one text document — what text clients (the Nacos API) publish and read — and
//! its MD5.
//!
//! A namespace that is not `properties` holds its document in the item [`CONTENT_KEY`], byte
//! for byte. A `properties` namespace holds key/value items: a published properties text is
//! parsed into items with `java.util.Properties` rules (so Java clients and keel agree on what
//! it says) and kept as published beside them ([`Release::raw_content`]); a release made from
//! the working copy is rendered as `key=value` lines sorted by key, escaped the way
//! `Properties.store` escapes them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use md5::{Digest, Md5};

use crate::{CONTENT_KEY, Error, Format, Release, Result};

/// The release as one text: the text it was published as, else its `content` item, else (for
/// `properties`) its items rendered.
pub fn text_of(release: &Release, format: Format) -> Cow<'_, str> {
    if let Some(raw) = &release.raw_content {
        return Cow::Borrowed(raw);
    }
    match format {
        Format::Properties => Cow::Owned(render_properties(&release.configs)),
        _ => Cow::Borrowed(release.configs.get(CONTENT_KEY).map_or("", String::as_str)),
    }
}

/// The lowercase hex MD5 of `text`'s UTF-8 bytes (what Nacos clients compare).
pub fn md5_hex(text: &str) -> String {
    let digest = Md5::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The items a properties text sets, read as `java.util.Properties.load` reads it: `=`, `:` or
/// whitespace between key and value; `#` and `!` comment lines; a line ending in an odd
/// number of backslashes continues on the next; `\t \n \r \f \uXXXX` escapes (any other
/// escaped character stands for itself); the last of duplicate keys wins.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>> {
    let mut configs = BTreeMap::new();
    for line in logical_lines(text) {
        let (key, value) = split_entry(&line);
        configs.insert(unescape(key)?, unescape(value)?);
    }
    Ok(configs)
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Whether `line` ends in an odd number of backslashes (a continuation).
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The logical lines of a properties text: comments and blank lines dropped, continuations
/// joined (without their backslash and the next line's leading blanks).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    // Java ends a line at \n, \r or \r\n (one terminator, not two).
    let naturals = text
        .split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'));
    for natural in naturals {
        let trimmed = natural.trim_start_matches(is_blank);
        match current.take() {
            Some(mut joined) => {
                if continues(trimmed) {
                    joined.push_str(&trimmed[..trimmed.len() - 1]);
                    current = Some(joined);
                } else {
                    joined.push_str(trimmed);
                    lines.push(joined);
                }
            }
            None => {
                if trimmed.is_empty() || trimmed.starts_with(['#', '!']) {
                    continue;
                }
                if continues(trimmed) {
                    current = Some(trimmed[..trimmed.len() - 1].to_owned());
                } else {
                    lines.push(trimmed.to_owned());
                }
            }
        }
    }
    lines.extend(current);
    lines
}

/// Splits a logical line into its (still escaped) key and value.
fn split_entry(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut separator = None;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => {
                key_end = i;
                separator = Some(c);
                break;
            }
            c if is_blank(c) => {
                key_end = i;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    if separator.is_some() {
        rest = &rest[1..];
    } else {
        // Blanks, then at most one `=` or `:`, then blanks.
        rest = rest.trim_start_matches(is_blank);
        if let Some(after) = rest.strip_prefix(['=', ':']) {
            rest = after;
        }
    }
    (key, rest.trim_start_matches(is_blank))
}

/// Resolves the escapes of a key or value.
fn unescape(text: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let code = hex4(&mut chars)?;
                // Java strings are UTF-16: a character outside the BMP arrives as two escapes
                // (`\uD83D\uDE00`). An unpaired half becomes U+FFFD.
                let mut lookahead = chars.clone();
                let pair = if (0xD800..0xDC00).contains(&code)
                    && lookahead.next() == Some('\\')
                    && lookahead.next() == Some('u')
                {
                    hex4(&mut lookahead)
                        .ok()
                        .filter(|low| (0xDC00..0xE000).contains(low))
                } else {
                    None
                };
                let decoded = match pair {
                    Some(low) => {
                        chars = lookahead;
                        0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    None => code,
                };
                out.push(char::from_u32(decoded).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            // A trailing lone backslash (the end of the text) is dropped, as Java does.
            None => {}
        }
    }
    Ok(out)
}

/// The four hex digits of a `\uXXXX` escape.
fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32> {
    let hex: String = chars.by_ref().take(4).collect();
    (hex.len() == 4)
        .then(|| u32::from_str_radix(&hex, 16).ok())
        .flatten()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "malformed \\uxxxx escape \"\\u{hex}\" in the properties text"
            ))
        })
}

/// A properties text with one `key=value` line per item, in key order, escaped as
/// `Properties.store` escapes (without its date comment, so equal items render equally).
pub fn render_properties(configs: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (key, value) in configs {
        escape_into(&mut out, key, true);
        out.push('=');
        escape_into(&mut out, value, false);
        out.push('\n');
    }
    out
}

/// `Properties.saveConvert`: backslash, the separators and comment starts, `\t \n \r \f`,
/// other control characters as `\uXXXX`; every space of a key, and a value's leading space.
fn escape_into(out: &mut String, text: &str, is_key: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse_properties(text).unwrap().into_iter().collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn md5_is_lowercase_hex_of_the_utf8_bytes() {
        // Nacos's own examples (open-api doc; nacos-sdk-python recording).
        assert_eq!(md5_hex("contentTest"), "9f67e6977b100e00cab385a75597db58");
        assert_eq!(md5_hex("a=1"), "3872c9ae3f427af0be0ead09d07ae2cf");
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! also\n\n  a=1\nb : 2\nc 3\nd\te\nempty=\nflag\n";
        assert_eq!(
            parsed(text),
            pairs(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "e"),
                ("empty", ""),
                ("flag", "")
            ])
        );
    }

    #[test]
    fn continuations_escapes_and_duplicates() {
        let text = "list=a,\\\n    b,\\\r\n  c\nkey\\ with\\ spaces=x\\=y\\:z\nu=\\u00e9\\t!\nk=1\nk=2\\\\";
        assert_eq!(
            parsed(text),
            pairs(&[
                ("k", "2\\"),
                ("key with spaces", "x=y:z"),
                ("list", "a,b,c"),
                ("u", "é\t!"),
            ])
        );
        // CR alone ends a line too; a comment line never continues.
        assert_eq!(
            parsed("a=1\rb=2\n# x \\\nc=3"),
            pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
        );
        assert_eq!(
            parsed("e=\\uD83D\\uDE00 \\uD83D"),
            pairs(&[("e", "😀 \u{fffd}")])
        );
        assert!(parse_properties("a=\\u12").is_err());
        assert!(parse_properties("a=\\uzzzz").is_err());
    }

    #[test]
    fn rendering_reads_back_to_the_same_items() {
        let configs: BTreeMap<String, String> = [
            ("a", "1"),
            ("k:e=y", " lead and trail "),
            ("multi", "line1\nline2\ttab\\"),
            ("ünï", "cödé # ! = :"),
            ("ctl", "\u{1}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let text = render_properties(&configs);
        assert!(text.starts_with("a=1\n"), "{text}");
        assert!(text.contains("k\\:e\\=y=\\ lead and trail \n"), "{text}");
        assert_eq!(parse_properties(&text).unwrap(), configs);
    }

    #[test]
    fn the_text_of_a_release() {
        let mut release = Release {
            release_key: "r".into(),
            namespace: crate::NamespaceId {
                env: "e".into(),
                app: "a".into(),
                cluster: "default".into(),
                namespace: "n".into(),
            },
            name: String::new(),
            comment: String::new(),
            configs: [
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "1".to_owned()),
            ]
            .into(),
            created_at: 0,
            created_by: String::new(),
            rolled_back_from: None,
            raw_content: None,
            content_type: None,
        };
        assert_eq!(text_of(&release, Format::Properties), "a=1\nb=2\n");
        release.raw_content = Some("# mine\nb = 2\na = 1".into());
        assert_eq!(
            text_of(&release, Format::Properties),
            "# mine\nb = 2\na = 1"
        );
        release.raw_content = None;
        release.configs = [(CONTENT_KEY.to_owned(), "{}".to_owned())].into();
        assert_eq!(text_of(&release, Format::Json), "{}");
    }
}
