//! Tokens and byte classes shared by the two lexers. The lexers are hand-written ports of
//! Prometheus' golex state machines (`promlex.l`, `openmetricslex.l`): same start
//! conditions, same token boundaries, same positions on failure (error messages quote
//! them), but with tight loops instead of one call per byte.

/// A lexer token (`promparse.go`'s `token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Invalid,
    Eof,
    Linebreak,
    Whitespace,
    Help,
    Type,
    Unit,
    EofWord,
    Text,
    Comment,
    MName,
    QString,
    BraceOpen,
    BraceClose,
    LName,
    LValue,
    Comma,
    Equal,
    Timestamp,
    Value,
}

impl Tok {
    /// `token.String()`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tok::Invalid => "INVALID",
            Tok::Eof => "EOF",
            Tok::Linebreak => "LINEBREAK",
            Tok::Whitespace => "WHITESPACE",
            Tok::Help => "HELP",
            Tok::Type => "TYPE",
            Tok::Unit => "UNIT",
            Tok::EofWord => "EOFWORD",
            Tok::Text => "TEXT",
            Tok::Comment => "COMMENT",
            Tok::MName => "MNAME",
            Tok::QString => "QSTRING",
            Tok::BraceOpen => "BOPEN",
            Tok::BraceClose => "BCLOSE",
            Tok::LName => "LNAME",
            Tok::LValue => "LVALUE",
            Tok::Comma => "COMMA",
            Tok::Equal => "EQUAL",
            Tok::Timestamp => "TIMESTAMP",
            Tok::Value => "VALUE",
        }
    }
}

/// Lexer start conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum St {
    Init,
    Comment,
    Meta1,
    Meta2,
    Labels,
    LValue,
    Value,
    Timestamp,
    Exemplar,
    EValue,
    ETimestamp,
}

impl St {
    /// The states in which Go's `next()` skips NUL bytes.
    #[inline(always)]
    pub(crate) fn skips_nul(self) -> bool {
        matches!(self, St::LValue | St::Meta2 | St::Comment)
    }
}

macro_rules! class {
    ($name:ident, |$c:ident| $e:expr) => {
        pub(crate) static $name: [bool; 256] = {
            let mut t = [false; 256];
            let mut i = 0;
            while i < 256 {
                let $c = i as u8;
                t[i] = $e;
                i += 1;
            }
            t
        };
    };
}

// `{M}` = [a-zA-Z_:]
class!(NAME_START, |c| c.is_ascii_alphabetic()
    || c == b'_'
    || c == b':');
// `({M}|{D})`
class!(NAME_CONT, |c| c.is_ascii_alphanumeric()
    || c == b'_'
    || c == b':');
// `{L}` = [a-zA-Z_]
class!(LNAME_START, |c| c.is_ascii_alphabetic() || c == b'_');
class!(LNAME_CONT, |c| c.is_ascii_alphanumeric() || c == b'_');
// Text format value: `[^{ \t\n]` less NUL.
class!(TEXT_VALUE, |c| c != 0
    && c != b'{'
    && c != b' '
    && c != b'\t'
    && c != b'\n');
// OpenMetrics value/timestamp: `[^ \n]` less NUL.
class!(OM_VALUE, |c| c != 0 && c != b' ' && c != b'\n');

#[inline(always)]
pub(crate) fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}
