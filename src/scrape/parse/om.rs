//! OpenMetrics 1.0 (P: `openmetricsparse.go`, `openmetricslex.l`), with `_created` lines
//! kept as plain samples (Prometheus' default without created-timestamp ingestion).

use memchr::{memchr, memchr3};

use super::goutil::{
    float_error_text, go_f64_to_i64, go_percent_f, parse_float, quote_excerpt, unescape_lval,
};
use super::lex::{LNAME_CONT, LNAME_START, NAME_CONT, NAME_START, OM_VALUE, St, Tok};
use super::{Cur, Entry, Exemplar, MetricType, NORMAL_NAN};

pub(crate) struct OmParser<'a> {
    b: &'a [u8],
    i: usize,
    start: usize,
    state: St,
    pub(crate) pstart: usize,
    pub(crate) cur: Cur,
    pub(crate) mtype: MetricType,
    /// Whether the fast paths may be taken (off only to test them against the general
    /// path).
    fast: bool,
}

type Res<T> = Result<T, String>;

const NO_EOF: &str = "data does not end with # EOF";

impl<'a> OmParser<'a> {
    pub(crate) fn new(b: &'a [u8], fast: bool) -> Self {
        OmParser {
            fast,
            b,
            i: 0,
            start: 0,
            state: St::Init,
            pstart: 0,
            cur: Cur::default(),
            mtype: MetricType::Unknown,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> u8 {
        let n = self.b.len();
        self.i += 1;
        if self.i >= n {
            return 0;
        }
        if self.state.skips_nul() {
            while self.b[self.i] == 0 {
                self.i += 1;
                if self.i >= n {
                    return 0;
                }
            }
        }
        self.b[self.i]
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

    /// A quoted string in a state that keeps NULs; `newline` tells whether raw newlines
    /// are allowed inside.
    fn quoted(&mut self, newline: bool, next_state: St, tok: Tok) -> Tok {
        let b = self.b;
        let n = b.len();
        let mut j = self.i + 1;
        loop {
            let rest = &b[j..];
            let found = if newline {
                memchr3(b'"', b'\\', 0, rest)
            } else {
                rest.iter()
                    .position(|&c| matches!(c, b'"' | b'\\' | b'\n' | 0))
            };
            let Some(p) = found else {
                self.i = n;
                return Tok::Invalid;
            };
            let p = j + p;
            match b[p] {
                b'"' => {
                    self.i = p + 1;
                    self.state = next_state;
                    return tok;
                }
                b'\\' => {
                    if p + 1 >= n {
                        self.i = n;
                        return Tok::Invalid;
                    }
                    let c = b[p + 1];
                    if c == 0 || c == b'\n' {
                        self.i = p + 1;
                        return Tok::Invalid;
                    }
                    j = p + 2;
                }
                _ => {
                    // NUL, or a newline where none is allowed.
                    self.i = p;
                    return Tok::Invalid;
                }
            }
        }
    }

    /// A label value (`\"(\\.|[^\\"\n])*\"` with NULs skipped).
    #[inline]
    fn label_value(&mut self) -> Tok {
        let b = self.b;
        let n = b.len();
        let mut j = self.i + 1;
        loop {
            let Some(p) = memchr3(b'"', b'\\', b'\n', &b[j.min(n)..]) else {
                self.i = n;
                return Tok::Invalid;
            };
            let p = j + p;
            match b[p] {
                b'"' => {
                    let mut i = p + 1;
                    while i < n && b[i] == 0 {
                        i += 1;
                    }
                    self.i = i;
                    self.state = St::Labels;
                    return Tok::LValue;
                }
                b'\\' => {
                    let mut q = p + 1;
                    while q < n && b[q] == 0 {
                        q += 1;
                    }
                    if q >= n || b[q] == b'\n' {
                        self.i = q.min(n);
                        return Tok::Invalid;
                    }
                    j = q + 1;
                }
                _ => {
                    self.i = p;
                    return Tok::Invalid;
                }
            }
        }
    }

    /// After `# `: `rest` then a single space, e.g. `HELP `.
    fn keyword(&mut self, rest: &[u8], tok: Tok) -> Tok {
        for &want in rest {
            if self.next() != want {
                return Tok::Invalid;
            }
        }
        if self.next() != b' ' {
            return Tok::Invalid;
        }
        self.next();
        self.state = St::Meta1;
        tok
    }

    /// `{S}[^ \n]+` from the current position (which holds the space).
    #[inline]
    fn spaced_token(&mut self, next_state: St, tok: Tok) -> Tok {
        let c = self.next();
        if !OM_VALUE[c as usize] {
            return Tok::Invalid;
        }
        self.scan_class(self.i + 1, &OM_VALUE);
        self.state = next_state;
        tok
    }

    fn lex(&mut self) -> Tok {
        let n = self.b.len();
        if self.i >= n {
            return Tok::Eof;
        }
        let mut c = self.b[self.i];
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
                            if self.next() != b' ' {
                                return Tok::Invalid;
                            }
                            c = self.next();
                            self.state = St::Comment;
                            continue;
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
                        b'E' => {
                            if self.next() != b'O' || self.next() != b'F' {
                                return Tok::Invalid;
                            }
                            if self.next() == b'\n' {
                                self.next();
                            }
                            self.state = St::Init;
                            Tok::EofWord
                        }
                        b'H' => self.keyword(b"ELP", Tok::Help),
                        b'T' => self.keyword(b"YPE", Tok::Type),
                        b'U' => self.keyword(b"NIT", Tok::Unit),
                        _ => Tok::Invalid,
                    };
                }
                St::Meta1 => {
                    if c == b'"' {
                        return self.quoted(true, St::Meta2, Tok::MName);
                    }
                    if NAME_START[c as usize] {
                        self.scan_class(self.i + 1, &NAME_CONT);
                        self.state = St::Meta2;
                        return Tok::MName;
                    }
                    return Tok::Invalid;
                }
                St::Meta2 => {
                    if c != b' ' {
                        return Tok::Invalid;
                    }
                    // `{S}{C}*\n`; NULs are skipped, including right after the newline.
                    let from = self.i + 1;
                    let Some(p) = memchr(b'\n', &self.b[from.min(n)..]) else {
                        self.i = n;
                        return Tok::Invalid;
                    };
                    let mut i = from + p + 1;
                    while i < n && self.b[i] == 0 {
                        i += 1;
                    }
                    self.i = i;
                    self.state = St::Init;
                    return Tok::Text;
                }
                St::Labels => {
                    if LNAME_START[c as usize] {
                        self.scan_class(self.i + 1, &LNAME_CONT);
                        return Tok::LName;
                    }
                    return match c {
                        b'"' => self.quoted(true, St::Labels, Tok::QString),
                        b',' => {
                            self.next();
                            Tok::Comma
                        }
                        b'=' => {
                            self.next();
                            self.state = St::LValue;
                            Tok::Equal
                        }
                        b'}' => {
                            self.next();
                            self.state = St::Value;
                            Tok::BraceClose
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::LValue => {
                    if c == b'"' {
                        return self.label_value();
                    }
                    return Tok::Invalid;
                }
                St::Value => {
                    return match c {
                        b' ' => self.spaced_token(St::Timestamp, Tok::Value),
                        b'{' => {
                            self.next();
                            self.state = St::Labels;
                            Tok::BraceOpen
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::Timestamp => {
                    return match c {
                        b' ' => {
                            let c = self.next();
                            if c == b'#' {
                                let c = self.next();
                                if c == b' ' {
                                    if self.next() == b'{' {
                                        self.next();
                                        self.state = St::Exemplar;
                                        return Tok::Comment;
                                    }
                                    return Tok::Invalid;
                                }
                                if OM_VALUE[c as usize] {
                                    self.scan_class(self.i + 1, &OM_VALUE);
                                }
                                Tok::Timestamp
                            } else if OM_VALUE[c as usize] {
                                self.scan_class(self.i + 1, &OM_VALUE);
                                Tok::Timestamp
                            } else {
                                Tok::Invalid
                            }
                        }
                        b'\n' => {
                            self.next();
                            self.state = St::Init;
                            Tok::Linebreak
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::Exemplar => {
                    if LNAME_START[c as usize] {
                        self.scan_class(self.i + 1, &LNAME_CONT);
                        return Tok::LName;
                    }
                    return match c {
                        b'"' => self.quoted(false, St::Exemplar, Tok::QString),
                        b',' => {
                            self.next();
                            Tok::Comma
                        }
                        b'=' => {
                            self.next();
                            self.state = St::EValue;
                            Tok::Equal
                        }
                        b'}' => {
                            self.next();
                            self.state = St::EValue;
                            Tok::BraceClose
                        }
                        _ => Tok::Invalid,
                    };
                }
                St::EValue => {
                    return match c {
                        b' ' => self.spaced_token(St::ETimestamp, Tok::Value),
                        b'"' => self.quoted(false, St::Exemplar, Tok::LValue),
                        _ => Tok::Invalid,
                    };
                }
                St::ETimestamp => {
                    return match c {
                        b' ' => self.spaced_token(St::ETimestamp, Tok::Timestamp),
                        b'\n' => {
                            self.next();
                            self.state = St::Init;
                            Tok::Linebreak
                        }
                        _ => Tok::Invalid,
                    };
                }
            }
        }
    }

    #[inline]
    fn buf(&self) -> &'a [u8] {
        &self.b[self.start..self.i]
    }

    fn parse_error(&self, exp: &str, got: Tok) -> String {
        let e = self.b.len().min(self.i + 1);
        format!(
            "{}, got {} ({}) while parsing: {}",
            exp,
            quote_excerpt(&self.b[self.start.min(e)..e]),
            quote_excerpt(got.name().as_bytes()),
            quote_excerpt(&self.b[self.pstart.min(e)..e])
        )
    }

    fn while_parsing(&self) -> String {
        quote_excerpt(&self.b[self.pstart..self.i])
    }

    pub(crate) fn next_entry(&mut self) -> Res<Option<Entry<'a>>> {
        self.pstart = self.i;
        self.cur.exemplar = None;
        let t = self.lex();
        match t {
            Tok::EofWord => {
                if self.lex() != Tok::Eof {
                    return Err("unexpected data after # EOF".to_string());
                }
                Ok(None)
            }
            Tok::Eof => Err(NO_EOF.to_string()),
            Tok::Help | Tok::Type | Tok::Unit => self.parse_meta(t).map(Some),
            Tok::BraceOpen => {
                self.cur.name = None;
                self.cur.lbrace = Some(self.start);
                self.parse_lvals(false)?;
                self.cur.series = (self.pstart, self.i);
                if let Some(e) = self.fast_suffix() {
                    return Ok(Some(e));
                }
                let t = self.lex();
                self.parse_series_end_of_line(t).map(Some)
            }
            Tok::MName => {
                self.cur.name = Some((self.pstart, self.i));
                self.cur.lbrace = None;
                self.cur.series = (self.pstart, self.i);
                if let Some(e) = self.fast_suffix() {
                    return Ok(Some(e));
                }
                let mut t2 = self.lex();
                if t2 == Tok::BraceOpen {
                    self.cur.lbrace = Some(self.start);
                    self.parse_lvals(false)?;
                    self.cur.series = (self.pstart, self.i);
                    if let Some(e) = self.fast_suffix() {
                        return Ok(Some(e));
                    }
                    t2 = self.lex();
                }
                self.parse_series_end_of_line(t2).map(Some)
            }
            _ => Err(self.parse_error("expected a valid start token", t)),
        }
    }

    fn parse_meta(&mut self, t: Tok) -> Res<Entry<'a>> {
        let t2 = self.lex();
        if t2 != Tok::MName {
            return Err(self.parse_error(&format!("expected metric name after {}", t.name()), t2));
        }
        let (mut ms, mut me) = (self.start, self.i);
        if self.b[ms] == b'"' && self.b[me - 1] == b'"' {
            ms += 1;
            me -= 1;
        }
        let metric = &self.b[ms..me];
        if self.lex() != Tok::Text {
            return Err(format!("expected text in {}", t.name()));
        }
        // Go drops the first and the last byte: the space and (unless NULs followed it
        // and were skipped) the newline.
        let buf = self.buf();
        let text: &'a [u8] = if buf.len() > 1 {
            &buf[1..buf.len() - 1]
        } else {
            &[]
        };
        match t {
            Tok::Type => {
                let kind = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    _ => return Err(format!("invalid metric type {}", quote_excerpt(text))),
                };
                self.mtype = kind;
                Ok(Entry::Type { metric, kind })
            }
            Tok::Help => {
                let Ok(s) = std::str::from_utf8(text) else {
                    return Err(format!(
                        "help text {} is not a valid utf8 string",
                        quote_excerpt(text)
                    ));
                };
                Ok(Entry::Help {
                    metric,
                    text: unescape_lval(s),
                })
            }
            _ => {
                let unit = text;
                if !unit.is_empty()
                    && (!metric.ends_with(unit)
                        || metric.len() < unit.len() + 1
                        || self.b[me - unit.len() - 1] != b'_')
                {
                    return Err(format!(
                        "unit {} not a suffix of metric {}",
                        quote_excerpt(unit),
                        quote_excerpt(metric)
                    ));
                }
                Ok(Entry::Unit { metric, unit })
            }
        }
    }

    fn check_value_utf8(&self) -> Res<()> {
        let v = self.buf();
        if !v.is_ascii() && std::str::from_utf8(v).is_err() {
            return Err(format!("invalid UTF-8 label value: {}", quote_excerpt(v)));
        }
        Ok(())
    }

    fn parse_lvals(&mut self, exemplar: bool) -> Res<()> {
        // Fast path for `name="value"` pairs: consumes exactly the tokens the lexer would
        // and hands over to the general loop at anything else (see text.rs).
        let b = self.b;
        let n = b.len();
        let mut after_value = false;
        while self.fast && !exemplar {
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
                return Ok(());
            }
            break;
        }
        let mut t = self.lex();
        if after_value {
            if t == Tok::Comma {
                t = self.lex();
            } else if t != Tok::BraceClose {
                return Err(self.parse_error("expected comma or brace close", t));
            }
        }
        loop {
            let (cur_start, cur_i) = (self.start, self.i);
            let is_qstring = match t {
                Tok::BraceClose => return Ok(()),
                Tok::LName => false,
                Tok::QString => true,
                _ => return Err(self.parse_error("expected label name", t)),
            };
            t = self.lex();
            if is_qstring && (t == Tok::Comma || t == Tok::BraceClose) {
                if exemplar {
                    return Err(self.parse_error("expected label name", t));
                }
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
                t = self.lex();
                continue;
            }
            if t != Tok::Equal {
                return Err(self.parse_error("expected equal", t));
            }
            let t2 = self.lex();
            if t2 != Tok::LValue {
                return Err(self.parse_error("expected label value", t2));
            }
            self.check_value_utf8()?;
            t = self.lex();
            if t == Tok::Comma {
                t = self.lex();
            } else if t != Tok::BraceClose {
                return Err(self.parse_error("expected comma or brace close", t));
            }
        }
    }

    fn float_value(&mut self, t: Tok, after: &str) -> Res<f64> {
        if t != Tok::Value {
            return Err(self.parse_error(&format!("expected value after {after}"), t));
        }
        let tok = &self.buf()[1..];
        match parse_float(tok) {
            Ok(v) if v.is_nan() => Ok(f64::from_bits(NORMAL_NAN)),
            Ok(v) => Ok(v),
            Err(e) => Err(format!(
                "{} while parsing: {}",
                float_error_text(e, tok),
                self.while_parsing()
            )),
        }
    }

    fn timestamp(&mut self, what: &str) -> Res<i64> {
        let tok = &self.buf()[1..];
        let ts = parse_float(tok).map_err(|e| {
            format!(
                "{} while parsing: {}",
                float_error_text(e, tok),
                self.while_parsing()
            )
        })?;
        if ts.is_nan() || ts.is_infinite() {
            return Err(format!("invalid {what}timestamp {}", go_percent_f(ts)));
        }
        Ok(go_f64_to_i64(ts * 1000.0))
    }

    /// Fast path for ` value[ timestamp]\n` without exemplar; `None` leaves the parser
    /// untouched for the general path (which also produces the errors).
    #[inline]
    fn fast_suffix(&mut self) -> Option<Entry<'a>> {
        let b = self.b;
        let n = b.len();
        let i = self.i;
        if !(self.fast && i + 1 < n && b[i] == b' ' && OM_VALUE[b[i + 1] as usize])
            || self.cur.name.is_none()
        {
            return None;
        }
        let vs = i + 1;
        let mut j = vs + 1;
        while j < n && OM_VALUE[b[j] as usize] {
            j += 1;
        }
        if j >= n {
            return None;
        }
        let (ts_range, nl) = if b[j] == b'\n' {
            (None, j)
        } else if b[j] == b' ' && j + 1 < n && b[j + 1] != b'#' && OM_VALUE[b[j + 1] as usize] {
            let mut k = j + 2;
            while k < n && OM_VALUE[b[k] as usize] {
                k += 1;
            }
            if k >= n || b[k] != b'\n' {
                return None;
            }
            (Some((j + 1, k)), k)
        } else {
            return None;
        };
        let mut value = parse_float(&b[vs..j]).ok()?;
        if value.is_nan() {
            value = f64::from_bits(NORMAL_NAN);
        }
        let timestamp_ms = match ts_range {
            Some((s, e)) => {
                let ts = parse_float(&b[s..e]).ok()?;
                if !ts.is_finite() {
                    return None;
                }
                Some(go_f64_to_i64(ts * 1000.0))
            }
            None => None,
        };
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

    fn parse_series_end_of_line(&mut self, t: Tok) -> Res<Entry<'a>> {
        if self.cur.name.is_none() {
            return Err(format!(
                "metric name not set while parsing: {}",
                self.while_parsing()
            ));
        }
        let value = self.float_value(t, "metric")?;
        let mut timestamp_ms = None;
        let mut exemplar = None;
        match self.lex() {
            Tok::Eof => return Err(NO_EOF.to_string()),
            Tok::Linebreak => {}
            Tok::Comment => exemplar = Some(self.parse_exemplar()?),
            Tok::Timestamp => {
                timestamp_ms = Some(self.timestamp("")?);
                match self.lex() {
                    Tok::Linebreak => {}
                    Tok::Comment => exemplar = Some(self.parse_exemplar()?),
                    t3 => {
                        return Err(self.parse_error("expected next entry after timestamp", t3));
                    }
                }
            }
            // Prometheus has no default case here: the sample is returned and the next
            // call fails on whatever follows.
            _ => {}
        }
        let (s, e) = self.cur.series;
        Ok(Entry::Series {
            series: &self.b[s..e],
            value,
            timestamp_ms,
            exemplar,
        })
    }

    fn parse_exemplar(&mut self) -> Res<Exemplar<'a>> {
        let lbrace = self.i - 1;
        self.parse_lvals(true)?;
        let labels_end = self.i;
        self.cur.exemplar = Some((lbrace, labels_end));
        let t = self.lex();
        let value = self.float_value(t, "exemplar labels")?;
        let mut timestamp_ms = None;
        match self.lex() {
            Tok::Eof => return Err(NO_EOF.to_string()),
            Tok::Linebreak => {}
            Tok::Timestamp => {
                timestamp_ms = Some(self.timestamp("exemplar ")?);
                let t3 = self.lex();
                if t3 != Tok::Linebreak {
                    return Err(
                        self.parse_error("expected next entry after exemplar timestamp", t3)
                    );
                }
            }
            t2 => return Err(self.parse_error("expected timestamp or comment", t2)),
        }
        Ok(Exemplar {
            labels: &self.b[lbrace..labels_end],
            value,
            timestamp_ms,
        })
    }
}
