//! Go's text/template, the part of it Helm charts use, with the Helm and Sprig functions our
//! chart calls, so tests can render `deploy/helm/` without Helm (not packaged for Debian).
//!
//! Faithful to Go (text/template, fmt) and to Helm 3 (engine, sigs.k8s.io/yaml over
//! go-yaml v2) for what it accepts; anything else is an error, never a guess:
//! - actions with `{{-`/`-}}` trimming and comments; `if`/`else if`/`else`, `with`, `range`
//!   (lists and maps in key order, `$i, $v :=`), `define`, `template`; variables (`:=`, `=`,
//!   `$`), field chains on maps (a missing key is nil, Helm's `missingkey=zero`) and on
//!   Helm's structs `.Release`/`.Chart` (a missing field is an error); pipelines, parentheses;
//!   string, raw string, number, bool and nil literals;
//! - Go's truth, printing (`<no value>` for nil, floats as `%v`: 1e+06) and typed function
//!   arguments (a float64 value where Sprig wants an int or a string is an error, as in Go);
//! - functions: and or not eq ne len printf (%s %d %v %q), Helm's include required fail
//!   toYaml, Sprig's default quote trunc trimSuffix contains indent nindent int;
//! - Helm values are JSON-typed: every number is a float64.
//!   toYaml emits go-yaml v2's block style (sorted keys, unindented sequences, its quoting
//!   rules); a long string go-yaml would fold at 80 columns is refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// `map[string]interface{}`: a missing key reads as nil.
    Map(BTreeMap<String, Value>),
    /// A Go struct (Helm's `.Release`, `.Chart`): a missing field is an error.
    Struct(&'static str, BTreeMap<String, Value>),
}

impl Value {
    /// A value as Helm holds values files: decoded as JSON, so numbers are float64.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Struct(name, _) => name,
        }
    }
}

/// Go's `truth`: false, 0, nil and empty strings, lists and maps are false.
fn truth(v: &Value) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::List(l) => !l.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Struct(..) => true,
    }
}

/// `fmt.Sprint` of a float64, i.e. strconv.FormatFloat(f, 'g', -1, 64): the shortest digits
/// that read back the same, in exponent form when the exponent is below -4 or 6 and more,
/// so 30000 prints "30000" but 1000000 "1e+06" (Helm's well-known surprise).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's shortest mode.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// `fmt.Sprint` of one value, as text/template prints an action's result (nil inside a
/// list or map prints `<nil>`; the action's own nil is `<no value>`).
fn sprint(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_float(*f),
        Value::Str(s) => s.clone(),
        Value::List(l) => format!("[{}]", l.iter().map(sprint).collect::<Vec<_>>().join(" ")),
        Value::Map(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", sprint(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Struct(_, m) => format!(
            "{{{}}}",
            m.values().map(sprint).collect::<Vec<_>>().join(" ")
        ),
    }
}

/// strconv.Quote (for `%q` and Sprig's `quote`): the scraper's own, which Prometheus' error
/// texts need too.
pub fn go_quote(s: &str) -> String {
    promshard::scrape::parse::go_quote(s.as_bytes())
}

// ---------------------------------------------------------------------------------------
// Lexing: the text is cut into text and actions first (trim markers applied), then each
// action's inside is tokenized.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Dot,
    /// A field, and whether a space came before it (`$x.A` chains, `$x .A` does not).
    Field(String, bool),
    Var(String),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Declare,
    Assign,
    Pipe,
    Comma,
    LParen,
    RParen,
}

enum Piece {
    Text(String),
    Action { line: usize, toks: Vec<Tok> },
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn split_actions(src: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    let line_of = |rest: &str| src[..src.len() - rest.len()].matches('\n').count() + 1;
    loop {
        let Some(open) = rest.find("{{") else {
            let mut text = rest;
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            pieces.push(Piece::Text(text.to_string()));
            return Ok(pieces);
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let line = line_of(&rest[open..]);
        let mut inner = &rest[open + 2..];
        // `{{-` trims only when a space follows: `{{-3}}` is the number -3.
        if inner.starts_with('-') && inner[1..].starts_with(is_space) {
            text = text.trim_end_matches(is_space);
            inner = &inner[2..];
        }
        pieces.push(Piece::Text(text.to_string()));
        // A comment starts right after `{{` or `{{- ` and ends right before `}}` or ` -}}`.
        if inner.starts_with("/*") {
            let end = inner
                .find("*/")
                .ok_or_else(|| format!("line {line}: unclosed comment"))?;
            let after = &inner[end + 2..];
            let (after, trim) = if let Some(a) = after.strip_prefix("}}") {
                (a, false)
            } else if let Some(a) = after
                .strip_prefix(|c: char| is_space(c))
                .and_then(|a| a.strip_prefix("-}}"))
            {
                (a, true)
            } else {
                return Err(format!(
                    "line {line}: comment ends before closing delimiter"
                ));
            };
            trim_next = trim;
            rest = after;
            continue;
        }
        let (toks, consumed, trim) = tokenize(inner, line)?;
        pieces.push(Piece::Action { line, toks });
        trim_next = trim;
        rest = &inner[consumed..];
    }
}

/// Tokens of one action, the bytes up to and including its `}}`, and whether it ended `-}}`.
fn tokenize(s: &str, line: usize) -> Result<(Vec<Tok>, usize, bool), String> {
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let err = |m: &str| Err(format!("line {line}: {m}"));
    loop {
        if i >= b.len() {
            return err("unclosed action");
        }
        let c = b[i] as char;
        let spaced = i == 0 || is_space(b[i - 1] as char);
        if is_space(c) {
            // ` -}}`: the right trim marker needs the space before it.
            if s[i..].trim_start_matches(is_space).starts_with("-}}") {
                let j = i + (s[i..].len() - s[i..].trim_start_matches(is_space).len());
                return Ok((toks, j + 3, true));
            }
            i += 1;
            continue;
        }
        if s[i..].starts_with("}}") {
            return Ok((toks, i + 2, false));
        }
        match c {
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            ':' if s[i..].starts_with(":=") => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut out = String::new();
                let mut chars = s[i + 1..].char_indices();
                loop {
                    let Some((j, ch)) = chars.next() else {
                        return err("unterminated quoted string");
                    };
                    match ch {
                        '"' => {
                            i += 1 + j + 1;
                            break;
                        }
                        '\n' => return err("unterminated quoted string"),
                        '\\' => {
                            let Some((_, e)) = chars.next() else {
                                return err("unterminated quoted string");
                            };
                            out.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                'a' => '\x07',
                                'b' => '\x08',
                                'f' => '\x0c',
                                'v' => '\x0b',
                                _ => return err(&format!("unsupported escape \\{e}")),
                            });
                        }
                        ch => out.push(ch),
                    }
                }
                toks.push(Tok::Str(out));
            }
            '`' => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or_else(|| format!("line {line}: unterminated raw string"))?;
                toks.push(Tok::Str(s[i + 1..i + 1 + end].to_string()));
                i += end + 2;
            }
            '$' | '.' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let name = &s[start..i];
                if c == '$' {
                    toks.push(Tok::Var(name.to_string()));
                } else if name == "." {
                    if i < b.len() && b[i].is_ascii_digit() {
                        return err("numbers like .5 are not supported");
                    }
                    toks.push(Tok::Dot);
                } else {
                    toks.push(Tok::Field(name[1..].to_string(), spaced));
                }
            }
            c if c.is_ascii_digit()
                || (c == '-' || c == '+') && i + 1 < b.len() && b[i + 1].is_ascii_digit() =>
            {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                let text = &s[start..i];
                if let Ok(n) = text.parse::<i64>() {
                    toks.push(Tok::Int(n));
                } else if let Ok(f) = text.parse::<f64>() {
                    toks.push(Tok::Float(f));
                } else {
                    return err(&format!("unsupported number {text:?}"));
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                toks.push(Tok::Ident(s[start..i].to_string()));
            }
            c => return err(&format!("unexpected {c:?} in action")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing.

#[derive(Clone, Debug)]
enum Operand {
    Dot(Vec<String>),
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.A.B`: fields of dot.
    Field(Vec<String>),
    /// `$x.A`: a variable and fields.
    Var(String, Vec<String>),
    Func(String),
    /// `(pipeline).A`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Clone, Debug)]
struct Pipe {
    line: usize,
    decl: Vec<String>,
    /// `=` rather than `:=`.
    assign: bool,
    cmds: Vec<Vec<Operand>>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    Template(String, Option<Pipe>, usize),
}

const FUNCS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "len",
    "printf",
    "include",
    "required",
    "fail",
    "toYaml",
    "default",
    "quote",
    "trunc",
    "trimSuffix",
    "contains",
    "indent",
    "nindent",
    "int",
];

struct Parser<'a> {
    pieces: &'a [Piece],
    pos: usize,
    defines: BTreeMap<String, Vec<Node>>,
}

/// What ended a list of nodes: the text's end, `{{end}}`, or the `{{else …}}` piece at.
enum Stop {
    Eof,
    End,
    Else(usize),
}

impl Parser<'_> {
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Stop), String> {
        let mut nodes = Vec::new();
        while self.pos < self.pieces.len() {
            let piece = &self.pieces[self.pos];
            self.pos += 1;
            let (line, toks) = match piece {
                Piece::Text(t) => {
                    if !t.is_empty() {
                        nodes.push(Node::Text(t.clone()));
                    }
                    continue;
                }
                Piece::Action { line, toks } => (*line, toks.as_slice()),
            };
            let err = |m: &str| Err(format!("line {line}: {m}"));
            match toks.first() {
                None => return err("missing value for command"),
                Some(Tok::Ident(k)) if k == "end" => {
                    if toks.len() > 1 {
                        return err("unexpected tokens after end");
                    }
                    return Ok((nodes, Stop::End));
                }
                Some(Tok::Ident(k)) if k == "else" => {
                    // `else if …` is handled by the caller, which re-reads this piece.
                    return Ok((nodes, Stop::Else(self.pos - 1)));
                }
                Some(Tok::Ident(k)) if k == "if" || k == "with" || k == "range" => {
                    let pipe = parse_pipe(&toks[1..], line, k == "range")?;
                    let node = self.control(k, pipe)?;
                    nodes.push(node);
                }
                Some(Tok::Ident(k)) if k == "define" => {
                    if !top {
                        return err("define not at top level");
                    }
                    let [_, Tok::Str(name)] = toks else {
                        return err("define needs a quoted name");
                    };
                    let (body, end) = self.list(false)?;
                    if !matches!(end, Stop::End) {
                        return err("define without end");
                    }
                    self.defines.insert(name.clone(), body);
                }
                Some(Tok::Ident(k)) if k == "template" => {
                    let Some(Tok::Str(name)) = toks.get(1) else {
                        return err("template needs a quoted name");
                    };
                    let pipe = if toks.len() > 2 {
                        Some(parse_pipe(&toks[2..], line, false)?)
                    } else {
                        None
                    };
                    nodes.push(Node::Template(name.clone(), pipe, line));
                }
                Some(Tok::Ident(k)) if k == "block" || k == "break" || k == "continue" => {
                    return err(&format!("{k} is not supported here"));
                }
                _ => nodes.push(Node::Action(parse_pipe(toks, line, false)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// The body and else branch of `if`/`with`/`range`, up to its `end`.
    fn control(&mut self, kind: &str, pipe: Pipe) -> Result<Node, String> {
        let line = pipe.line;
        let (body, end) = self.list(false)?;
        let otherwise = match end {
            Stop::Eof => return Err(format!("line {line}: unexpected EOF in {kind}")),
            Stop::End => Vec::new(),
            Stop::Else(at) => {
                let Piece::Action { line, toks } = &self.pieces[at] else {
                    unreachable!()
                };
                if toks.len() == 1 {
                    let (otherwise, end) = self.list(false)?;
                    if !matches!(end, Stop::End) {
                        return Err(format!("line {line}: expected end after else"));
                    }
                    otherwise
                } else if kind == "if" && toks[1] == Tok::Ident("if".into()) {
                    // `{{else if x}}` is `{{else}}{{if x}}…{{end}}{{end}}` sharing one end.
                    let pipe = parse_pipe(&toks[2..], *line, false)?;
                    vec![self.control("if", pipe)?]
                } else {
                    return Err(format!("line {line}: unsupported else form"));
                }
            }
        };
        Ok(match kind {
            "if" => Node::If(pipe, body, otherwise),
            "with" => Node::With(pipe, body, otherwise),
            _ => Node::Range(pipe, body, otherwise),
        })
    }
}

fn parse_pipe(toks: &[Tok], line: usize, range: bool) -> Result<Pipe, String> {
    let err = |m: String| Err(format!("line {line}: {m}"));
    let mut decl = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    // `$x :=`, `$x =`, and in range `$i, $v :=`.
    if let [Tok::Var(v), Tok::Declare | Tok::Assign, ..] = toks {
        decl.push(v.clone());
        assign = toks[1] == Tok::Assign;
        rest = &toks[2..];
    } else if let [Tok::Var(a), Tok::Comma, Tok::Var(b), Tok::Declare, ..] = toks {
        if !range {
            return err("too many declarations".into());
        }
        decl.push(a.clone());
        decl.push(b.clone());
        rest = &toks[4..];
    }
    let mut cmds = Vec::new();
    let mut cmd = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let tok = &rest[i];
        i += 1;
        let operand = match tok {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return err("missing command before |".into());
                }
                cmds.push(std::mem::take(&mut cmd));
                continue;
            }
            Tok::LParen => {
                let mut depth = 1;
                let start = i;
                while i < rest.len() && depth > 0 {
                    match rest[i] {
                        Tok::LParen => depth += 1,
                        Tok::RParen => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                if depth != 0 {
                    return err("unclosed left paren".into());
                }
                let inner = parse_pipe(&rest[start..i - 1], line, false)?;
                if !inner.decl.is_empty() {
                    return err("declaration inside parentheses is not supported".into());
                }
                Operand::Sub(Box::new(inner), Vec::new())
            }
            Tok::Field(f, spaced) => {
                // A field right after an operand, with no space, reads a field of it.
                if let (
                    false,
                    Some(Operand::Sub(_, chain) | Operand::Var(_, chain) | Operand::Field(chain)),
                ) = (*spaced, cmd.last_mut())
                {
                    chain.push(f.clone());
                    continue;
                }
                Operand::Field(vec![f.clone()])
            }
            Tok::Dot => Operand::Dot(Vec::new()),
            Tok::Var(v) => Operand::Var(v.clone(), Vec::new()),
            Tok::Str(s) => Operand::Str(s.clone()),
            Tok::Int(n) => Operand::Int(*n),
            Tok::Float(f) => Operand::Float(*f),
            Tok::Ident(id) => match id.as_str() {
                "nil" => Operand::Nil,
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                f if FUNCS.contains(&f) => Operand::Func(f.to_string()),
                f => return err(format!("function {f:?} not defined")),
            },
            Tok::RParen => return err("unexpected right paren".into()),
            Tok::Comma | Tok::Declare | Tok::Assign => {
                return err(format!("unexpected {tok:?} in command"));
            }
        };
        cmd.push(operand);
    }
    if cmd.is_empty() {
        return err("missing value for command".into());
    }
    cmds.push(cmd);
    Ok(Pipe {
        line,
        decl,
        assign,
        cmds,
    })
}

// ---------------------------------------------------------------------------------------
// Templates and execution.

/// A set of parsed templates: each file by name, and every `define`.
#[derive(Default)]
pub struct Templates {
    files: BTreeMap<String, Vec<Node>>,
    defines: BTreeMap<String, Vec<Node>>,
}

impl Templates {
    /// Parses `text` as the template `name`; its `define`s join the set.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), String> {
        let pieces = split_actions(text).map_err(|e| format!("template: {name}: {e}"))?;
        let mut parser = Parser {
            pieces: &pieces,
            pos: 0,
            defines: BTreeMap::new(),
        };
        let (nodes, end) = parser
            .list(true)
            .map_err(|e| format!("template: {name}: {e}"))?;
        if !matches!(end, Stop::Eof) {
            return Err(format!("template: {name}: unexpected end or else"));
        }
        self.defines.append(&mut parser.defines);
        self.files.insert(name.to_string(), nodes);
        Ok(())
    }

    /// Executes the template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, String> {
        let nodes = self
            .files
            .get(name)
            .or_else(|| self.defines.get(name))
            .ok_or_else(|| format!("no template {name:?}"))?;
        let mut exec = Exec {
            set: self,
            vars: vec![("$".into(), data.clone())],
            depth: 0,
            file: name.to_string(),
        };
        let mut out = String::new();
        exec.walk(&mut out, data, nodes)
            .map_err(|e| format!("template: {name}: {e}"))?;
        Ok(out)
    }
}

struct Exec<'a> {
    set: &'a Templates,
    vars: Vec<(String, Value)>,
    depth: usize,
    file: String,
}

impl Exec<'_> {
    fn walk(&mut self, out: &mut String, dot: &Value, nodes: &[Node]) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipe(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        match v {
                            Value::Nil => out.push_str("<no value>"),
                            v => out.push_str(&sprint(&v)),
                        }
                    }
                }
                Node::If(pipe, body, otherwise) => {
                    let mark = self.vars.len();
                    let v = self.pipe(dot, pipe)?;
                    let branch = if truth(&v) { body } else { otherwise };
                    self.walk(out, dot, branch)?;
                    self.vars.truncate(mark);
                }
                Node::With(pipe, body, otherwise) => {
                    let mark = self.vars.len();
                    let v = self.pipe(dot, pipe)?;
                    if truth(&v) {
                        self.walk(out, &v, body)?;
                    } else {
                        self.walk(out, dot, otherwise)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(pipe, body, otherwise) => {
                    let mark = self.vars.len();
                    let mut bare = pipe.clone();
                    bare.decl.clear();
                    let v = self.pipe(dot, &bare)?;
                    let items: Vec<(Value, Value)> = match v {
                        Value::List(l) => l
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (Value::Int(i as i64), v))
                            .collect(),
                        Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
                        Value::Nil => Vec::new(),
                        other => {
                            return Err(format!(
                                "line {}: range can't iterate over {}",
                                pipe.line,
                                sprint(&other)
                            ));
                        }
                    };
                    if items.is_empty() {
                        self.walk(out, dot, otherwise)?;
                    }
                    for (key, item) in items {
                        let inner = self.vars.len();
                        match pipe.decl.as_slice() {
                            [] => {}
                            [v] => self.vars.push((v.clone(), item.clone())),
                            [k, v] => {
                                self.vars.push((k.clone(), key));
                                self.vars.push((v.clone(), item.clone()));
                            }
                            _ => unreachable!(),
                        }
                        self.walk(out, &item, body)?;
                        self.vars.truncate(inner);
                    }
                    self.vars.truncate(mark);
                }
                Node::Template(name, pipe, line) => {
                    let data = match pipe {
                        Some(p) => self.pipe(dot, p)?,
                        None => Value::Nil,
                    };
                    let s = self
                        .run_define(name, &data)
                        .map_err(|e| format!("{}:{line}: {e}", self.file))?;
                    out.push_str(&s);
                }
            }
        }
        Ok(())
    }

    fn run_define(&mut self, name: &str, data: &Value) -> Result<String, String> {
        let body = self.set.defines.get(name).ok_or_else(|| {
            format!(
                "no template {name:?} associated with template {:?}",
                self.file
            )
        })?;
        // Helm stops include recursion at 1000.
        if self.depth >= 1000 {
            return Err(format!(
                "rendering template has a nested reference name: {name}"
            ));
        }
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), data.clone())]);
        self.depth += 1;
        let mut out = String::new();
        let result = self.walk(&mut out, data, body);
        self.depth -= 1;
        self.vars = saved;
        result.map(|()| out)
    }

    fn pipe(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, String> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(
                self.command(dot, cmd, value)
                    .map_err(|e| format!("{}:{}: {e}", self.file, pipe.line))?,
            );
        }
        let value = value.expect("a pipeline has a command");
        match (pipe.decl.as_slice(), pipe.assign) {
            ([], _) => {}
            ([name], false) => self.vars.push((name.clone(), value.clone())),
            ([name], true) => {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| format!("undefined variable: {name}"))?;
                slot.1 = value.clone();
            }
            _ => return Err(format!("line {}: too many declarations", pipe.line)),
        }
        Ok(value)
    }

    fn command(
        &mut self,
        dot: &Value,
        cmd: &[Operand],
        last: Option<Value>,
    ) -> Result<Value, String> {
        if let Operand::Func(name) = &cmd[0] {
            return self.call(dot, name, &cmd[1..], last);
        }
        if cmd.len() > 1 || last.is_some() {
            return Err(format!(
                "can't give argument to non-function {}",
                describe(&cmd[0])
            ));
        }
        self.operand(dot, &cmd[0])
    }

    fn operand(&mut self, dot: &Value, op: &Operand) -> Result<Value, String> {
        Ok(match op {
            Operand::Dot(chain) => fields(dot.clone(), chain)?,
            Operand::Nil => return Err("nil is not a command".into()),
            Operand::Bool(b) => Value::Bool(*b),
            Operand::Int(n) => Value::Int(*n),
            Operand::Float(f) => Value::Float(*f),
            Operand::Str(s) => Value::Str(s.clone()),
            Operand::Field(chain) => fields(dot.clone(), chain)?,
            Operand::Var(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: {name}"))?;
                fields(v, chain)?
            }
            Operand::Func(name) => self.call(dot, name, &[], None)?,
            Operand::Sub(pipe, chain) => {
                let v = self.pipe(dot, pipe)?;
                fields(v, chain)?
            }
        })
    }

    fn call(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Operand],
        last: Option<Value>,
    ) -> Result<Value, String> {
        // `and` and `or` evaluate their arguments only as far as needed (Go 1.18).
        if name == "and" || name == "or" {
            if args.is_empty() && last.is_none() {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            let mut v = Value::Nil;
            for a in args {
                v = self.operand(dot, a)?;
                if truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            // Not cut short: the pipeline's value, if any, is the answer.
            return Ok(last.unwrap_or(v));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for a in args {
            values.push(self.operand(dot, a)?);
        }
        values.extend(last);
        // Literal numbers are untyped constants in Go: an integer literal suits int and
        // float64 parameters alike; a value read from data keeps its type.
        let want = |n: usize| -> Result<(), String> {
            if values.len() != n {
                Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    values.len()
                ))
            } else {
                Ok(())
            }
        };
        let int_arg = |v: &Value| -> Result<i64, String> {
            match v {
                Value::Int(i) => Ok(*i),
                other => Err(format!(
                    "error calling {name}: wrong type for value; expected int; got {}",
                    other.type_name()
                )),
            }
        };
        let str_arg = |v: &Value| -> Result<String, String> {
            match v {
                Value::Str(s) => Ok(s.clone()),
                Value::Nil => Err(format!(
                    "error calling {name}: invalid value; expected string"
                )),
                other => Err(format!(
                    "error calling {name}: wrong type for value; expected string; got {}",
                    other.type_name()
                )),
            }
        };
        Ok(match name {
            "not" => {
                want(1)?;
                Value::Bool(!truth(&values[0]))
            }
            "eq" | "ne" => {
                if values.len() < 2 {
                    return Err(format!("wrong number of args for {name}"));
                }
                if name == "ne" {
                    want(2)?;
                }
                let mut equal = false;
                for other in &values[1..] {
                    if go_eq(&values[0], other)? {
                        equal = true;
                        break;
                    }
                }
                Value::Bool(if name == "eq" { equal } else { !equal })
            }
            "len" => {
                want(1)?;
                Value::Int(match &values[0] {
                    Value::Str(s) => s.len(),
                    Value::List(l) => l.len(),
                    Value::Map(m) => m.len(),
                    other => {
                        return Err(format!(
                            "error calling len: len of type {}",
                            other.type_name()
                        ));
                    }
                } as i64)
            }
            "printf" => {
                if values.is_empty() {
                    return Err("wrong number of args for printf".into());
                }
                Value::Str(printf(&str_arg(&values[0])?, &values[1..]))
            }
            "include" => {
                want(2)?;
                let name = str_arg(&values[0])?;
                Value::Str(self.run_define(&name, &values[1])?)
            }
            "required" => {
                want(2)?;
                match &values[1] {
                    Value::Nil => {
                        return Err(format!("error calling required: {}", str_arg(&values[0])?));
                    }
                    Value::Str(s) if s.is_empty() => {
                        return Err(format!("error calling required: {}", str_arg(&values[0])?));
                    }
                    v => v.clone(),
                }
            }
            "fail" => {
                want(1)?;
                return Err(format!("error calling fail: {}", str_arg(&values[0])?));
            }
            "toYaml" => {
                want(1)?;
                let mut s = to_yaml(&values[0])?;
                if s.ends_with('\n') {
                    s.pop();
                }
                Value::Str(s)
            }
            "default" => {
                if values.is_empty() {
                    return Err("wrong number of args for default".into());
                }
                match values.get(1) {
                    Some(given) if !empty(given) => given.clone(),
                    _ => values[0].clone(),
                }
            }
            "quote" => Value::Str(
                values
                    .iter()
                    .filter(|v| **v != Value::Nil)
                    .map(|v| go_quote(&strval(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "trunc" => {
                want(2)?;
                let c = int_arg(&values[0])?;
                let s = str_arg(&values[1])?;
                let len = s.len() as i64;
                Value::Str(if c < 0 && len + c > 0 {
                    s[(len + c) as usize..].to_string()
                } else if c >= 0 && len > c {
                    s[..c as usize].to_string()
                } else {
                    s
                })
            }
            "trimSuffix" => {
                want(2)?;
                let suffix = str_arg(&values[0])?;
                let s = str_arg(&values[1])?;
                Value::Str(s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string())
            }
            "contains" => {
                want(2)?;
                Value::Bool(str_arg(&values[1])?.contains(&str_arg(&values[0])?))
            }
            "indent" | "nindent" => {
                want(2)?;
                let n = int_arg(&values[0])?;
                let pad = " ".repeat(n.max(0) as usize);
                let s = str_arg(&values[1])?;
                let indented = format!("{pad}{}", s.replace('\n', &format!("\n{pad}")));
                Value::Str(if name == "nindent" {
                    format!("\n{indented}")
                } else {
                    indented
                })
            }
            "int" => {
                want(1)?;
                // spf13/cast.ToInt as Sprig calls it; strings are not used by the chart.
                Value::Int(match &values[0] {
                    Value::Int(i) => *i,
                    Value::Float(f) => *f as i64,
                    Value::Bool(b) => i64::from(*b),
                    Value::Nil => 0,
                    other => {
                        return Err(format!(
                            "error calling int: unsupported {} here",
                            other.type_name()
                        ));
                    }
                })
            }
            _ => return Err(format!("function {name:?} not defined")),
        })
    }
}

fn describe(op: &Operand) -> String {
    match op {
        Operand::Field(f) => format!(".{}", f.join(".")),
        Operand::Var(v, f) if f.is_empty() => v.clone(),
        Operand::Var(v, f) => format!("{v}.{}", f.join(".")),
        other => format!("{other:?}"),
    }
}

/// Reads a chain of fields: map keys (missing: nil) or struct fields (missing: error).
fn fields(mut v: Value, chain: &[String]) -> Result<Value, String> {
    for name in chain {
        v = match v {
            Value::Map(mut m) => m.remove(name).unwrap_or(Value::Nil),
            Value::Struct(ty, mut m) => m
                .remove(name)
                .ok_or_else(|| format!("can't evaluate field {name} in type {ty}"))?,
            Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    other.type_name()
                ));
            }
        };
    }
    Ok(v)
}

/// text/template's `eq` for basic kinds: ints with ints, floats with floats, strings, bools;
/// mixed kinds are an error unless one side is nil (then unequal).
fn go_eq(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err("error calling eq: non-comparable type".into());
        }
        _ => return Err("error calling eq: incompatible types for comparison".into()),
    })
}

/// Sprig's `empty`.
fn empty(v: &Value) -> bool {
    match v {
        Value::Struct(..) => false,
        v => !truth(v),
    }
}

/// Sprig's `strval`: strings as they are, anything else as `%v`.
fn strval(v: &Value) -> String {
    sprint(v)
}

/// fmt.Sprintf for the verbs %s %d %v %q and %%; a verb that does not fit its argument
/// prints Go's `%!verb(type=value)`.
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let bad = || match arg {
            Value::Nil => format!("%!{verb}(<nil>)"),
            a => format!("%!{verb}({}={})", a.type_name(), sprint(a)),
        };
        match (verb, arg) {
            ('v', a) => out.push_str(&sprint(a)),
            ('s', Value::Str(s)) => out.push_str(s),
            ('d', Value::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            ('q', Value::Str(s)) => out.push_str(&go_quote(s)),
            _ => out.push_str(&bad()),
        }
    }
    let extra: Vec<String> = args
        .map(|a| match a {
            Value::Nil => "<nil>".to_string(),
            a => format!("{}={}", a.type_name(), sprint(a)),
        })
        .collect();
    if !extra.is_empty() {
        let _ = write!(out, "%!(EXTRA {})", extra.join(", "));
    }
    out
}

// ---------------------------------------------------------------------------------------
// toYaml: sigs.k8s.io/yaml.Marshal, i.e. JSON first (so a float64 with an integral value is
// an int again), then go-yaml v2's emitter in block style.

pub fn to_yaml(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    match v {
        Value::Map(m) if !m.is_empty() => emit_map(&mut out, m, 0)?,
        Value::List(l) if !l.is_empty() => emit_list(&mut out, l, 0)?,
        // A document that is a lone scalar: a literal block's lines go at column 2.
        v => {
            out.push_str(&scalar(v, 2, 0, false)?);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The column the next character of `out` goes to.
fn column(out: &str) -> usize {
    out.len() - out.rfind('\n').map_or(0, |p| p + 1)
}

fn sorted_keys(m: &BTreeMap<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| yaml_key_order(a, b));
    keys
}

/// go-yaml v2's keyList.Less for string keys: letters after other characters, runs of
/// digits compared as numbers.
fn yaml_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let less = |x: bool| if x { Ordering::Less } else { Ordering::Greater };
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return less(bl);
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an * 10 + (ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn * 10 + (br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// A mapping whose keys start at column `indent`.
fn emit_map(out: &mut String, m: &BTreeMap<String, Value>, indent: usize) -> Result<(), String> {
    for (n, k) in sorted_keys(m).into_iter().enumerate() {
        // The first key of a mapping in a sequence follows its dash: `- a: 1`.
        if !(n == 0 && out.ends_with("- ")) {
            out.push_str(&" ".repeat(indent));
        }
        let col = column(out);
        out.push_str(&scalar(&Value::Str(k.clone()), indent + 2, col, true)?);
        out.push(':');
        match &m[k] {
            Value::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_map(out, inner, indent + 2)?;
            }
            // A sequence in a mapping is not indented (go-yaml v2).
            Value::List(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_list(out, inner, indent)?;
            }
            v => {
                out.push(' ');
                let col = column(out);
                out.push_str(&scalar(v, indent + 2, col, false)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// A sequence whose dashes are at column `indent`.
fn emit_list(out: &mut String, l: &[Value], indent: usize) -> Result<(), String> {
    for (n, v) in l.iter().enumerate() {
        // A sequence in a sequence starts on its parent's dash line: `- - a`.
        if !(n == 0 && out.ends_with("- ")) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match v {
            Value::Map(inner) if !inner.is_empty() => emit_map(out, inner, indent + 2)?,
            Value::List(inner) if !inner.is_empty() => emit_list(out, inner, indent + 2)?,
            v => {
                let col = column(out);
                out.push_str(&scalar(v, indent + 2, col, false)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// One scalar as go-yaml v2 writes it at column `col`; a literal block's lines go at column
/// `indent`.
fn scalar(v: &Value, indent: usize, col: usize, key: bool) -> Result<String, String> {
    Ok(match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            // Through JSON: integral floats come back as ints, others as strconv's 'g'.
            if f.fract() == 0.0 && f.abs() < 9.0e18 {
                (*f as i64).to_string()
            } else if f.is_finite() {
                go_float(*f)
            } else {
                return Err("toYaml: json: unsupported value: NaN or Inf".into());
            }
        }
        Value::Map(_) => "{}".into(),
        Value::List(_) => "[]".into(),
        Value::Struct(..) => return Err("toYaml of a struct is not supported here".into()),
        Value::Str(s) => yaml_string(s, indent, col, key)?,
    })
}

fn yaml_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
        || (0x10000..=0x10ffff).contains(&u)
}

/// Whether go-yaml v2 would read the plain string as something else than a string (so it
/// double-quotes it): null, bools of YAML 1.1, numbers, timestamps, base-60 floats.
fn yaml_ambiguous(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
        "on", "On", "ON", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off",
        "OFF", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if first == '.' {
        return s[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || "eE+-".contains(c))
            && s[1..].starts_with(|c: char| c.is_ascii_digit());
    }
    if !("+-0123456789".contains(first)) {
        return false;
    }
    let plain = s.replace('_', "");
    let digits = plain.trim_start_matches(['+', '-']);
    let int = if let Some(h) = digits.strip_prefix("0x") {
        !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())
    } else if let Some(b) = digits.strip_prefix("0b") {
        !b.is_empty() && b.chars().all(|c| c == '0' || c == '1')
    } else if let Some(o) = digits.strip_prefix("0o") {
        !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c))
    } else {
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    };
    // yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let float = {
        let (mant, exp) = match digits.find(['e', 'E']) {
            Some(i) => (&digits[..i], Some(&digits[i + 1..])),
            None => (digits, None),
        };
        let mant_ok = match mant.split_once('.') {
            Some((a, b)) => {
                (a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit()))
                    && (!a.is_empty() || !b.is_empty())
            }
            None => !mant.is_empty() && mant.chars().all(|c| c.is_ascii_digit()),
        };
        let exp_ok = exp.is_none_or(|e| {
            let e = e.trim_start_matches(['+', '-']);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        mant_ok && exp_ok
    };
    // Timestamps (2006-1-2 with an optional time) and base-60 numbers (1:20).
    let timestamp = {
        let date: Vec<&str> = s.splitn(3, '-').collect();
        date.len() == 3
            && date[0].len() == 4
            && date[0].chars().all(|c| c.is_ascii_digit())
            && (1..=2).contains(&date[1].len())
            && date[1].chars().all(|c| c.is_ascii_digit())
            && date[2].starts_with(|c: char| c.is_ascii_digit())
    };
    let base60 = {
        let t = s.trim_start_matches(['+', '-']);
        let (int_part, _) = t.split_once('.').unwrap_or((t, ""));
        let parts: Vec<&str> = int_part.split(':').collect();
        parts.len() > 1
            && parts[0].starts_with(|c: char| c.is_ascii_digit())
            && parts[0].chars().all(|c| c.is_ascii_digit() || c == '_')
            && parts[1..]
                .iter()
                .all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
    };
    int || float || timestamp || base60
}

/// go-yaml v2's style for a string (encoder's choice, then the emitter's analysis for block
/// context), written.
fn yaml_string(s: &str, indent: usize, col: usize, key: bool) -> Result<String, String> {
    if key && (s.contains('\n') || s.chars().count() > 128) {
        return Err(format!(
            "toYaml: key {s:?} would not be a simple key; not supported here"
        ));
    }
    let special = s.chars().any(|c| !yaml_printable(c) || c == '\u{feff}');
    if s.contains('\n') {
        // Literal, unless a trailing space, a space before a break or an unprintable
        // character forbids block styles.
        let out = if s.ends_with(' ') || s.contains(" \n") || special {
            double_quoted(s)
        } else {
            literal(s, indent)?
        };
        return Ok(out);
    }
    let out = if yaml_ambiguous(s) || special {
        double_quoted(s)
    } else if plain_allowed(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    };
    if !key {
        check_no_fold(&out, col)?;
    }
    Ok(out)
}

/// yaml_emitter_analyze_scalar's block_plain_allowed for a one-line printable string.
fn plain_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let blank = |i: usize| chars.get(i).is_none_or(|c| matches!(c, ' ' | '\t'));
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = blank(i + 1);
        let indicator = if i == 0 {
            matches!(
                c,
                '#' | ','
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '&'
                    | '*'
                    | '!'
                    | '|'
                    | '>'
                    | '\''
                    | '"'
                    | '%'
                    | '@'
                    | '`'
            ) || matches!(c, '?' | ':' | '-') && followed_by_ws
        } else {
            c == ':' && followed_by_ws || c == '#' && preceded_by_ws
        };
        if indicator {
            return false;
        }
        preceded_by_ws = matches!(c, ' ' | '\t');
    }
    true
}

/// go-yaml v2 (best width 80) breaks a scalar at a single space written past column 80; the
/// chart's values never need that, so it is refused rather than imitated.
fn check_no_fold(written: &str, col: usize) -> Result<(), String> {
    let b = written.as_bytes();
    for j in 1..b.len().saturating_sub(1) {
        if b[j] == b' ' && b[j - 1] != b' ' && b[j + 1] != b' ' && col + j > 80 {
            return Err(format!(
                "toYaml: go-yaml v2 would fold {written:?} at column 80; not supported here"
            ));
        }
    }
    Ok(())
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !yaml_printable(c) || c == '\u{feff}' => {
                let u = c as u32;
                let _ = if u <= 0xff {
                    write!(out, "\\x{u:02X}")
                } else if u <= 0xffff {
                    write!(out, "\\u{u:04X}")
                } else {
                    write!(out, "\\U{u:08X}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal block (`|`), go-yaml v2's style for strings with line breaks: `|-` without a
/// final break, `|` with one; an indentation digit when the text starts with a space.
fn literal(s: &str, indent: usize) -> Result<String, String> {
    if s.ends_with("\n\n") || s == "\n" {
        return Err("toYaml: kept trailing line breaks (|+) are not supported here".into());
    }
    let mut out = String::from("|");
    if s.starts_with([' ', '\n']) {
        out.push('2');
    }
    if !s.ends_with('\n') {
        out.push('-');
    }
    let pad = " ".repeat(indent);
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        out.push('\n');
        // Empty lines carry no indentation.
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Ok(out)
}
