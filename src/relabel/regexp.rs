//! Go RE2 regular expressions (`regexp/syntax` with Perl flags) on top of the `regex` crate.
//!
//! Prometheus compiles a relabel regex as `^(?s:<re>)$` with Go's `regexp`. The two syntaxes
//! differ in ways that silently change matches (`\d \w \s \b` are ASCII in Go and Unicode in
//! Rust, `[a&&b]` and `[[]` mean different things, `\<` is a word boundary in Rust, …), so the
//! pattern is parsed here with Go's grammar and rules, and re-emitted as an unambiguous
//! `regex`-crate pattern. Parse errors carry Go's messages (`error parsing regexp: …`).
//!
//! Capture groups are emitted without names; names are kept here (Go allows names the
//! `regex` crate rejects, such as duplicates or names starting with a digit) and resolved by
//! [`Template`], which implements Go's `Regexp.Expand`.

use regex::{CaptureLocations, Regex, RegexBuilder};
use std::fmt::{self, Write};
use std::sync::LazyLock;

const MAX_REPEAT: i64 = 1000;
const MAX_HEIGHT: u32 = 1000;
const MAX_SURROGATE: u32 = 0xDFFF;
const MIN_SURROGATE: u32 = 0xD800;
const MAX_RUNE: u32 = 0x10FFFF;
/// Go allows compiled programs of up to 128 MiB; UTF-8 automata make Unicode classes much
/// larger in the `regex` crate (`\pL{1000}` needs ~30 MiB), so raise its 10 MiB default.
const SIZE_LIMIT: usize = 128 << 20;
/// The `regex` crate's compiler recurses over the pattern and its default nest limit keeps
/// that safe on small (2 MiB) thread stacks. Go allows a parse tree 1000 levels deep; this
/// rejects patterns nesting deeper than about 250 groups or repetitions.
const NEST_LIMIT: u32 = 250;

mod code {
    pub const INVALID_CHAR_RANGE: &str = "invalid character class range";
    pub const INVALID_ESCAPE: &str = "invalid escape sequence";
    pub const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
    pub const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
    pub const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
    pub const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
    pub const MISSING_BRACKET: &str = "missing closing ]";
    pub const MISSING_PAREN: &str = "missing closing )";
    pub const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
    pub const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
    pub const UNEXPECTED_PAREN: &str = "unexpected )";
    pub const NESTING_DEPTH: &str = "expression nests too deeply";
    pub const LARGE: &str = "expression too large";
}

fn syntax_error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// A relabel regex: the text as written, and its anchored compiled form.
#[derive(Clone)]
pub struct Regexp {
    text: String,
    regex: Regex,
    /// Capture group names by group index; index 0 is the whole match.
    names: Vec<Option<String>>,
    /// Every match spans the whole input (no top-level alternation escaped the anchors).
    anchored: bool,
}

impl fmt::Debug for Regexp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regexp({:?})", self.text)
    }
}

impl Regexp {
    /// Compiles `text` as Prometheus does: `^(?s:<text>)$` with Go's RE2 syntax.
    pub fn new(text: &str) -> Result<Regexp, String> {
        let whole = format!("^(?s:{text})$");
        let (root, names) = Parser::new(&whole).parse()?;
        let anchored = match &root.kind {
            Kind::Concat(subs) => {
                matches!(subs.first().map(|r| &r.kind), Some(Kind::BeginText))
                    && matches!(subs.last().map(|r| &r.kind), Some(Kind::EndText))
            }
            _ => false,
        };
        let mut pattern = String::with_capacity(whole.len() * 2);
        emit(&root, &mut pattern);
        let regex = RegexBuilder::new(&pattern)
            .size_limit(SIZE_LIMIT)
            .nest_limit(NEST_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => syntax_error(code::LARGE, &whole),
                regex::Error::Syntax(msg) => {
                    let detail = msg
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    let detail = detail.trim().trim_start_matches("error: ");
                    format!("error parsing regexp: {detail}: `{whole}`")
                }
                other => format!("error parsing regexp: {other}"),
            })?;
        debug_assert_eq!(regex.captures_len(), names.len());
        Ok(Regexp {
            text: text.to_owned(),
            regex,
            names,
            anchored,
        })
    }

    /// The regex as written in the configuration (without the added anchors).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Go's `MatchString`.
    pub fn is_match(&self, haystack: &str) -> bool {
        self.regex.is_match(haystack)
    }

    /// Number of capture groups, not counting the whole match (Go's `NumSubexp`).
    pub fn num_subexp(&self) -> usize {
        self.names.len() - 1
    }

    /// Capture group names by index (Go's `SubexpNames`, with `None` for unnamed groups).
    pub fn subexp_names(&self) -> &[Option<String>] {
        &self.names
    }

    pub(crate) fn capture_locations(&self) -> CaptureLocations {
        self.regex.capture_locations()
    }

    /// Go's `FindStringSubmatchIndex`: fills `locs`, returns false when there is no match.
    pub(crate) fn captures_read(&self, locs: &mut CaptureLocations, haystack: &str) -> bool {
        self.regex.captures_read(locs, haystack).is_some()
    }

    /// Go's `ReplaceAllString(src, template)`, or `None` when the regex does not match `src`
    /// at all (relabeling calls `MatchString` first and skips non-matching names).
    pub(crate) fn replace_all(
        &self,
        src: &str,
        template: &Template,
        locs: &mut CaptureLocations,
    ) -> Option<String> {
        let mut out = String::new();
        if self.anchored {
            // The only match is the whole string.
            if !self.captures_read(locs, src) {
                return None;
            }
            template.expand(src, locs, &mut out);
            return Some(out);
        }
        if !self.is_match(src) {
            return None;
        }
        let mut last_match_end = 0;
        let mut search_pos = 0;
        while search_pos <= src.len() {
            if self.regex.captures_read_at(locs, src, search_pos).is_none() {
                break;
            }
            let (start, end) = locs.get(0).expect("group 0 is set on a match");
            out.push_str(&src[last_match_end..start]);
            // No replacement for an empty match right after the previous match.
            if end > last_match_end || start == 0 {
                template.expand(src, locs, &mut out);
            }
            last_match_end = end;
            let width = src[search_pos..].chars().next().map_or(0, char::len_utf8);
            if search_pos + width > end {
                search_pos += width;
            } else if search_pos + 1 > end {
                search_pos += 1;
            } else {
                search_pos = end;
            }
        }
        out.push_str(&src[last_match_end..]);
        Some(out)
    }
}

/// A `$1` / `${name}` template, resolved against a regex: Go's `Regexp.Expand`.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    /// Candidate groups in order; the first that took part in the match is used.
    Groups(Vec<usize>),
}

/// Go's `unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'`, as a run.
static TEMPLATE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Nd}_]+").expect("static regex"));

/// Go's `extract`: the name after a `$`, and the rest of the template.
fn extract(s: &str) -> Option<(&str, &str)> {
    let (braced, s) = match s.strip_prefix('{') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let len = TEMPLATE_NAME.find(s)?.end();
    let (name, mut rest) = s.split_at(len);
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

/// A group number as Go reads it: ASCII digits, no leading zero, below 1e8.
fn group_number(name: &str) -> Option<usize> {
    let mut num: usize = 0;
    for b in name.bytes() {
        if !b.is_ascii_digit() || num >= 100_000_000 {
            return None;
        }
        num = num * 10 + usize::from(b - b'0');
    }
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    Some(num)
}

impl Template {
    pub fn new(template: &str, re: &Regexp) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                rest = tail;
                continue;
            }
            let Some((name, tail)) = extract(after) else {
                // Malformed: the `$` is literal text.
                literal.push('$');
                rest = after;
                continue;
            };
            rest = tail;
            let groups: Vec<usize> = match group_number(name) {
                Some(n) if n <= re.num_subexp() => vec![n],
                Some(_) => Vec::new(),
                None => (0..re.names.len())
                    .filter(|&i| re.names[i].as_deref() == Some(name))
                    .collect(),
            };
            if !groups.is_empty() {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Groups(groups));
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Template { parts }
    }

    /// The expansion when it does not depend on the match.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    pub fn expand(&self, haystack: &str, locs: &CaptureLocations, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Groups(groups) => {
                    if let Some((start, end)) = groups.iter().find_map(|&g| locs.get(g)) {
                        out.push_str(&haystack[start..end]);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser: a port of the grammar and checks of Go's regexp/syntax (Perl flags).

#[derive(Clone, Copy, Debug)]
struct Flags {
    fold_case: bool,
    dot_nl: bool,
    one_line: bool,
    non_greedy: bool,
}

#[derive(Debug)]
struct Re {
    kind: Kind,
    height: u32,
}

#[derive(Debug)]
enum Kind {
    Empty,
    /// A code point (may be a surrogate, which never matches) and whether it folds case.
    Literal(u32, bool),
    Class(Class),
    AnyChar,
    AnyCharNotNl,
    BeginText,
    EndText,
    BeginLine,
    EndLine,
    WordBoundary,
    NoWordBoundary,
    Capture(Box<Re>),
    Repeat {
        op: RepeatOp,
        greedy: bool,
        sub: Box<Re>,
    },
    Concat(Vec<Re>),
    Alternate(Vec<Re>),
}

#[derive(Clone, Copy, Debug)]
enum RepeatOp {
    Star,
    Plus,
    Quest,
    /// `{min,max}`; `max == -1` means unbounded.
    Counted(i64, i64),
}

#[derive(Debug)]
struct Class {
    negated: bool,
    fold_case: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug)]
enum ClassItem {
    /// Code points `lo..=hi` (surrogates are dropped when emitting).
    Range(u32, u32),
    /// A ready-made fragment of `regex`-crate class syntax (`[:alpha:]`, `\p{Greek}`, `[^0-9]`).
    Fragment(String),
}

impl Re {
    fn leaf(kind: Kind) -> Re {
        Re { kind, height: 1 }
    }
}

struct Frame {
    capture: bool,
    /// Flags to restore at the closing parenthesis.
    flags: Flags,
    alternatives: Vec<Re>,
    current: Vec<Re>,
}

impl Frame {
    fn new(capture: bool, flags: Flags) -> Frame {
        Frame {
            capture,
            flags,
            alternatives: Vec::new(),
            current: Vec::new(),
        }
    }
}

struct Parser<'a> {
    whole: &'a str,
    flags: Flags,
    frames: Vec<Frame>,
    names: Vec<Option<String>>,
}

fn is_octal(b: Option<&u8>) -> bool {
    matches!(b, Some(b'0'..=b'7'))
}

fn unhex(c: Option<char>) -> Option<u32> {
    c.and_then(|c| c.to_digit(16))
}

impl<'a> Parser<'a> {
    fn new(whole: &'a str) -> Parser<'a> {
        let flags = Flags {
            fold_case: false,
            dot_nl: false,
            one_line: true,
            non_greedy: false,
        };
        Parser {
            whole,
            flags,
            frames: vec![Frame::new(false, flags)],
            names: vec![None],
        }
    }

    fn err(&self, code: &str, expr: &str) -> String {
        syntax_error(code, expr)
    }

    fn check_height(&self, re: Re) -> Result<Re, String> {
        if re.height > MAX_HEIGHT {
            return Err(self.err(code::NESTING_DEPTH, self.whole));
        }
        Ok(re)
    }

    fn push(&mut self, re: Re) {
        self.frames
            .last_mut()
            .expect("top-level frame")
            .current
            .push(re);
    }

    fn literal(&mut self, c: u32) {
        self.push(Re::leaf(Kind::Literal(c, self.flags.fold_case)));
    }

    fn class(&mut self, items: Vec<ClassItem>, negated: bool) {
        let class = Class {
            negated,
            fold_case: self.flags.fold_case,
            items,
        };
        self.push(Re::leaf(Kind::Class(class)));
    }

    fn parse(mut self) -> Result<(Re, Vec<Option<String>>), String> {
        let s = self.whole;
        let bytes = s.as_bytes();
        let mut pos = 0;
        let mut last_repeat: Option<usize> = None;
        while pos < s.len() {
            let mut repeat = None;
            match bytes[pos] {
                b'(' => {
                    if bytes.get(pos + 1) == Some(&b'?') {
                        pos = self.parse_perl_flags(pos)?;
                    } else {
                        self.open_group(true, None);
                        pos += 1;
                    }
                }
                b'|' => {
                    let frame = self.frames.last_mut().expect("frame");
                    let concat = concat(std::mem::take(&mut frame.current));
                    frame.alternatives.push(concat);
                    pos += 1;
                }
                b')' => {
                    self.close_group()?;
                    pos += 1;
                }
                b'^' => {
                    self.push(Re::leaf(if self.flags.one_line {
                        Kind::BeginText
                    } else {
                        Kind::BeginLine
                    }));
                    pos += 1;
                }
                b'$' => {
                    self.push(Re::leaf(if self.flags.one_line {
                        Kind::EndText
                    } else {
                        Kind::EndLine
                    }));
                    pos += 1;
                }
                b'.' => {
                    self.push(Re::leaf(if self.flags.dot_nl {
                        Kind::AnyChar
                    } else {
                        Kind::AnyCharNotNl
                    }));
                    pos += 1;
                }
                b'[' => pos = self.parse_class(pos)?,
                op @ (b'*' | b'+' | b'?') => {
                    let op = match op {
                        b'*' => RepeatOp::Star,
                        b'+' => RepeatOp::Plus,
                        _ => RepeatOp::Quest,
                    };
                    let before = pos;
                    pos = self.repeat(op, before, before + 1, last_repeat)?;
                    repeat = Some(before);
                }
                b'{' => match parse_repeat(&s[pos..]) {
                    None => {
                        // Not a valid repeat: `{` is a literal.
                        self.literal(u32::from('{'));
                        pos += 1;
                    }
                    Some((min, max, len)) => {
                        let before = pos;
                        let after = pos + len;
                        // Numbers too big (-1 from parse_repeat), or max < min.
                        if !(0..=MAX_REPEAT).contains(&min)
                            || max > MAX_REPEAT
                            || (max >= 0 && min > max)
                        {
                            return Err(self.err(code::INVALID_REPEAT_SIZE, &s[before..after]));
                        }
                        pos =
                            self.repeat(RepeatOp::Counted(min, max), before, after, last_repeat)?;
                        repeat = Some(before);
                    }
                },
                b'\\' => pos = self.parse_backslash(pos)?,
                _ => {
                    let c = s[pos..].chars().next().expect("non-empty");
                    self.literal(u32::from(c));
                    pos += c.len_utf8();
                }
            }
            last_repeat = repeat;
        }
        if self.frames.len() != 1 {
            return Err(self.err(code::MISSING_PAREN, s));
        }
        let frame = self.frames.pop().expect("top-level frame");
        let root = self.finish(frame)?;
        Ok((root, self.names))
    }

    fn open_group(&mut self, capture: bool, name: Option<String>) {
        if capture {
            self.names.push(name);
        }
        self.frames.push(Frame::new(capture, self.flags));
    }

    fn finish(&self, mut frame: Frame) -> Result<Re, String> {
        let last = concat(std::mem::take(&mut frame.current));
        let re = if frame.alternatives.is_empty() {
            last
        } else {
            frame.alternatives.push(last);
            let mut subs = Vec::with_capacity(frame.alternatives.len());
            for re in frame.alternatives {
                match re.kind {
                    Kind::Alternate(inner) => subs.extend(inner),
                    _ => subs.push(re),
                }
            }
            let height = subs.iter().map(|r| r.height).max().unwrap_or(0) + 1;
            Re {
                kind: Kind::Alternate(subs),
                height,
            }
        };
        self.check_height(re)
    }

    fn close_group(&mut self) -> Result<(), String> {
        if self.frames.len() < 2 {
            return Err(self.err(code::UNEXPECTED_PAREN, self.whole));
        }
        let frame = self.frames.pop().expect("checked");
        self.flags = frame.flags;
        let capture = frame.capture;
        let mut re = self.finish(frame)?;
        if capture {
            let height = re.height + 1;
            re = self.check_height(Re {
                kind: Kind::Capture(Box::new(re)),
                height,
            })?;
        }
        self.push(re);
        Ok(())
    }

    /// Applies a repetition to the last expression; `before..after` is the operator.
    fn repeat(
        &mut self,
        op: RepeatOp,
        before: usize,
        mut after: usize,
        last_repeat: Option<usize>,
    ) -> Result<usize, String> {
        let s = self.whole;
        let mut greedy = !self.flags.non_greedy;
        if s.as_bytes().get(after) == Some(&b'?') {
            after += 1;
            greedy = !greedy;
        }
        if let Some(last) = last_repeat {
            // Perl does not allow stacked repetition operators: `a**` is an error.
            return Err(self.err(code::INVALID_REPEAT_OP, &s[last..after]));
        }
        let Some(sub) = self.frames.last_mut().expect("frame").current.pop() else {
            return Err(self.err(code::MISSING_REPEAT_ARGUMENT, &s[before..after]));
        };
        let height = sub.height + 1;
        let re = self.check_height(Re {
            kind: Kind::Repeat {
                op,
                greedy,
                sub: Box::new(sub),
            },
            height,
        })?;
        if let RepeatOp::Counted(min, max) = op
            && (min >= 2 || max >= 2)
            && !repeat_is_valid(&re, MAX_REPEAT)
        {
            return Err(self.err(code::INVALID_REPEAT_SIZE, &s[before..after]));
        }
        self.push(re);
        Ok(after)
    }

    /// `(?` — named captures, non-capturing groups and flag changes.
    fn parse_perl_flags(&mut self, pos: usize) -> Result<usize, String> {
        let t = &self.whole[pos..];
        let tb = t.as_bytes();
        let starts_with_p = t.len() > 4 && tb[2] == b'P' && tb[3] == b'<';
        let starts_with_name = t.len() > 3 && tb[2] == b'<';
        if starts_with_p || starts_with_name {
            let name_start = if starts_with_p { 4 } else { 3 };
            let Some(end) = t.find('>') else {
                return Err(self.err(code::INVALID_NAMED_CAPTURE, t));
            };
            let name = &t[name_start..end];
            if name.is_empty() || !name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()) {
                return Err(self.err(code::INVALID_NAMED_CAPTURE, &t[..=end]));
            }
            self.open_group(true, Some(name.to_owned()));
            return Ok(pos + end + 1);
        }

        let mut flags = self.flags;
        let mut negate = false;
        let mut saw_flag = false;
        let mut i = 2;
        while let Some(c) = t[i..].chars().next() {
            i += c.len_utf8();
            match c {
                'i' => flags.fold_case = !negate,
                'm' => flags.one_line = negate,
                's' => flags.dot_nl = !negate,
                'U' => flags.non_greedy = !negate,
                '-' => {
                    if negate {
                        break;
                    }
                    negate = true;
                    saw_flag = false;
                    continue;
                }
                ':' | ')' => {
                    if negate && !saw_flag {
                        break;
                    }
                    if c == ':' {
                        self.open_group(false, None);
                    }
                    self.flags = flags;
                    return Ok(pos + i);
                }
                _ => break,
            }
            saw_flag = true;
        }
        Err(self.err(code::INVALID_PERL_OP, &t[..i]))
    }

    fn parse_backslash(&mut self, pos: usize) -> Result<usize, String> {
        let t = &self.whole[pos..];
        let tb = t.as_bytes();
        if let Some(&b) = tb.get(1) {
            let assertion = match b {
                b'A' => Some(Kind::BeginText),
                b'b' => Some(Kind::WordBoundary),
                b'B' => Some(Kind::NoWordBoundary),
                b'z' => Some(Kind::EndText),
                b'C' => return Err(self.err(code::INVALID_ESCAPE, &t[..2])),
                b'Q' => {
                    // \Q ... \E: everything in between is literal.
                    let body = &t[2..];
                    let (lit, consumed) = match body.find(r"\E") {
                        Some(i) => (&body[..i], 2 + i + 2),
                        None => (body, t.len()),
                    };
                    for c in lit.chars() {
                        self.literal(u32::from(c));
                    }
                    return Ok(pos + consumed);
                }
                _ => None,
            };
            if let Some(kind) = assertion {
                self.push(Re::leaf(kind));
                return Ok(pos + 2);
            }
            if b == b'p' || b == b'P' {
                let (item, len) = self.parse_unicode_class(t)?;
                self.class(vec![item], false);
                return Ok(pos + len);
            }
        }
        if let Some(items) = perl_class(t) {
            self.class(items, false);
            return Ok(pos + 2);
        }
        let (c, len) = self.parse_escape(t)?;
        self.literal(c);
        Ok(pos + len)
    }

    /// A single-character escape at the start of `t` (which starts with `\`).
    fn parse_escape(&self, t: &str) -> Result<(u32, usize), String> {
        let Some(c) = t[1..].chars().next() else {
            return Err(self.err(code::TRAILING_BACKSLASH, ""));
        };
        let tb = t.as_bytes();
        let mut i = 1 + c.len_utf8();
        let invalid = |i: usize| -> Result<(u32, usize), String> {
            Err(syntax_error(code::INVALID_ESCAPE, &t[..i]))
        };
        match c {
            '1'..='7' if !is_octal(tb.get(i)) => invalid(i),
            '0'..='7' => {
                let mut r = u32::from(c) - u32::from('0');
                for _ in 1..3 {
                    if !is_octal(tb.get(i)) {
                        break;
                    }
                    r = r * 8 + u32::from(tb[i] - b'0');
                    i += 1;
                }
                Ok((r, i))
            }
            'x' => {
                let Some(c) = t[i..].chars().next() else {
                    return invalid(i);
                };
                i += c.len_utf8();
                if c == '{' {
                    let mut digits = 0;
                    let mut r: u32 = 0;
                    loop {
                        let Some(c) = t[i..].chars().next() else {
                            return invalid(i);
                        };
                        i += c.len_utf8();
                        if c == '}' {
                            break;
                        }
                        let Some(v) = unhex(Some(c)) else {
                            return invalid(i);
                        };
                        r = r * 16 + v;
                        if r > MAX_RUNE {
                            return invalid(i);
                        }
                        digits += 1;
                    }
                    if digits == 0 {
                        return invalid(i);
                    }
                    return Ok((r, i));
                }
                let x = unhex(Some(c));
                let next = t[i..].chars().next();
                i += next.map_or(0, char::len_utf8);
                match (x, unhex(next)) {
                    (Some(x), Some(y)) => Ok((x * 16 + y, i)),
                    _ => invalid(i),
                }
            }
            'a' => Ok((0x07, i)),
            'f' => Ok((0x0C, i)),
            'n' => Ok((0x0A, i)),
            'r' => Ok((0x0D, i)),
            't' => Ok((0x09, i)),
            'v' => Ok((0x0B, i)),
            // Escaped punctuation is itself.
            _ if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((u32::from(c), i)),
            _ => invalid(i),
        }
    }

    /// `\pN`, `\p{Name}`, `\PN`, `\P{Name}`, `\p{^Name}` at the start of `t`.
    fn parse_unicode_class(&self, t: &str) -> Result<(ClassItem, usize), String> {
        let mut negated = t.as_bytes()[1] == b'P';
        let (seq_len, name) = match t[2..].chars().next() {
            None => (2, ""),
            Some('{') => match t.find('}') {
                Some(end) => (end + 1, &t[3..end]),
                None => return Err(self.err(code::INVALID_CHAR_RANGE, t)),
            },
            Some(c) => (2 + c.len_utf8(), &t[2..2 + c.len_utf8()]),
        };
        let name = match name.strip_prefix('^') {
            Some(rest) => {
                negated = !negated;
                rest
            }
            None => name,
        };
        match unicode_class(name, negated) {
            Some(item) => Ok((item, seq_len)),
            None => Err(self.err(code::INVALID_CHAR_RANGE, &t[..seq_len])),
        }
    }

    fn parse_class_char(&self, t: &str, whole_class: &str) -> Result<(u32, usize), String> {
        match t.chars().next() {
            None => Err(self.err(code::MISSING_BRACKET, whole_class)),
            Some('\\') => self.parse_escape(t),
            Some(c) => Ok((u32::from(c), c.len_utf8())),
        }
    }

    /// A bracketed class starting at `pos`; returns the position after it.
    fn parse_class(&mut self, pos: usize) -> Result<usize, String> {
        let s = self.whole;
        let whole_class = &s[pos..];
        let mut i = pos + 1;
        let mut negated = false;
        if s[i..].starts_with('^') {
            negated = true;
            i += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let t = &s[i..];
            if t.starts_with(']') && !first {
                break;
            }
            first = false;

            // POSIX classes like [:alnum:].
            if t.len() > 2
                && t.starts_with("[:")
                && let Some(j) = t[2..].find(":]")
            {
                let name = &t[..j + 4];
                match posix_class(name) {
                    Some(item) => items.push(item),
                    None => return Err(self.err(code::INVALID_CHAR_RANGE, name)),
                }
                i += name.len();
                continue;
            }
            // Unicode classes like \p{Han}.
            if t.len() >= 2 && t.starts_with('\\') && matches!(t.as_bytes()[1], b'p' | b'P') {
                let (item, len) = self.parse_unicode_class(t)?;
                items.push(item);
                i += len;
                continue;
            }
            // Perl classes like \d.
            if let Some(perl) = perl_class(t) {
                items.extend(perl);
                i += 2;
                continue;
            }
            // A single character or a range.
            let range_start = i;
            let (lo, len) = self.parse_class_char(t, whole_class)?;
            i += len;
            let mut hi = lo;
            let t = &s.as_bytes()[i..];
            if t.len() >= 2 && t[0] == b'-' && t[1] != b']' {
                i += 1;
                let (h, len) = self.parse_class_char(&s[i..], whole_class)?;
                i += len;
                if h < lo {
                    return Err(self.err(code::INVALID_CHAR_RANGE, &s[range_start..i]));
                }
                hi = h;
            }
            items.push(ClassItem::Range(lo, hi));
        }
        self.class(items, negated);
        Ok(i + 1)
    }
}

/// `{min}`, `{min,}` or `{min,max}` at the start of `s`: `(min, max, length)`, with max = -1
/// for unbounded and min = -1 for too-large numbers; `None` if `s` is not a repeat.
fn parse_repeat(s: &str) -> Option<(i64, i64, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let parse_int = |i: &mut usize| -> Option<i64> {
        let start = *i;
        if !b.get(start).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        if b[start] == b'0' && b.get(start + 1).is_some_and(u8::is_ascii_digit) {
            return None; // leading zeros
        }
        let mut n: i64 = 0;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            if n >= 0 {
                n = if n >= 100_000_000 {
                    -1
                } else {
                    n * 10 + i64::from(b[*i] - b'0')
                };
            }
            *i += 1;
        }
        Some(n)
    };
    let mut min = parse_int(&mut i)?;
    let max;
    match b.get(i)? {
        b',' => {
            i += 1;
            if *b.get(i)? == b'}' {
                max = -1;
            } else {
                max = parse_int(&mut i)?;
                if max < 0 {
                    min = -1;
                }
            }
        }
        _ => max = min,
    }
    if b.get(i) != Some(&b'}') {
        return None;
    }
    Some((min, max, i + 1))
}

/// Go's `repeatIsValid`: nested counted repetitions may not exceed `n` copies in total.
fn repeat_is_valid(re: &Re, mut n: i64) -> bool {
    if let Kind::Repeat {
        op: RepeatOp::Counted(min, max),
        ..
    } = re.kind
    {
        let mut m = max;
        if m == 0 {
            return true;
        }
        if m < 0 {
            m = min;
        }
        if m > n {
            return false;
        }
        if m > 0 {
            n /= m;
        }
    }
    match &re.kind {
        Kind::Capture(sub) | Kind::Repeat { sub, .. } => repeat_is_valid(sub, n),
        Kind::Concat(subs) | Kind::Alternate(subs) => subs.iter().all(|s| repeat_is_valid(s, n)),
        _ => true,
    }
}

fn concat(mut items: Vec<Re>) -> Re {
    match items.len() {
        0 => Re::leaf(Kind::Empty),
        1 => items.pop().expect("one item"),
        _ => {
            let mut subs = Vec::with_capacity(items.len());
            for re in items {
                match re.kind {
                    Kind::Concat(inner) => subs.extend(inner),
                    _ => subs.push(re),
                }
            }
            let height = subs.iter().map(|r| r.height).max().unwrap_or(0) + 1;
            Re {
                kind: Kind::Concat(subs),
                height,
            }
        }
    }
}

/// `\d \D \s \S \w \W` (ASCII in Go).
fn perl_class(t: &str) -> Option<Vec<ClassItem>> {
    use ClassItem::{Fragment, Range};
    let b = t.as_bytes();
    if b.len() < 2 || b[0] != b'\\' {
        return None;
    }
    let r = |lo: u8, hi: u8| Range(u32::from(lo), u32::from(hi));
    Some(match b[1] {
        b'd' => vec![r(b'0', b'9')],
        b'D' => vec![Fragment("[^0-9]".into())],
        b's' => vec![r(b'\t', b'\n'), r(0x0C, b'\r'), r(b' ', b' ')],
        b'S' => vec![Fragment(r"[^\t\n\x0C\r\x20]".into())],
        b'w' => vec![r(b'0', b'9'), r(b'A', b'Z'), r(b'_', b'_'), r(b'a', b'z')],
        b'W' => vec![Fragment("[^0-9A-Za-z_]".into())],
        _ => return None,
    })
}

/// `[:name:]` / `[:^name:]`: Go's POSIX classes, which the `regex` crate spells the same way
/// and defines identically (ASCII).
fn posix_class(name: &str) -> Option<ClassItem> {
    const NAMES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    let inner = name.strip_prefix("[:")?.strip_suffix(":]")?;
    let base = inner.strip_prefix('^').unwrap_or(inner);
    NAMES
        .contains(&base)
        .then(|| ClassItem::Fragment(name.to_owned()))
}

/// A Unicode class by name (general category, script, or alias), as a class item.
fn unicode_class(name: &str, negated: bool) -> Option<ClassItem> {
    // Go's names are letters, digits and `_`, compared ignoring case, `_`, `-` and spaces.
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' '))
    {
        return None;
    }
    let canonical: String = name
        .bytes()
        .filter(|b| !matches!(b, b'_' | b'-' | b' '))
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect();
    let fragment = match canonical.as_str() {
        "" => return None,
        // Surrogates never occur in valid UTF-8; the `regex` crate has no such class.
        "cs" | "surrogate" => {
            return Some(if negated {
                ClassItem::Range(0, MAX_RUNE)
            } else {
                ClassItem::Fragment(String::new())
            });
        }
        // Go's `C` is Cc|Cf|Co|Cs; the `regex` crate's also contains unassigned code points.
        "c" | "other" => {
            let body = r"\p{Cc}\p{Cf}\p{Co}";
            return Some(ClassItem::Fragment(if negated {
                format!("[^{body}]")
            } else {
                body.to_owned()
            }));
        }
        _ => format!(r"\p{{{name}}}"),
    };
    // The `regex` crate knows every Go category and script name (and more).
    Regex::new(&fragment).ok()?;
    Some(ClassItem::Fragment(if negated {
        format!(r"\P{{{name}}}")
    } else {
        fragment
    }))
}

// ---------------------------------------------------------------------------------------
// Emitting a `regex`-crate pattern. Every construct is spelled out explicitly (flags are
// applied per atom), so the result never depends on `regex`-crate defaults.

fn emit_code_point(out: &mut String, c: u32) {
    match char::from_u32(c) {
        Some(ch) if ch.is_ascii_alphanumeric() || ch == '_' => out.push(ch),
        _ => {
            let _ = write!(out, r"\x{{{c:X}}}");
        }
    }
}

const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";

fn emit_range(out: &mut String, lo: u32, hi: u32) {
    let mut push = |lo: u32, hi: u32| {
        emit_code_point(out, lo);
        if hi != lo {
            out.push('-');
            emit_code_point(out, hi);
        }
    };
    if hi < MIN_SURROGATE || lo > MAX_SURROGATE {
        push(lo, hi);
        return;
    }
    if lo < MIN_SURROGATE {
        push(lo, MIN_SURROGATE - 1);
    }
    if hi > MAX_SURROGATE {
        push(MAX_SURROGATE + 1, hi);
    }
}

fn emit_class(class: &Class, out: &mut String) {
    let mut body = String::new();
    for item in &class.items {
        match item {
            ClassItem::Range(lo, hi) => emit_range(&mut body, *lo, *hi),
            ClassItem::Fragment(f) => body.push_str(f),
        }
    }
    if class.fold_case {
        out.push_str("(?i:");
    }
    match (body.is_empty(), class.negated) {
        (true, false) => out.push_str(NEVER),
        (true, true) => out.push_str("(?s:.)"),
        (false, negated) => {
            out.push('[');
            if negated {
                out.push('^');
            }
            out.push_str(&body);
            out.push(']');
        }
    }
    if class.fold_case {
        out.push(')');
    }
}

/// Emits `re` so that a following repetition operator applies to all of it.
fn emit_atom(re: &Re, out: &mut String) {
    match re.kind {
        Kind::Concat(_) | Kind::Alternate(_) | Kind::Repeat { .. } => {
            out.push_str("(?:");
            emit(re, out);
            out.push(')');
        }
        _ => emit(re, out),
    }
}

fn emit(re: &Re, out: &mut String) {
    match &re.kind {
        Kind::Empty => out.push_str("(?:)"),
        Kind::Literal(c, fold) => {
            if (MIN_SURROGATE..=MAX_SURROGATE).contains(c) {
                out.push_str(NEVER);
            } else if *fold {
                out.push_str("(?i:");
                emit_code_point(out, *c);
                out.push(')');
            } else {
                emit_code_point(out, *c);
            }
        }
        Kind::Class(class) => emit_class(class, out),
        Kind::AnyChar => out.push_str("(?s:.)"),
        Kind::AnyCharNotNl => out.push_str("(?-s:.)"),
        Kind::BeginText => out.push_str(r"\A"),
        Kind::EndText => out.push_str(r"\z"),
        Kind::BeginLine => out.push_str("(?m:^)"),
        Kind::EndLine => out.push_str("(?m:$)"),
        Kind::WordBoundary => out.push_str(r"(?-u:\b)"),
        Kind::NoWordBoundary => out.push_str(r"(?-u:\B)"),
        Kind::Capture(sub) => {
            out.push('(');
            emit(sub, out);
            out.push(')');
        }
        Kind::Repeat { op, greedy, sub } => {
            emit_atom(sub, out);
            match op {
                RepeatOp::Star => out.push('*'),
                RepeatOp::Plus => out.push('+'),
                RepeatOp::Quest => out.push('?'),
                RepeatOp::Counted(min, max) if min == max => {
                    let _ = write!(out, "{{{min}}}");
                }
                RepeatOp::Counted(min, -1) => {
                    let _ = write!(out, "{{{min},}}");
                }
                RepeatOp::Counted(min, max) => {
                    let _ = write!(out, "{{{min},{max}}}");
                }
            }
            if !greedy {
                out.push('?');
            }
        }
        Kind::Concat(subs) => {
            for sub in subs {
                if matches!(sub.kind, Kind::Alternate(_)) {
                    emit_atom(sub, out);
                } else {
                    emit(sub, out);
                }
            }
        }
        Kind::Alternate(subs) => {
            for (i, sub) in subs.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                emit(sub, out);
            }
        }
    }
}

#[cfg(test)]
pub(crate) fn translate(text: &str) -> Result<String, String> {
    let whole = format!("^(?s:{text})$");
    let (root, _) = Parser::new(&whole).parse()?;
    let mut pattern = String::new();
    emit(&root, &mut pattern);
    Ok(pattern)
}
