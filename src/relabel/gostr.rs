//! Small string helpers that reproduce Go standard library behaviour: `%q` quoting and
//! `strings.ToLower` / `strings.ToUpper` (per-rune simple case mapping).

use regex::Regex;
use std::fmt::Write;
use std::sync::LazyLock;

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space.
static PRINTABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$").expect("static regex"));

fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 4];
    PRINTABLE.is_match(c.encode_utf8(&mut buf))
}

/// Quotes `s` like Go's `%q` verb (`strconv.Quote`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if is_print(c) => out.push(c),
            '\u{07}' => out.push_str(r"\a"),
            '\u{08}' => out.push_str(r"\b"),
            '\u{0C}' => out.push_str(r"\f"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            '\u{0B}' => out.push_str(r"\v"),
            _ if c < ' ' || c == '\u{7F}' => {
                let _ = write!(out, r"\x{:02x}", c as u32);
            }
            _ if (c as u32) < 0x10000 => {
                let _ = write!(out, r"\u{:04x}", c as u32);
            }
            _ => {
                let _ = write!(out, r"\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.ToLower` for one rune: the simple (single-rune) mapping.
fn lower_char(c: char) -> char {
    let mut mapped = c.to_lowercase();
    match (mapped.next(), mapped.next()) {
        (Some(l), None) => l,
        // Only U+0130 (İ) has a multi-rune full lowercase mapping; its simple mapping is `i`.
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

/// Go's `unicode.ToUpper` for one rune: the simple (single-rune) mapping.
fn upper_char(c: char) -> char {
    let mut mapped = c.to_uppercase();
    if let (Some(u), None) = (mapped.next(), mapped.next()) {
        return u;
    }
    // Runes whose full uppercase mapping has several runes (ß → SS, ﬁ → FI, …) have no
    // simple uppercase mapping and stay as they are, except the Greek letters with
    // ypogegrammeni, whose simple uppercase is the letter with prosgegrammeni.
    let cp = c as u32;
    let simple = match cp {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => cp + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => cp + 9,
        _ => cp,
    };
    char::from_u32(simple).unwrap_or(c)
}

/// Go's `strings.ToLower`.
pub fn to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(lower_char).collect()
}

/// Go's `strings.ToUpper`.
pub fn to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(upper_char).collect()
}
