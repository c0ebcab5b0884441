//! The Prometheus text format 0.0.4 / 1.0.0 (P: `promparse.go`, `promlex.l`).
//!
//! Go's parser appends a `\n` to the body; here that newline is virtual (position
//! `b.len()`), so the body is never copied.

use std::borrow::Cow;

use memchr::{memchr, memchr2, memchr3};

use super::goutil::{
    float_error_text, int_error_text, parse_float, parse_int_digits, quote_excerpt,
};
use super::lex::{LNAME_CONT, LNAME_START, NAME_CONT, NAME_START, St, TEXT_VALUE, Tok, is_ws};
use super::{Cur, Entry, MetricType, NORMAL_NAN};

pub(crate) struct TextParser<'a> {
    b: &'a [u8],
    /// Lexer position (Go `l.i`); `b.len()` is the virtual newline, `b.len() + 1` the end.
    i: usize,
    /// Start of the current token (Go `l.start`).
    start: usize,
    state: St,
    /// Start of the current entry (Go `p.start`).
    pub(crate) pstart: usize,
    pub(crate) cur: Cur,
    pub(crate) mtype: MetricType,
    /// Whether the fast paths may be taken (off only to test them against the general
    /// path).
    fast: bool,
    /// The label pairs of the current series as the fast path read them, `name="value` each
    /// as `(name start, name end, value end)`; valid when `pairs_plain`.
    pub(crate) written_pairs: Vec<(u32, u32, u32)>,
    /// The current series' label set was read whole by the fast path, nothing escaped.
    pub(crate) pairs_plain: bool,
    /// The last label value read had a backslash.
    value_escaped: bool,
}

type Res<T> = Result<T, String>;

impl<'a> TextParser<'a> {
    pub(crate) fn new(b: &'a [u8], fast: bool) -> Self {
        TextParser {
            fast,
            b,
            i: 0,
            start: 0,
            state: St::Init,
            pstart: 0,
            cur: Cur::default(),
            mtype: MetricType::Unknown,
            written_pairs: Vec::new(),
            pairs_plain: false,
            value_escaped: false,
        }
    }

    #[inline(always)]
    fn at(&self, i: usize) -> u8 {
        match self.b.get(i) {
            Some(&c) => c,
            None => b'\n',
        }
    }

    /// Go's `next()`: advance, skipping NULs in label values, help text and comments.
    #[inline(always)]
    fn next(&mut self) -> u8 {
        self.i += 1;
        let n = self.b.len();
        if self.i > n {
            return 0;
        }
        if self.state.skips_nul() {
            while self.i < n && self.b[self.i] == 0 {
                self.i += 1;
            }
        }
        self.at(self.i)
    }

    #[inline]
    fn ws(&mut self) -> Tok {
        let mut c = self.next();
        while is_ws(c) {
            c = self.next();
        }
        Tok::Whitespace
    }

    #[inline(always)]
    fn scan_class(&mut self, from: usize, class: &[bool; 256]) {
        let b = self.b;
        let mut i = from;
        while i < b.len() && class[b[i] as usize] {
            i += 1;
        }
        self.i = i;
    }

    /// `consumeComment`: everything up to the newline (which is left for the next token).
    fn consume_comment(&mut self) -> Tok {
        let n = self.b.len();
        if self.i > n {
            return Tok::Eof;
        }
        let c = self.at(self.i);
        if c == 0 {
            return Tok::Eof;
        }
        if c == b'\n' {
            self.state = St::Init;
            return Tok::Comment;
        }
        let from = self.i + 1;
        if self.state.skips_nul() {
            self.i = memchr(b'\n', &self.b[from..]).map_or(n, |p| from + p);
        } else {
            match memchr2(b'\n', 0, &self.b[from..]) {
                Some(p) if self.b[from + p] == 0 => {
                    self.i = from + p;
                    return Tok::Eof;
                }
                Some(p) => self.i = from + p,
                None => self.i = n,
            }
        }
        self.state = St::Init;
        Tok::Comment
    }

    /// A `\"(\\.|[^\\"])*\"` token in a state that keeps NULs (metric names after
    /// HELP/TYPE, quoted names in braces).
    fn quoted(&mut self, next_state: St, tok: Tok) -> Tok {
        let b = self.b;
        let n = b.len();
        let mut j = self.i + 1;
        loop {
            match memchr3(b'"', b'\\', 0, &b[j.min(n)..]) {
                None => {
                    // The virtual newline is accepted, then the input ends.
                    self.i = n + 1;
                    return Tok::Invalid;
                }
                Some(p) => {
                    let p = j + p;
                    match b[p] {
                        b'"' => {
                            self.i = p + 1;
                            self.state = next_state;
                            return tok;
                        }
                        0 => {
                            self.i = p;
                            return Tok::Invalid;
                        }
                        _ => {
                            let c = self.at(p + 1);
                            if c == 0 || c == b'\n' {
                                self.i = p + 1;
                                return Tok::Invalid;
                            }
                            j = p + 2;
                        }
                    }
                }
            }
        }
    }

    /// A quoted label value: NULs are skipped, raw newlines allowed, `\` + newline not.
    #[inline]
    fn label_value(&mut self) -> Tok {
        let b = self.b;
        let n = b.len();
        let mut j = self.i + 1;
        self.value_escaped = false;
        loop {
            match memchr2(b'"', b'\\', &b[j..]) {
                None => {
                    self.i = n + 1;
                    return Tok::Invalid;
                }
                Some(p) => {
                    let p = j + p;
                    if b[p] == b'"' {
                        let mut i = p + 1;
                        while i < n && b[i] == 0 {
                            i += 1;
                        }
                        self.i = i;
                        self.state = St::Labels;
                        return Tok::LValue;
                    }
                    self.value_escaped = true;
                    let mut q = p + 1;
                    while q < n && b[q] == 0 {
                        q += 1;
                    }
                    if self.at(q) == b'\n' {
                        self.i = q;
                        return Tok::Invalid;
                    }
                    j = q + 1;
                }
            }
        }
    }

    /// Matches `rest` byte by byte then `[ \t]+` in the comment state (`HELP[\t ]+`).
    fn keyword(&mut self, rest: &[u8], tok: Tok) -> Tok {
        for &want in rest {
            if self.next() != want {
                return self.consume_comment();
            }
        }
        let mut c = self.next();
        if !is_ws(c) {
            return self.consume_comment();
        }
        while is_ws(c) {
            c = self.next();
        }
        self.state = St::Meta1;
        tok
    }

    fn lex(&mut self) -> Tok {
        let n = self.b.len();
        if self.i > n {
            return Tok::Eof;
        }
        let mut c = self.at(self.i);
        self.start = self.i;
        loop {
            match self.state {
                St::Init => {
                    if NAME_START[c as usize] {
                        self.scan_class(self.i + 1, &NAME_CONT);
                        self.state = St::Value;
                        return Tok::MName;
                    }
                    return match c {
                        b'#' => {
                            c = self.next();
                            if is_ws(c) {
                                c = self.next();
                                while is_ws(c) {
                                    c = self.next();
                                }
                                self.state = St::Comment;
                                continue;
                            }
                            self.consume_comment()
                        }
                        b'\n' => {
                            self.next();
                            Tok::Linebreak
                        }
                        b' ' | b'\t' => self.ws(),
                        0 => {
                            self.next();
                            Tok::Eof
                        }
                        b'{' => {
                            self.next();
                            self.state = St::Labels;
                            Tok::BraceOpen
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::Comment => {
                    return match c {
                        b'H' => self.keyword(b"ELP", Tok::Help),
                        b'T' => self.keyword(b"YPE", Tok::Type),
                        b' ' | b'\t' => self.ws(),
                        _ => self.consume_comment(),
                    };
                }
                St::Meta1 => {
                    if c == b'"' {
                        return self.quoted(St::Meta2, Tok::MName);
                    }
                    if NAME_START[c as usize] {
                        self.scan_class(self.i + 1, &NAME_CONT);
                        self.state = St::Meta2;
                        return Tok::MName;
                    }
                    if is_ws(c) {
                        return self.ws();
                    }
                    return Tok::Invalid;
                }
                St::Meta2 => {
                    if is_ws(c) {
                        c = self.next();
                        while is_ws(c) {
                            c = self.next();
                        }
                        if c == 0 || c == b'\n' {
                            return Tok::Whitespace;
                        }
                    } else if c == 0 || c == b'\n' {
                        self.state = St::Init;
                        return Tok::Text;
                    }
                    // The rest of the line; NULs are skipped, so only a newline ends it.
                    let from = self.i + 1;
                    self.i = memchr(b'\n', &self.b[from.min(n)..]).map_or(n, |p| from + p);
                    self.state = St::Init;
                    return Tok::Text;
                }
                St::Labels => {
                    if LNAME_START[c as usize] {
                        self.scan_class(self.i + 1, &LNAME_CONT);
                        return Tok::LName;
                    }
                    return match c {
                        b'"' => self.quoted(St::Labels, Tok::QString),
                        b',' => {
                            self.next();
                            Tok::Comma
                        }
                        b'=' => {
                            self.next();
                            self.state = St::LValue;
                            Tok::Equal
                        }
                        b' ' | b'\t' => self.ws(),
                        b'}' => {
                            self.next();
                            self.state = St::Value;
                            Tok::BraceClose
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::LValue => {
                    return match c {
                        b'"' => self.label_value(),
                        b' ' | b'\t' => self.ws(),
                        _ => Tok::Invalid,
                    };
                }
                St::Value => {
                    if TEXT_VALUE[c as usize] {
                        self.scan_class(self.i + 1, &TEXT_VALUE);
                        self.state = St::Timestamp;
                        return Tok::Value;
                    }
                    return match c {
                        b' ' | b'\t' => self.ws(),
                        b'{' => {
                            self.next();
                            self.state = St::Labels;
                            Tok::BraceOpen
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::Timestamp => {
                    if c.is_ascii_digit() {
                        let b = self.b;
                        let mut i = self.i + 1;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                        self.i = i;
                        return Tok::Timestamp;
                    }
                    return match c {
                        b'\n' => {
                            self.next();
                            self.state = St::Init;
                            Tok::Linebreak
                        }
                        b' ' | b'\t' => self.ws(),
                        _ => Tok::Invalid,
                    };
                }
                _ => return Tok::Invalid,
            }
        }
    }

    #[inline]
    fn next_token(&mut self) -> Tok {
        loop {
            let t = self.lex();
            if t != Tok::Whitespace {
                return t;
            }
        }
    }

    /// The bytes `[a, e)` of the body plus the appended newline, for messages.
    fn vslice(&self, a: usize, e: usize) -> Cow<'a, [u8]> {
        let n = self.b.len();
        if e <= n {
            Cow::Borrowed(&self.b[a.min(e)..e])
        } else if n - a.min(n) > super::goutil::EXCERPT_BYTES {
            // Quoted only in part: the virtual newline would be cut off anyway.
            Cow::Borrowed(&self.b[a.min(n)..])
        } else {
            let mut v = self.b[a.min(n)..].to_vec();
            v.push(b'\n');
            Cow::Owned(v)
        }
    }

    #[inline]
    fn buf(&self) -> &'a [u8] {
        &self.b[self.start..self.i.min(self.b.len())]
    }

    fn parse_error(&self, exp: &str, got: Tok) -> String {
        let e = (self.b.len() + 1).min(self.i + 1);
        format!(
            "{}, got {} ({}) while parsing: {}",
            exp,
            quote_excerpt(&self.vslice(self.start, e)),
            quote_excerpt(got.name().as_bytes()),
            quote_excerpt(&self.vslice(self.pstart, e))
        )
    }

    fn while_parsing(&self) -> String {
        quote_excerpt(&self.vslice(self.pstart, self.i))
    }

    /// `PromParser.Next`, with comments skipped. `Ok(None)` at the end.
    pub(crate) fn next_entry(&mut self) -> Res<Option<Entry<'a>>> {
        loop {
            self.pstart = self.i;
            let t = self.next_token();
            match t {
                Tok::Eof => return Ok(None),
                Tok::Linebreak => continue,
                Tok::Help | Tok::Type => return self.parse_meta(t).map(Some),
                Tok::Comment => {
                    let t = self.next_token();
                    if t != Tok::Linebreak {
                        return Err(self.parse_error("linebreak expected after comment", t));
                    }
                    continue;
                }
                Tok::BraceOpen => {
                    self.cur.name = None;
                    self.cur.lbrace = Some(self.start);
                    self.parse_lvals()?;
                    self.cur.series = (self.pstart, self.i);
                    if let Some(e) = self.fast_suffix() {
                        return Ok(Some(e));
                    }
                    let t = self.next_token();
                    return self.parse_metric_suffix(t).map(Some);
                }
                Tok::MName => {
                    self.cur.name = Some((self.pstart, self.i));
                    self.cur.lbrace = None;
                    self.cur.series = (self.pstart, self.i);
                    if let Some(e) = self.fast_suffix() {
                        return Ok(Some(e));
                    }
                    let mut t2 = self.next_token();
                    if t2 == Tok::BraceOpen {
                        self.cur.lbrace = Some(self.start);
                        self.parse_lvals()?;
                        self.cur.series = (self.pstart, self.i);
                        if let Some(e) = self.fast_suffix() {
                            return Ok(Some(e));
                        }
                        t2 = self.next_token();
                    }
                    return self.parse_metric_suffix(t2).map(Some);
                }
                _ => return Err(self.parse_error("expected a valid start token", t)),
            }
        }
    }

    fn parse_meta(&mut self, t: Tok) -> Res<Entry<'a>> {
        let t2 = self.next_token();
        if t2 != Tok::MName {
            return Err(self.parse_error(&format!("expected metric name after {}", t.name()), t2));
        }
        let (mut ms, mut me) = (self.start, self.i);
        if self.b[ms] == b'"' && self.b[me - 1] == b'"' {
            ms += 1;
            me -= 1;
        }
        let metric = &self.b[ms..me];
        let t2 = self.next_token();
        if t2 != Tok::Text {
            return Err(format!("expected text in {}, got {}", t.name(), t2.name()));
        }
        let buf = self.buf();
        let text: &'a [u8] = if buf.len() > 1 { &buf[1..] } else { &[] };
        let entry = if t == Tok::Type {
            let kind = match text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => return Err(format!("invalid metric type {}", quote_excerpt(text))),
            };
            self.mtype = kind;
            Entry::Type { metric, kind }
        } else {
            let Ok(s) = std::str::from_utf8(text) else {
                return Err(format!(
                    "help text {} is not a valid utf8 string",
                    quote_excerpt(text)
                ));
            };
            Entry::Help {
                metric,
                text: super::goutil::unescape_help(s),
            }
        };
        let t3 = self.next_token();
        if t3 != Tok::Linebreak {
            return Err(self.parse_error("linebreak expected after metadata", t3));
        }
        Ok(entry)
    }

    fn check_value_utf8(&self) -> Res<()> {
        let v = self.buf();
        if !v.is_ascii() && std::str::from_utf8(v).is_err() {
            return Err(format!("invalid UTF-8 label value: {}", quote_excerpt(v)));
        }
        Ok(())
    }

    fn parse_lvals(&mut self) -> Res<()> {
        // Fast path for `name="value"` pairs joined by single commas. It consumes exactly
        // the tokens the lexer would (LNAME, EQUAL, LVALUE, COMMA or BCLOSE), leaving
        // positions and state as the general loop below would, and hands over to it at
        // anything else (spaces, quoted names, errors in names).
        let b = self.b;
        let n = b.len();
        let mut after_value = false;
        self.written_pairs.clear();
        self.pairs_plain = false;
        // No pair escaped, and each value's closing quote right before the lexer's position.
        let mut plain = true;
        while self.fast {
            if !after_value {
                let i = self.i;
                if !(i < n && LNAME_START[b[i] as usize]) {
                    break;
                }
                let mut j = i + 1;
                while j < n && LNAME_CONT[b[j] as usize] {
                    j += 1;
                }
                if !(j + 1 < n && b[j] == b'=' && b[j + 1] == b'"') {
                    break;
                }
                self.i = j + 1;
                self.start = j + 1;
                self.state = St::LValue;
                let t = self.label_value();
                if t != Tok::LValue {
                    return Err(self.parse_error("expected label value", t));
                }
                self.check_value_utf8()?;
                after_value = true;
                let value_end = self.i - 1;
                plain &=
                    !self.value_escaped && b[value_end] == b'"' && value_end <= u32::MAX as usize;
                self.written_pairs
                    .push((i as u32, j as u32, value_end as u32));
            }
            let i = self.i;
            if i < n && b[i] == b',' {
                self.start = i;
                self.i = i + 1;
                after_value = false;
                continue;
            }
            if i < n && b[i] == b'}' {
                self.start = i;
                self.i = i + 1;
                self.state = St::Value;
                self.pairs_plain = plain;
                return Ok(());
            }
            break;
        }
        let mut t = self.next_token();
        if after_value && t == Tok::Comma {
            t = self.next_token();
        }
        loop {
            let (cur_start, cur_i) = (self.start, self.i);
            let is_qstring = match t {
                Tok::BraceClose => return Ok(()),
                Tok::LName => false,
                Tok::QString => true,
                _ => return Err(self.parse_error("expected label name", t)),
            };
            t = self.next_token();
            if is_qstring && (t == Tok::Comma || t == Tok::BraceClose) {
                if self.cur.name.is_some() {
                    return Err(format!(
                        "metric name already set while parsing: {}",
                        self.while_parsing()
                    ));
                }
                self.cur.name = Some((cur_start + 1, cur_i - 1));
                if t == Tok::BraceClose {
                    return Ok(());
                }
                t = self.next_token();
                continue;
            }
            if t != Tok::Equal {
                return Err(self.parse_error("expected equal", t));
            }
            let t2 = self.next_token();
            if t2 != Tok::LValue {
                return Err(self.parse_error("expected label value", t2));
            }
            self.check_value_utf8()?;
            t = self.next_token();
            if t == Tok::Comma {
                t = self.next_token();
            }
        }
    }

    /// Fast path for the common ` value[ timestamp]\n` after a name or label set: taken
    /// only when every token is well formed and the numbers parse, ending where the
    /// general path would; `None` leaves the parser untouched for the general path (which
    /// also produces the errors).
    #[inline]
    fn fast_suffix(&mut self) -> Option<Entry<'a>> {
        let b = self.b;
        let n = b.len();
        let i = self.i;
        if !(self.fast && i + 1 < n && b[i] == b' ' && TEXT_VALUE[b[i + 1] as usize])
            || self.cur.name.is_none()
        {
            return None;
        }
        let vs = i + 1;
        let mut j = vs + 1;
        while j < n && TEXT_VALUE[b[j] as usize] {
            j += 1;
        }
        let (ts_range, nl) = if j >= n || b[j] == b'\n' {
            (None, j)
        } else if b[j] == b' ' && j + 1 < n && b[j + 1].is_ascii_digit() {
            let mut k = j + 2;
            while k < n && b[k].is_ascii_digit() {
                k += 1;
            }
            if k < n && b[k] != b'\n' {
                return None;
            }
            (Some((j + 1, k)), k)
        } else {
            return None;
        };
        let mut value = parse_float(&b[vs..j]).ok()?;
        let timestamp_ms = match ts_range {
            Some((s, e)) => Some(parse_int_digits(&b[s..e]).ok()?),
            None => None,
        };
        if value.is_nan() {
            value = f64::from_bits(NORMAL_NAN);
        }
        self.start = nl;
        self.i = nl + 1;
        self.state = St::Init;
        let (s, e) = self.cur.series;
        Some(Entry::Series {
            series: &b[s..e],
            value,
            timestamp_ms,
            exemplar: None,
        })
    }

    fn parse_metric_suffix(&mut self, t: Tok) -> Res<Entry<'a>> {
        if self.cur.name.is_none() {
            return Err(format!(
                "metric name not set while parsing: {}",
                self.while_parsing()
            ));
        }
        if t != Tok::Value {
            return Err(self.parse_error("expected value after metric", t));
        }
        let tok = self.buf();
        let mut value = match parse_float(tok) {
            Ok(v) => v,
            Err(e) => {
                return Err(format!(
                    "{} while parsing: {}",
                    float_error_text(e, tok),
                    self.while_parsing()
                ));
            }
        };
        if value.is_nan() {
            value = f64::from_bits(NORMAL_NAN);
        }
        let mut timestamp_ms = None;
        match self.next_token() {
            Tok::Linebreak => {}
            Tok::Timestamp => {
                let tok = self.buf();
                match parse_int_digits(tok) {
                    Ok(ts) => timestamp_ms = Some(ts),
                    Err(e) => {
                        return Err(format!(
                            "{} while parsing: {}",
                            int_error_text(e, tok),
                            self.while_parsing()
                        ));
                    }
                }
                let t2 = self.next_token();
                if t2 != Tok::Linebreak {
                    return Err(self.parse_error("expected next entry after timestamp", t2));
                }
            }
            t => return Err(self.parse_error("expected timestamp or new record", t)),
        }
        let (s, e) = self.cur.series;
        Ok(Entry::Series {
            series: &self.b[s..e],
            value,
            timestamp_ms,
            exemplar: None,
        })
    }
}
