//! Cutting typed or piped SQL text into statements at the `;` that end them.
//!
//! A `;` ends a statement only outside string literals (`'...'`, `E'...'` with
//! backslash escapes, `$tag$...$tag$`), quoted identifiers (`"..."`) and comments
//! (`-- ...` to the end of the line, `/* ... */`, which nest as in DuckDB). Text is
//! fed a line at a time and scanned once, so a long pasted script stays linear.

/// Where the scanner is: in plain SQL, or inside something a `;` does not end.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Normal,
    /// `'...'`; `escapes` when it is an `E'...'` string where `\'` does not end it.
    SingleQuoted {
        escapes: bool,
    },
    DoubleQuoted,
    /// `$tag$ ... $tag$` (the tag may be empty: `$$ ... $$`).
    DollarQuoted {
        tag: String,
    },
    LineComment,
    /// `/* ... */`, with the nesting depth.
    BlockComment {
        depth: usize,
    },
}

/// SQL text that has been read but not yet run.
#[derive(Debug)]
pub struct StatementBuffer {
    text: String,
    /// How far `text` has been scanned.
    scanned: usize,
    /// Where the statement being read starts in `text`.
    start: usize,
    /// Whether that statement holds anything but blanks and comments.
    has_content: bool,
    state: State,
}

impl StatementBuffer {
    pub fn new() -> Self {
        StatementBuffer {
            text: String::new(),
            scanned: 0,
            start: 0,
            has_content: false,
            state: State::Normal,
        }
    }

    /// Whether a statement has been started and not yet ended by its `;` (also
    /// true inside an open string or block comment).
    pub fn is_pending(&self) -> bool {
        self.has_content || !matches!(self.state, State::Normal | State::LineComment)
    }

    /// Adds one line of input and returns the statements it completes, in order,
    /// without their `;`. Statements that are only blanks and comments are dropped.
    pub fn push_line(&mut self, line: &str) -> Vec<String> {
        self.text.push_str(line);
        self.text.push('\n');
        let statements = self.scan();
        // Forget the text of statements already returned.
        self.text.drain(..self.start);
        self.scanned -= self.start;
        self.start = 0;
        statements
    }

    /// Takes what is left (a last statement without a `;`), if it holds any SQL.
    pub fn take_rest(&mut self) -> Option<String> {
        let rest = self
            .has_content
            .then(|| self.text[self.start..].trim().to_string());
        self.clear();
        rest
    }

    /// Drops the unfinished statement.
    pub fn clear(&mut self) {
        *self = StatementBuffer::new();
    }

    fn scan(&mut self) -> Vec<String> {
        let mut statements = Vec::new();
        let bytes = self.text.as_bytes();
        let mut i = self.scanned;
        // Every delimiter is ASCII, and the bytes of a multi-byte UTF-8 character
        // are never ASCII, so scanning bytes is safe.
        while i < bytes.len() {
            let b = bytes[i];
            let next = bytes.get(i + 1).copied();
            match &mut self.state {
                State::Normal => match b {
                    b';' => {
                        if self.has_content {
                            statements.push(self.text[self.start..i].trim().to_string());
                        }
                        self.start = i + 1;
                        self.has_content = false;
                    }
                    b'-' if next == Some(b'-') => {
                        self.state = State::LineComment;
                        i += 1;
                    }
                    b'/' if next == Some(b'*') => {
                        self.state = State::BlockComment { depth: 1 };
                        i += 1;
                    }
                    _ => {
                        if !b.is_ascii_whitespace() {
                            self.has_content = true;
                        }
                        match b {
                            b'\'' => {
                                let escapes = i > 0
                                    && matches!(bytes[i - 1], b'e' | b'E')
                                    && (i < 2 || !is_identifier_byte(bytes[i - 2]));
                                self.state = State::SingleQuoted { escapes };
                            }
                            b'"' => self.state = State::DoubleQuoted,
                            b'$' if i == 0 || !is_identifier_byte(bytes[i - 1]) => {
                                if let Some(tag) = dollar_tag(&bytes[i + 1..]) {
                                    i += tag.len() + 1;
                                    self.state = State::DollarQuoted { tag };
                                }
                            }
                            _ => {}
                        }
                    }
                },
                State::SingleQuoted { escapes } => match b {
                    b'\\' if *escapes => i += 1,
                    b'\'' => self.state = State::Normal,
                    _ => {}
                },
                State::DoubleQuoted => {
                    if b == b'"' {
                        self.state = State::Normal;
                    }
                }
                State::DollarQuoted { tag } => {
                    if b == b'$' {
                        let rest = &bytes[i + 1..];
                        if rest.starts_with(tag.as_bytes()) && rest.get(tag.len()) == Some(&b'$') {
                            i += tag.len() + 1;
                            self.state = State::Normal;
                        }
                    }
                }
                State::LineComment => {
                    if b == b'\n' {
                        self.state = State::Normal;
                    }
                }
                State::BlockComment { depth } => {
                    if b == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        if *depth == 0 {
                            self.state = State::Normal;
                        }
                        i += 1;
                    } else if b == b'/' && next == Some(b'*') {
                        *depth += 1;
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        self.scanned = i.min(bytes.len());
        statements
    }
}

fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || !b.is_ascii()
}

/// The tag of a dollar quote whose opening `$` was just read: `rest` starts with
/// `tag$`, where the tag is empty or an identifier. `None` for `$1` and the like.
fn dollar_tag(rest: &[u8]) -> Option<String> {
    let len = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))?;
    if rest[len] != b'$' || rest.first().is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(String::from_utf8_lossy(&rest[..len]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `lines` and returns every statement completed, plus the rest.
    fn split(lines: &[&str]) -> (Vec<String>, Option<String>) {
        let mut buffer = StatementBuffer::new();
        let mut statements = Vec::new();
        for line in lines {
            statements.extend(buffer.push_line(line));
        }
        (statements, buffer.take_rest())
    }

    #[test]
    fn statements_end_at_semicolons() {
        assert_eq!(
            split(&["SELECT 1; SELECT 2;", "SELECT", "  3", ";"]),
            (
                vec!["SELECT 1".into(), "SELECT 2".into(), "SELECT\n  3".into()],
                None
            )
        );
    }

    #[test]
    fn an_unfinished_statement_is_pending() {
        let mut buffer = StatementBuffer::new();
        assert!(!buffer.is_pending());
        assert!(buffer.push_line("SELECT 1; SELECT").len() == 1);
        assert!(buffer.is_pending());
        assert_eq!(buffer.take_rest().as_deref(), Some("SELECT"));
        assert!(!buffer.is_pending());
    }

    #[test]
    fn quoted_semicolons_do_not_end_statements() {
        let (statements, rest) = split(&[
            "SELECT 'a;b', \"c;d\", 'it''s;' FROM t;",
            "SELECT 'multi",
            "line;' ;",
            "SELECT E'x\\';y', $$ ; $$, $q$ ; $q$;",
        ]);
        assert_eq!(
            statements,
            vec![
                "SELECT 'a;b', \"c;d\", 'it''s;' FROM t",
                "SELECT 'multi\nline;'",
                "SELECT E'x\\';y', $$ ; $$, $q$ ; $q$",
            ]
        );
        assert_eq!(rest, None);
    }

    #[test]
    fn comments_do_not_end_statements() {
        let (statements, rest) = split(&[
            "SELECT 1 -- not the end;",
            ", 2 /* nor; /* nested; */ this; */ ;",
            "-- a comment on its own;",
            "/* and ; another */ ;",
            "SELECT 3",
        ]);
        assert_eq!(
            statements,
            vec!["SELECT 1 -- not the end;\n, 2 /* nor; /* nested; */ this; */"]
        );
        assert_eq!(rest.as_deref(), Some("SELECT 3"));
    }

    #[test]
    fn blanks_and_comments_are_not_pending() {
        let mut buffer = StatementBuffer::new();
        assert!(buffer.push_line("  -- hello").is_empty());
        assert!(!buffer.is_pending());
        assert!(buffer.push_line(";;").is_empty());
        assert!(!buffer.is_pending());
        buffer.push_line("/* open");
        assert!(buffer.is_pending());
        buffer.push_line("closed */");
        assert!(!buffer.is_pending());
        assert_eq!(buffer.take_rest(), None);
    }

    #[test]
    fn dollar_placeholders_are_not_quotes() {
        let (statements, _) = split(&["SELECT $1; SELECT a$b$c;", "SELECT 2;"]);
        assert_eq!(statements, vec!["SELECT $1", "SELECT a$b$c", "SELECT 2"]);
    }

    #[test]
    fn non_ascii_text_is_kept_whole() {
        let (statements, _) = split(&["SELECT 'héllo; wörld', ünïcode;"]);
        assert_eq!(statements, vec!["SELECT 'héllo; wörld', ünïcode"]);
    }
}
