//! The interactive shell: read SQL a line at a time, run each statement when its
//! `;` arrives, print the result; dot commands (`.tables`, `.mode csv`, ...) in
//! between. On a terminal it uses rustyline (line editing, history in
//! `~/.olap_history`); otherwise it reads standard input as a script, so
//! `echo "SELECT 1;" | olap-cli` works.

use std::io::{self, BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use olap::Database;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::failure::{guarded, Failure};
use crate::output::{print_result, print_text, Format};
use crate::statements::StatementBuffer;

const PROMPT: &str = "olap> ";
const CONTINUATION_PROMPT: &str = "   ...> ";

const HELP: &str = "\
Enter SQL statements ending with `;` (they may span lines), or a command:
  .tables              list the tables (SHOW TABLES)
  .mviews              list the materialized views (SHOW MATERIALIZED VIEWS)
  .schema [TABLE]      describe TABLE, or every table
  .mode [table|csv|json]  set (or show) the output format
  .timer on|off        print the run time of every statement
  .help                show this help
  .exit, .quit         leave (Ctrl-D does too)
";

/// Runs the shell on `db` until `.exit` or the end of input. On a terminal the
/// exit code is success; reading a script, it is failure if any statement failed.
pub fn run(db: &Database, db_path: &Path, format: Format) -> Result<ExitCode, Failure> {
    let mut shell = Shell::new(db, format);
    if io::stdin().is_terminal() {
        interactive(&mut shell, db_path)?;
        Ok(ExitCode::SUCCESS)
    } else {
        script(&mut shell, io::stdin().lock())?;
        Ok(if shell.had_error {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Reads lines with rustyline until `.exit` or Ctrl-D; Ctrl-C drops the
/// statement being typed.
fn interactive(shell: &mut Shell, db_path: &Path) -> Result<(), Failure> {
    let mut editor =
        DefaultEditor::new().map_err(|e| Failure::new(format!("starting the shell: {e}")))?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing or unreadable history file just means no history.
        let _ = editor.load_history(path);
    }
    print_text(&format!(
        "olap {}, database {}. Enter .help for help.\n",
        env!("CARGO_PKG_VERSION"),
        db_path.display()
    ))?;
    let outcome = loop {
        let prompt = if shell.input.is_pending() {
            CONTINUATION_PROMPT
        } else {
            PROMPT
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match shell.feed_line(&line) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Exit) => break Ok(()),
                    Err(failure) => break Err(failure),
                }
            }
            Err(ReadlineError::Interrupted) => shell.input.clear(),
            Err(ReadlineError::Eof) => break shell.finish(),
            Err(e) => break Err(Failure::new(format!("reading input: {e}"))),
        }
    };
    if let Some(path) = &history {
        // Not being able to keep the history is no reason to fail.
        let _ = editor.save_history(path);
    }
    outcome
}

/// Runs every line of `input` as if typed, without prompts.
fn script(shell: &mut Shell, mut input: impl BufRead) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        let read = input
            .read_until(b'\n', &mut bytes)
            .map_err(|e| Failure::new(format!("reading input: {e}")))?;
        if read == 0 {
            return shell.finish();
        }
        let line = String::from_utf8_lossy(&bytes);
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if shell.feed_line(line)? == Flow::Exit {
            return Ok(());
        }
    }
}

/// `~/.olap_history`, if there is a home directory.
fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".olap_history"))
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Flow {
    #[default]
    Continue,
    Exit,
}

/// The state of a session: the database, the settings, the unfinished statement.
struct Shell<'a> {
    db: &'a Database,
    mode: Format,
    timer: bool,
    input: StatementBuffer,
    had_error: bool,
}

impl<'a> Shell<'a> {
    fn new(db: &'a Database, mode: Format) -> Self {
        Shell {
            db,
            mode,
            timer: false,
            input: StatementBuffer::new(),
            had_error: false,
        }
    }

    /// Handles one line of input: a dot command when no statement is pending,
    /// otherwise more SQL, running every statement it completes. Errors are
    /// reported and the session goes on; only a closed stdout ends it.
    fn feed_line(&mut self, line: &str) -> Result<Flow, Failure> {
        if !self.input.is_pending() && line.trim_start().starts_with('.') {
            let outcome = self.dot_command(line.trim());
            return self.report(outcome);
        }
        for statement in self.input.push_line(line) {
            let outcome = self.run_statement(&statement);
            self.report(outcome)?;
        }
        Ok(Flow::Continue)
    }

    /// At the end of input, runs a last statement that lacks its `;`.
    fn finish(&mut self) -> Result<(), Failure> {
        if let Some(statement) = self.input.take_rest() {
            let outcome = self.run_statement(&statement);
            self.report(outcome)?;
        }
        Ok(())
    }

    /// Prints an error and carries on; passes a closed stdout up.
    fn report<T: Default>(&mut self, outcome: Result<T, Failure>) -> Result<T, Failure> {
        match outcome {
            Ok(value) => Ok(value),
            Err(Failure::OutputClosed) => Err(Failure::OutputClosed),
            Err(failure) => {
                failure.report();
                self.had_error = true;
                Ok(T::default())
            }
        }
    }

    fn run_statement(&self, sql: &str) -> Result<(), Failure> {
        let started = Instant::now();
        let result = guarded(|| self.db.execute(sql))?;
        let elapsed = started.elapsed();
        print_result(&result, self.mode)?;
        if self.timer {
            print_text(&format!("Run Time: {:.3} s\n", elapsed.as_secs_f64()))?;
        }
        Ok(())
    }

    fn dot_command(&mut self, line: &str) -> Result<Flow, Failure> {
        let mut words = line.split_whitespace().map(|w| w.trim_end_matches(';'));
        let command = words.next().unwrap_or_default();
        let args: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
        match (command, args.as_slice()) {
            (".exit" | ".quit", []) => return Ok(Flow::Exit),
            (".help", []) => print_text(HELP)?,
            (".tables", []) => self.run_statement("SHOW TABLES")?,
            (".mviews", []) => self.run_statement("SHOW MATERIALIZED VIEWS")?,
            (".schema", []) => {
                for table in self.table_names()? {
                    if self.mode == Format::Table {
                        print_text(&format!("{table}:\n"))?;
                    }
                    self.run_statement(&format!("DESCRIBE {}", quote_identifier(&table)))?;
                }
            }
            (".schema", [table]) => self.run_statement(&format!("DESCRIBE {table}"))?,
            (".timer", [setting]) => {
                self.timer = match setting.to_ascii_lowercase().as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(Failure::new("usage: .timer on|off")),
                }
            }
            (".mode", []) => print_text(&format!("{}\n", self.mode))?,
            (".mode", [name]) => {
                self.mode = Format::parse(name).ok_or_else(|| {
                    Failure::new(format!("unknown mode '{name}'; use table, csv or json"))
                })?
            }
            (
                ".exit" | ".quit" | ".help" | ".tables" | ".mviews" | ".schema" | ".timer"
                | ".mode",
                _,
            ) => {
                return Err(Failure::new(format!(
                    "wrong arguments for {command}; enter .help for usage"
                )))
            }
            _ => {
                return Err(Failure::new(format!(
                    "unknown command '{command}'; enter .help for the list"
                )))
            }
        }
        Ok(Flow::Continue)
    }

    /// The names of all tables: the first column of `SHOW TABLES`.
    fn table_names(&self) -> Result<Vec<String>, Failure> {
        let tables = guarded(|| self.db.execute("SHOW TABLES"))?;
        Ok(tables
            .to_string_rows()
            .into_iter()
            .filter_map(|row| row.into_iter().next())
            .collect())
    }
}

/// `name` as an SQL identifier: bare if it is a plain lower-case name, otherwise
/// in double quotes.
fn quote_identifier(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_when_needed() {
        assert_eq!(quote_identifier("lineitem"), "lineitem");
        assert_eq!(quote_identifier("t_2"), "t_2");
        assert_eq!(quote_identifier("Mixed"), "\"Mixed\"");
        assert_eq!(quote_identifier("with space"), "\"with space\"");
        assert_eq!(quote_identifier("q\"uote"), "\"q\"\"uote\"");
        assert_eq!(quote_identifier("2fast"), "\"2fast\"");
    }
}
