//! The Go standard-library behaviour the parsers must reproduce: `strconv.ParseFloat`,
//! `strconv.ParseInt`, `strconv.Quote` (for `%q` in error messages), `%g` float formatting
//! (for `labels.FormatOpenMetricsFloat`) and the `strings.Replacer`s of `promparse.go`.

use std::borrow::Cow;

/// Why a Go `strconv` number parse failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Prometheus' own pre-check: `p`, `P` or `_` in a float token.
    Unsupported,
    Syntax,
    Range,
}

/// The text of Prometheus' `parseFloat` / Go's `strconv` error for `token`, without the
/// `while parsing: ...` suffix the callers add.
pub(crate) fn float_error_text(e: NumError, token: &[u8]) -> String {
    match e {
        NumError::Unsupported => "unsupported character in float".to_string(),
        NumError::Syntax => format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            quote_excerpt(token)
        ),
        NumError::Range => format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            quote_excerpt(token)
        ),
    }
}

pub(crate) fn int_error_text(e: NumError, token: &[u8]) -> String {
    match e {
        NumError::Range => format!(
            "strconv.ParseInt: parsing {}: value out of range",
            quote_excerpt(token)
        ),
        _ => format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            quote_excerpt(token)
        ),
    }
}

/// Go's `strconv.ParseFloat`'s `special`: `[+-]inf`, `[+-]infinity` (any case) and `nan`
/// (any case, no sign). Only a match of the whole token counts.
fn special(s: &[u8]) -> Option<f64> {
    let (neg, rest) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    None
}

/// Prometheus' `parseFloat` (`promparse.go`): Go `strconv.ParseFloat(s, 64)` after rejecting
/// `p`, `P` and `_`. Decimal syntax only (hex floats need `p`); an overflow to infinity is a
/// range error, as in Go.
#[inline]
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, NumError> {
    if let Some(v) = fast_decimal(s) {
        return Ok(v);
    }
    let mut plain = true;
    for &c in s {
        match c {
            b'p' | b'P' | b'_' => return Err(NumError::Unsupported),
            b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-' => {}
            _ => plain = false,
        }
    }
    if !plain {
        return special(s).ok_or(NumError::Syntax);
    }
    parse_decimal(s)
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `[+-]digits[.digits]` with at most 15 digits: the mantissa and the power of ten are
/// exact in f64, so one correctly rounded division gives the correctly rounded value
/// (Clinger's fast path). `None` for anything else.
#[inline]
fn fast_decimal(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mant: u64 = 0;
    let mut nd = 0usize;
    let mut frac = 0usize;
    let mut dot = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mant = mant * 10 + u64::from(c - b'0');
                nd += 1;
                frac += usize::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if nd == 0 || nd > 15 {
        return None;
    }
    let v = mant as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// A token made only of `[0-9.eE+-]`: Go's and Rust's decimal grammars agree on it
/// (`[+-]? (d+ [. d*] | . d+) ([eE] [+-]? d+)?`), and both round correctly.
fn parse_decimal(s: &[u8]) -> Result<f64, NumError> {
    // SAFETY-free: the bytes are ASCII, so this cannot fail.
    let text = std::str::from_utf8(s).map_err(|_| NumError::Syntax)?;
    let v: f64 = text.parse().map_err(|_| NumError::Syntax)?;
    if v.is_infinite() {
        return Err(NumError::Range);
    }
    Ok(v)
}

/// Go's plain `strconv.ParseFloat(s, 64)` (used for `le`/`quantile` normalisation): also
/// accepts `_` digit separators and hexadecimal floats (`0x1.8p3`). `None` on any error,
/// including range errors.
pub(crate) fn go_parse_float(s: &[u8]) -> Option<f64> {
    if let Some(v) = special(s) {
        return Some(v);
    }
    let (neg, body) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let underscores = s.contains(&b'_');
    if underscores && !underscore_ok(s) {
        return None;
    }
    let is_hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    if is_hex {
        return parse_hex_float(&body[2..], neg);
    }
    let cleaned: Cow<[u8]> = if underscores {
        Cow::Owned(body.iter().copied().filter(|&c| c != b'_').collect())
    } else {
        Cow::Borrowed(body)
    };
    if !cleaned
        .iter()
        .all(|c| matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    // The sign was taken off above; a second one is a syntax error.
    if matches!(cleaned.first(), Some(b'+') | Some(b'-')) {
        return None;
    }
    let v = parse_decimal(&cleaned).ok()?;
    Some(if neg { -v } else { v })
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+') | Some(b'-') => &s[1..],
        _ => s,
    };
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = (s[1] | 0x20) == b'x';
    }
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// A hexadecimal float after `0x`: hex digits with an optional point, then a mandatory
/// `p` exponent; rounded to nearest-even like Go's `atofHex`. `None` on syntax or range
/// errors.
fn parse_hex_float(s: &[u8], neg: bool) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut nd = 0i64; // digits seen (after leading zeros)
    let mut nd_mant = 0i64; // digits kept in mantissa
    let mut dp = 0i64;
    let mut saw_dot = false;
    let mut saw_digits = false;
    let mut trunc = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'_' {
            i += 1;
            continue;
        }
        if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
            dp = nd;
            i += 1;
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        saw_digits = true;
        if d == 0 && nd == 0 {
            dp -= 1;
            i += 1;
            continue;
        }
        nd += 1;
        if nd_mant < 16 {
            mantissa = mantissa * 16 + u64::from(d);
            nd_mant += 1;
        } else if d != 0 {
            trunc = true;
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    if !saw_dot {
        dp = nd;
    }
    dp *= 4;
    nd_mant *= 4;
    // Mandatory binary exponent.
    if i >= s.len() || (s[i] | 0x20) != b'p' {
        return None;
    }
    i += 1;
    let mut esign = 1i64;
    match s.get(i) {
        Some(b'+') => i += 1,
        Some(b'-') => {
            esign = -1;
            i += 1
        }
        _ => {}
    }
    if i >= s.len() || !s[i].is_ascii_digit() {
        return None;
    }
    let mut e = 0i64;
    while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'_') {
        if s[i] != b'_' && e < 10000 {
            e = e * 10 + i64::from(s[i] - b'0');
        }
        i += 1;
    }
    if i != s.len() {
        return None;
    }
    dp += e * esign;
    let exp = if mantissa != 0 { dp - nd_mant } else { 0 };
    hex_to_f64(mantissa, exp, neg, trunc)
}

/// `mantissa * 2^exp`, correctly rounded (half to even), `trunc` meaning non-zero bits were
/// dropped below the mantissa.
fn hex_to_f64(mut mantissa: u64, mut exp: i64, neg: bool, trunc: bool) -> Option<f64> {
    const MANTBITS: i64 = 52;
    const BIAS: i64 = -1023;
    let max_exp = (1 << 11) + BIAS - 2;
    let min_exp = BIAS + 1;
    exp += MANTBITS;
    while mantissa != 0 && mantissa >> (MANTBITS + 2) == 0 {
        mantissa <<= 1;
        exp -= 1;
    }
    if trunc {
        mantissa |= 1;
    }
    while mantissa >> (1 + MANTBITS + 2) != 0 {
        mantissa = (mantissa >> 1) | (mantissa & 1);
        exp += 1;
    }
    while mantissa > 1 && exp < min_exp - 2 {
        mantissa = (mantissa >> 1) | (mantissa & 1);
        exp += 1;
    }
    let mut round = mantissa & 3;
    mantissa >>= 2;
    round |= mantissa & 1;
    exp += 2;
    if round == 3 {
        mantissa += 1;
        if mantissa == 1 << (1 + MANTBITS) {
            mantissa >>= 1;
            exp += 1;
        }
    }
    if mantissa >> MANTBITS == 0 {
        exp = BIAS;
    }
    if exp > max_exp {
        return None;
    }
    let mut bits = mantissa & ((1 << MANTBITS) - 1);
    bits |= (((exp - BIAS) & ((1 << 11) - 1)) as u64) << MANTBITS;
    if neg {
        bits |= 1 << 63;
    }
    Some(f64::from_bits(bits))
}

/// Go's `strconv.ParseInt(s, 10, 64)` for a token of ASCII digits (the lexers guarantee it).
#[inline]
pub(crate) fn parse_int_digits(s: &[u8]) -> Result<i64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    if s.len() <= 18 {
        let mut v: i64 = 0;
        for &c in s {
            v = v * 10 + i64::from(c - b'0');
        }
        return Ok(v);
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(NumError::Syntax);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or(NumError::Range)?;
    }
    Ok(v)
}

/// Go's `int64(f)` on amd64 for a finite float: truncation, and the "integer indefinite"
/// value (`math.MinInt64`) when the result does not fit.
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// Most bytes of a target's body an error quotes: a hostile line of megabytes must not
/// become an error of megabytes, kept in the target's status and shown on every page.
pub const EXCERPT_BYTES: usize = 512;

/// [`go_quote`] of at most [`EXCERPT_BYTES`] of `b` (cut at a character), saying how long
/// `b` was when it was cut: what errors about a body quote.
pub fn quote_excerpt(b: &[u8]) -> String {
    if b.len() <= EXCERPT_BYTES {
        return go_quote(b);
    }
    let mut cut = EXCERPT_BYTES;
    while cut > 0 && b[cut] & 0xc0 == 0x80 {
        cut -= 1;
    }
    format!("{}... ({} bytes in all)", go_quote(&b[..cut]), b.len())
}

/// Go's `%q` of a byte slice (`strconv.Quote` semantics).
pub fn go_quote(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            quote_char(&mut out, c);
        }
        for &x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out.push('"');
    out
}

fn quote_char(out: &mut String, c: char) {
    match c {
        '"' | '\\' => {
            out.push('\\');
            out.push(c);
        }
        _ if go_is_print(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        _ if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        _ => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `unicode.IsPrint` without Unicode tables: ASCII graphic and
/// space, and every other character except controls, separators other than U+0020, the
/// common format characters, private-use characters and noncharacters. (Unassigned code
/// points count as printable here; Go escapes them.)
fn go_is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !matches!(u,
        0x80..=0xa0
        | 0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x890..=0x891
        | 0x8e2
        | 0x1680
        | 0x180e
        | 0x2000..=0x200f
        | 0x2028..=0x202f
        | 0x205f..=0x2064
        | 0x2066..=0x206f
        | 0x3000
        | 0xd800..=0xf8ff
        | 0xfdd0..=0xfdef
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0x110bd
        | 0x110cd
        | 0x13430..=0x1343f
        | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a
        | 0xe0001
        | 0xe0020..=0xe007f
        | 0xf0000..
    ) && (u & 0xfffe) != 0xfffe
}

/// Go's `%f` of a float as used in `invalid timestamp %f` (only NaN and infinities reach
/// these messages, but finite values are formatted too).
pub(crate) fn go_percent_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f == f64::INFINITY {
        "+Inf".to_string()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{f:.6}")
    }
}

/// Prometheus' `labels.FormatOpenMetricsFloat`: Go `strconv.FormatFloat(f, 'g', -1, 64)`
/// plus `.0` when the result has neither `.` nor `e`.
pub(crate) fn format_openmetrics_float(f: f64) -> String {
    if f == 1.0 {
        return "1.0".to_string();
    }
    if f == 0.0 {
        return "0.0".to_string();
    }
    if f == -1.0 {
        return "-1.0".to_string();
    }
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f == f64::INFINITY {
        return "+Inf".to_string();
    }
    if f == f64::NEG_INFINITY {
        return "-Inf".to_string();
    }
    let mut s = go_format_g(f);
    if !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for a finite, non-zero `f`.
pub(crate) fn go_format_g(f: f64) -> String {
    // Rust's `{:e}` gives the shortest round-trip digits: `d[.ddd]e[-]x`.
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.as_bytes();
    let nd = digits.len() as i32;
    let dp = exp + 1; // decimal point position
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        // %e with nd-1 fraction digits.
        out.push(digits[0] as char);
        if nd > 1 {
            out.push('.');
            out.push_str(std::str::from_utf8(&digits[1..]).unwrap_or(""));
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else {
        // %f with max(nd-dp, 0) fraction digits.
        if dp > 0 {
            for k in 0..dp {
                out.push(if k < nd {
                    digits[k as usize] as char
                } else {
                    '0'
                });
            }
        } else {
            out.push('0');
        }
        let frac = (nd - dp).max(0);
        if frac > 0 {
            out.push('.');
            for k in 0..frac {
                let idx = dp + k;
                out.push(if (0..nd).contains(&idx) {
                    digits[idx as usize] as char
                } else {
                    '0'
                });
            }
        }
    }
    out
}

/// Prometheus' `lvalReplacer`: `\"`, `\\` and `\n` unescaped, other escapes kept as written.
pub(crate) fn unescape_lval(s: &str) -> Cow<'_, str> {
    unescape(s, true)
}

/// Prometheus' `helpReplacer` (text format HELP): only `\\` and `\n`.
pub(crate) fn unescape_help(s: &str) -> Cow<'_, str> {
    unescape(s, false)
}

#[inline]
fn unescape(s: &str, quotes: bool) -> Cow<'_, str> {
    let b = s.as_bytes();
    let Some(first) = memchr::memchr(b'\\', b) else {
        return Cow::Borrowed(s);
    };
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b'"' if quotes => {
                    out.push(b'"');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    // Only ASCII bytes were removed or replaced by ASCII, so UTF-8 validity is kept.
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast decimal path agrees with a full correctly rounded parse.
        #[test]
        fn fast_path_matches_full_parse(s in "[+-]?[0-9]{0,12}(\\.[0-9]{0,9})?") {
            let full = parse_decimal(s.as_bytes());
            prop_assert_eq!(parse_float(s.as_bytes()).map(f64::to_bits), full.map(f64::to_bits));
        }
    }

    #[test]
    fn go_g_format() {
        let cases: &[(f64, &str)] = &[
            (10.0, "10"),
            (1e6, "1e+06"),
            (100000.0, "100000"),
            (123456.7, "123456.7"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.25, "0.25"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (7.424100000000001e-05, "7.424100000000001e-05"),
        ];
        for (f, want) in cases {
            assert_eq!(go_format_g(*f), *want, "{f}");
        }
    }

    #[test]
    fn openmetrics_float() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (10.0, "10.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (-1.0, "-1.0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e6, "1e+06"),
            (0.5, "0.5"),
            (2.5e-5, "2.5e-05"),
        ];
        for (f, want) in cases {
            assert_eq!(format_openmetrics_float(*f), *want, "{f}");
        }
    }

    #[test]
    fn float_rules() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+3", 3.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1e-400", 0.0),
            ("Inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-INF", f64::NEG_INFINITY),
            ("infinity", f64::INFINITY),
            ("-InFiNiTy", f64::NEG_INFINITY),
            ("000123", 123.0),
            ("12345678901234567890", 12345678901234567890.0),
        ];
        for (s, want) in ok {
            assert_eq!(parse_float(s.as_bytes()), Ok(*want), "{s}");
        }
        for s in ["nan", "NaN", "NAN", "nAn"] {
            assert!(parse_float(s.as_bytes()).unwrap().is_nan(), "{s}");
        }
        let bad: &[(&str, NumError)] = &[
            ("1e400", NumError::Range),
            ("-1e400", NumError::Range),
            ("1.8e308", NumError::Range),
            ("0x1p-3", NumError::Unsupported),
            ("0x1P-3", NumError::Unsupported),
            ("1_000", NumError::Unsupported),
            ("0x10", NumError::Syntax),
            ("+nan", NumError::Syntax),
            ("-NaN", NumError::Syntax),
            ("infin", NumError::Syntax),
            ("infinityy", NumError::Syntax),
            ("true", NumError::Syntax),
            ("1e", NumError::Syntax),
            (".", NumError::Syntax),
            ("", NumError::Syntax),
            ("--1", NumError::Syntax),
            ("1..2", NumError::Syntax),
            ("1\t2", NumError::Syntax),
        ];
        for (s, want) in bad {
            assert_eq!(parse_float(s.as_bytes()), Err(*want), "{s}");
        }
    }

    #[test]
    fn full_go_parse_float() {
        assert_eq!(go_parse_float(b"1_000"), Some(1000.0));
        assert_eq!(go_parse_float(b"1__0"), None);
        assert_eq!(go_parse_float(b"_1"), None);
        assert_eq!(go_parse_float(b"0x1p-3"), Some(0.125));
        assert_eq!(go_parse_float(b"0x1.8p1"), Some(3.0));
        assert_eq!(go_parse_float(b"-0X_1P+4"), Some(-16.0));
        assert_eq!(go_parse_float(b"0x1"), None);
        assert_eq!(go_parse_float(b"0x1p99999"), None);
        assert_eq!(go_parse_float(b"0x1p-1074"), Some(5e-324));
        assert_eq!(go_parse_float(b"0x1.fffffffffffff8p1023"), None);
        assert_eq!(go_parse_float(b"0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(go_parse_float(b"+Inf"), Some(f64::INFINITY));
        assert_eq!(go_parse_float(b"1e400"), None);
        assert_eq!(go_parse_float(b"+-1"), None);
        assert_eq!(go_parse_float(b"10"), Some(10.0));
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote(b"a\n\"b\\"), r#""a\n\"b\\""#);
        assert_eq!(go_quote(b"\xff"), r#""\xff""#);
        assert_eq!(go_quote(b"\x00"), r#""\x00""#);
        assert_eq!(go_quote("ö€".as_bytes()), "\"ö€\"");
        assert_eq!(go_quote("\u{a0}".as_bytes()), r#""\u00a0""#);
        assert_eq!(go_quote(b"\x7f\t"), r#""\x7f\t""#);
        assert_eq!(quote_excerpt(b"short"), "\"short\"");
        let long = "é".repeat(1000);
        let quoted = quote_excerpt(long.as_bytes());
        assert_eq!(
            quoted,
            format!(
                "\"{}\"... (2000 bytes in all)",
                "é".repeat(EXCERPT_BYTES / 2)
            )
        );
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int_digits(b"123"), Ok(123));
        assert_eq!(parse_int_digits(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            parse_int_digits(b"9223372036854775808"),
            Err(NumError::Range)
        );
        assert_eq!(go_f64_to_i64(1e300), i64::MIN);
        assert_eq!(go_f64_to_i64(-1.9), -1);
    }

    #[test]
    fn replacers() {
        assert_eq!(unescape_lval(r#"a\"b\\c\nd\xe"#), "a\"b\\c\nd\\xe");
        assert_eq!(unescape_help(r#"a\"b\\c\nd"#), "a\\\"b\\c\nd");
        assert_eq!(unescape_lval(r"\\\x"), "\\\\x");
        assert!(matches!(unescape_lval("plain"), Cow::Borrowed(_)));
    }
}
