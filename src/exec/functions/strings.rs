//! String functions. Positions and lengths count characters (Unicode code
//! points), as DuckDB's do; `reverse` reverses grapheme clusters, so that a
//! flag or an accented letter stays whole. Regular expressions use the `regex`
//! crate (RE2's syntax, which DuckDB uses too); a constant pattern is compiled
//! once per batch, varying patterns once per distinct pattern in a row.

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::*;
use regex::{Regex, RegexBuilder};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
use crate::exec::expr::ColumnarValue;
use crate::plan::{Expr, ScalarFunc};
use crate::types::ScalarValue;

/// A string argument: one constant, or a column.
enum Text<'a> {
    Constant(Option<String>),
    Column(&'a StringArray),
}

impl Text<'_> {
    fn get(&self, row: usize) -> Option<&str> {
        match self {
            Text::Constant(v) => v.as_deref(),
            Text::Column(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// An integer argument (cast to BIGINT by the binder): one constant, or a column.
enum Int<'a> {
    Constant(Option<i64>),
    Column(&'a Int64Array),
}

impl Int<'_> {
    fn get(&self, row: usize) -> Option<i64> {
        match self {
            Int::Constant(v) => *v,
            Int::Column(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

fn text<'a>(v: &'a ColumnarValue, expr: &Expr) -> Result<Text<'a>> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Utf8(s)) => Ok(Text::Constant(s.clone())),
        ColumnarValue::Scalar(s) if s.is_null() => Ok(Text::Constant(None)),
        ColumnarValue::Array(a) => a
            .as_string_opt::<i32>()
            .map(Text::Column)
            .ok_or_else(|| Error::Execute(format!("{expr}: expected a VARCHAR argument"))),
        ColumnarValue::Scalar(_) => Err(Error::Execute(format!(
            "{expr}: expected a VARCHAR argument"
        ))),
    }
}

fn int<'a>(v: &'a ColumnarValue, expr: &Expr) -> Result<Int<'a>> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Int64(i)) => Ok(Int::Constant(*i)),
        ColumnarValue::Scalar(s) if s.is_null() => Ok(Int::Constant(None)),
        ColumnarValue::Array(a) => a
            .as_primitive_opt::<Int64Type>()
            .map(Int::Column)
            .ok_or_else(|| Error::Execute(format!("{expr}: expected a BIGINT argument"))),
        ColumnarValue::Scalar(_) => Err(Error::Execute(format!(
            "{expr}: expected a BIGINT argument"
        ))),
    }
}

/// `f` of each row's arguments (None when any is NULL) into strings.
fn strings_of(n: usize, f: impl Fn(usize) -> Result<Option<String>>) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(n, n * 8);
    for row in 0..n {
        out.append_option(f(row)?);
    }
    Ok(Arc::new(out.finish()))
}

pub fn call(func: &ScalarFunc, args: &[ColumnarValue], n: usize, expr: &Expr) -> Result<ArrayRef> {
    let t = |i: usize| text(&args[i], expr);
    let k = |i: usize| int(&args[i], expr);
    Ok(match func {
        ScalarFunc::Upper => map(t(0)?, n, |s| change_case(s, true)),
        ScalarFunc::Lower => map(t(0)?, n, |s| change_case(s, false)),
        ScalarFunc::Length => {
            let s = t(0)?;
            Arc::new(
                (0..n)
                    .map(|r| s.get(r).map(|s| s.chars().count() as i64))
                    .collect::<Int64Array>(),
            )
        }
        ScalarFunc::ByteLength => {
            let s = t(0)?;
            Arc::new(
                (0..n)
                    .map(|r| s.get(r).map(|s| s.len() as i64))
                    .collect::<Int64Array>(),
            )
        }
        ScalarFunc::Ascii => {
            let s = t(0)?;
            Arc::new(
                (0..n)
                    .map(|r| s.get(r).map(|s| s.chars().next().map_or(0, |c| c as i32)))
                    .collect::<Int32Array>(),
            )
        }
        ScalarFunc::Chr => {
            let code = k(0)?;
            strings_of(n, |r| {
                code.get(r)
                    .map(|c| {
                        u32::try_from(c)
                            .ok()
                            .and_then(char::from_u32)
                            .map(String::from)
                            .ok_or_else(|| {
                                Error::Execute(format!(
                                    "Invalid Input Error: Invalid UTF8 Codepoint {c}"
                                ))
                            })
                    })
                    .transpose()
            })?
        }
        ScalarFunc::Substring => {
            let (s, start) = (t(0)?, k(1)?);
            let len = args.get(2).map(|a| int(a, expr)).transpose()?;
            strings_of(n, |r| {
                let (Some(s), Some(from)) = (s.get(r), start.get(r)) else {
                    return Ok(None);
                };
                let len = match &len {
                    Some(l) => match l.get(r) {
                        None => return Ok(None),
                        Some(l) if l < 0 => {
                            return Err(Error::Execute(
                                "SUBSTRING length must not be negative".into(),
                            ))
                        }
                        Some(l) => Some(l),
                    },
                    None => None,
                };
                Ok(Some(substring(s, from, len)))
            })?
        }
        ScalarFunc::Trim | ScalarFunc::LTrim | ScalarFunc::RTrim => {
            let s = t(0)?;
            let chars = args.get(1).map(|a| text(a, expr)).transpose()?;
            let (left, right) = (*func != ScalarFunc::RTrim, *func != ScalarFunc::LTrim);
            strings_of(n, |r| {
                let Some(s) = s.get(r) else { return Ok(None) };
                let set: Vec<char> = match &chars {
                    Some(c) => match c.get(r) {
                        Some(c) => c.chars().collect(),
                        None => return Ok(None),
                    },
                    None => vec![' '],
                };
                let mut out = s;
                if left {
                    out = out.trim_start_matches(set.as_slice());
                }
                if right {
                    out = out.trim_end_matches(set.as_slice());
                }
                Ok(Some(out.to_string()))
            })?
        }
        ScalarFunc::Concat => {
            let parts = (0..args.len()).map(t).collect::<Result<Vec<_>>>()?;
            strings_of(n, |r| {
                Ok(Some(
                    parts.iter().filter_map(|p| p.get(r)).collect::<String>(),
                ))
            })?
        }
        ScalarFunc::ConcatWs => {
            let sep = t(0)?;
            let parts = (1..args.len()).map(t).collect::<Result<Vec<_>>>()?;
            strings_of(n, |r| {
                let Some(sep) = sep.get(r) else {
                    return Ok(None);
                };
                let present: Vec<&str> = parts.iter().filter_map(|p| p.get(r)).collect();
                Ok(Some(present.join(sep)))
            })?
        }
        ScalarFunc::Replace => {
            let (s, from, to) = (t(0)?, t(1)?, t(2)?);
            strings_of(n, |r| {
                Ok(match (s.get(r), from.get(r), to.get(r)) {
                    (Some(s), Some(from), Some(to)) if !from.is_empty() => {
                        Some(s.replace(from, to))
                    }
                    (Some(s), Some(_), Some(_)) => Some(s.to_string()),
                    _ => None,
                })
            })?
        }
        ScalarFunc::StrPos => {
            let (s, sub) = (t(0)?, t(1)?);
            Arc::new(
                (0..n)
                    .map(|r| {
                        let (s, sub) = (s.get(r)?, sub.get(r)?);
                        Some(match s.find(sub) {
                            Some(byte) => s[..byte].chars().count() as i64 + 1,
                            None => 0,
                        })
                    })
                    .collect::<Int64Array>(),
            )
        }
        ScalarFunc::StartsWith | ScalarFunc::EndsWith | ScalarFunc::Contains => {
            let (s, p) = (t(0)?, t(1)?);
            Arc::new(
                (0..n)
                    .map(|r| {
                        let (s, p) = (s.get(r)?, p.get(r)?);
                        Some(match func {
                            ScalarFunc::StartsWith => s.starts_with(p),
                            ScalarFunc::EndsWith => s.ends_with(p),
                            _ => s.contains(p),
                        })
                    })
                    .collect::<BooleanArray>(),
            )
        }
        ScalarFunc::Left | ScalarFunc::Right => {
            let (s, count) = (t(0)?, k(1)?);
            let left = *func == ScalarFunc::Left;
            strings_of(n, |r| {
                let (Some(s), Some(count)) = (s.get(r), count.get(r)) else {
                    return Ok(None);
                };
                let chars = s.chars().count() as i64;
                // A negative count drops that many from the other end.
                let keep = if count >= 0 {
                    count.min(chars)
                } else {
                    (chars + count).max(0)
                } as usize;
                Ok(Some(if left {
                    s.chars().take(keep).collect()
                } else {
                    s.chars().skip(chars as usize - keep).collect()
                }))
            })?
        }
        ScalarFunc::Repeat => {
            let (s, count) = (t(0)?, k(1)?);
            strings_of(n, |r| {
                let (Some(s), Some(count)) = (s.get(r), count.get(r)) else {
                    return Ok(None);
                };
                let count = count.max(0) as usize;
                if s.len().saturating_mul(count) > 1 << 30 {
                    return Err(Error::Execute(format!(
                        "repeat: a result of {count} copies of a {}-byte string is too large",
                        s.len()
                    )));
                }
                Ok(Some(s.repeat(count)))
            })?
        }
        ScalarFunc::Reverse => map(t(0)?, n, |s| s.graphemes(true).rev().collect()),
        ScalarFunc::LPad | ScalarFunc::RPad => {
            let (s, len, pad) = (t(0)?, k(1)?, t(2)?);
            let left = *func == ScalarFunc::LPad;
            strings_of(n, |r| {
                let (Some(s), Some(len), Some(pad)) = (s.get(r), len.get(r), pad.get(r)) else {
                    return Ok(None);
                };
                Ok(Some(pad_to(s, len, pad, left)?))
            })?
        }
        ScalarFunc::SplitPart => {
            let (s, sep, index) = (t(0)?, t(1)?, k(2)?);
            strings_of(n, |r| {
                let (Some(s), Some(sep), Some(index)) = (s.get(r), sep.get(r), index.get(r)) else {
                    return Ok(None);
                };
                Ok(Some(split_part(s, sep, index)))
            })?
        }
        ScalarFunc::RegexpMatches => {
            let s = t(0)?;
            let mut patterns = Patterns::new(&args[1], args.get(2), expr)?;
            let mut out = BooleanBuilder::with_capacity(n);
            for r in 0..n {
                match (s.get(r), patterns.get(r)?) {
                    (Some(s), Some((re, _))) => out.append_value(re.is_match(s)),
                    _ => out.append_null(),
                }
            }
            Arc::new(out.finish())
        }
        ScalarFunc::RegexpReplace => {
            let (s, replacement) = (t(0)?, t(2)?);
            let mut patterns = Patterns::new(&args[1], args.get(3), expr)?;
            let mut out = StringBuilder::with_capacity(n, n * 8);
            for r in 0..n {
                match (s.get(r), patterns.get(r)?, replacement.get(r)) {
                    (Some(s), Some((re, global)), Some(with)) => {
                        let with = rust_replacement(with);
                        let replaced = if global {
                            re.replace_all(s, with.as_str())
                        } else {
                            re.replace(s, with.as_str())
                        };
                        out.append_value(replaced);
                    }
                    _ => out.append_null(),
                }
            }
            Arc::new(out.finish())
        }
        ScalarFunc::RegexpExtract => {
            let s = t(0)?;
            let group = match args.get(2) {
                Some(g) => int(g, expr)?,
                None => Int::Constant(Some(0)),
            };
            let mut patterns = Patterns::new(&args[1], args.get(3), expr)?;
            let mut out = StringBuilder::with_capacity(n, n * 8);
            for r in 0..n {
                match (s.get(r), patterns.get(r)?, group.get(r)) {
                    (Some(s), Some((re, _)), Some(g)) => {
                        // No match, or no such group: the empty string.
                        let found = usize::try_from(g).ok().and_then(|g| {
                            re.captures(s)
                                .and_then(|c| c.get(g).map(|m| m.as_str().to_string()))
                        });
                        out.append_value(found.unwrap_or_default());
                    }
                    _ => out.append_null(),
                }
            }
            Arc::new(out.finish())
        }
        other => {
            return Err(Error::Execute(format!(
                "internal error: {} is not a string function",
                other.name()
            )))
        }
    })
}

/// Upper or lower case by the simple (one character to one) case mapping, as
/// DuckDB's utf8proc does: `upper('ß')` is `ẞ`, not `SS`.
fn change_case(s: &str, upper: bool) -> String {
    if s.is_ascii() {
        return if upper {
            s.to_ascii_uppercase()
        } else {
            s.to_ascii_lowercase()
        };
    }
    s.chars()
        .map(|c| {
            if upper {
                let mut mapped = c.to_uppercase();
                match (c, mapped.len()) {
                    ('ß', _) => 'ẞ',
                    (_, 1) => mapped.next().unwrap_or(c),
                    _ => c,
                }
            } else {
                c.to_lowercase().next().unwrap_or(c)
            }
        })
        .collect()
}

fn map(s: Text, n: usize, f: impl Fn(&str) -> String) -> ArrayRef {
    Arc::new((0..n).map(|r| s.get(r).map(&f)).collect::<StringArray>())
}

/// SQL SUBSTRING: 1-based start; the characters at positions [start, start+len).
fn substring(text: &str, from: i64, len: Option<i64>) -> String {
    let to = match len {
        Some(l) => from.saturating_add(l),
        None => i64::MAX,
    };
    let skip = (from.max(1) - 1) as usize;
    let take = (to.saturating_sub(from.max(1))).max(0) as usize;
    text.chars().skip(skip).take(take).collect()
}

/// `lpad` / `rpad`: `s` cut or padded with copies of `pad` to `len` characters.
fn pad_to(s: &str, len: i64, pad: &str, left: bool) -> Result<String> {
    let len = len.max(0) as usize;
    let chars = s.chars().count();
    if chars >= len {
        return Ok(s.chars().take(len).collect());
    }
    if pad.is_empty() {
        return Err(Error::Execute(format!(
            "Invalid Input Error: Insufficient padding in {}",
            if left { "LPAD" } else { "RPAD" }
        )));
    }
    let padding: String = pad.chars().cycle().take(len - chars).collect();
    Ok(if left {
        padding + s
    } else {
        s.to_string() + &padding
    })
}

/// `split_part(s, sep, index)`: the index-th part (1-based, negative from the
/// end), '' when there is none. An empty separator splits into characters.
fn split_part(s: &str, sep: &str, index: i64) -> String {
    let parts: Vec<&str> = if sep.is_empty() {
        s.char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect()
    } else {
        s.split(sep).collect()
    };
    let position = if index > 0 {
        Some(index as usize - 1)
    } else if index < 0 {
        parts.len().checked_sub(index.unsigned_abs() as usize)
    } else {
        None
    };
    position
        .and_then(|p| parts.get(p))
        .map(|p| p.to_string())
        .unwrap_or_default()
}

/// An RE2 replacement (`\1` for a group, `\\` for a backslash) in the `regex`
/// crate's syntax (`${1}`, with `$` written `$$`).
fn rust_replacement(re2: &str) -> String {
    let mut out = String::with_capacity(re2.len());
    let mut chars = re2.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The compiled patterns of a regular-expression function, with its options
/// (`'i'` case-insensitive, `'c'` case-sensitive, `'s'` dot matches newline,
/// `'m'` / `'n'` / `'p'` newline-sensitive, `'g'` every match for
/// `regexp_replace`): one regex for constant arguments, the last one reused
/// while a column repeats it.
struct Patterns<'a> {
    patterns: Text<'a>,
    options: Option<Text<'a>>,
    last: Option<(String, String, Regex, bool)>,
}

impl<'a> Patterns<'a> {
    fn new(
        patterns: &'a ColumnarValue,
        options: Option<&'a ColumnarValue>,
        expr: &Expr,
    ) -> Result<Patterns<'a>> {
        Ok(Patterns {
            patterns: text(patterns, expr)?,
            options: options.map(|o| text(o, expr)).transpose()?,
            last: None,
        })
    }

    /// The regex of row `row` and whether it replaces every match; None when the
    /// pattern or the options are NULL.
    fn get(&mut self, row: usize) -> Result<Option<(&Regex, bool)>> {
        let Some(pattern) = self.patterns.get(row) else {
            return Ok(None);
        };
        let options = match &self.options {
            Some(o) => match o.get(row) {
                Some(o) => o,
                None => return Ok(None),
            },
            None => "",
        };
        let reuse = matches!(&self.last, Some((p, o, _, _)) if p == pattern && o == options);
        if !reuse {
            let (regex, global) = compile(pattern, options)?;
            self.last = Some((pattern.to_string(), options.to_string(), regex, global));
        }
        Ok(self.last.as_ref().map(|(_, _, re, global)| (re, *global)))
    }
}

fn compile(pattern: &str, options: &str) -> Result<(Regex, bool)> {
    let mut builder = RegexBuilder::new(pattern);
    let mut global = false;
    for o in options.chars() {
        match o {
            'i' => {
                builder.case_insensitive(true);
            }
            'c' => {
                builder.case_insensitive(false);
            }
            's' => {
                builder.dot_matches_new_line(true);
            }
            'm' | 'n' | 'p' => {
                builder.multi_line(true).dot_matches_new_line(false);
            }
            'g' => global = true,
            other => {
                return Err(Error::Execute(format!(
                    "Invalid Input Error: unrecognized regex option '{other}'"
                )))
            }
        }
    }
    let regex = builder.build().map_err(|e| {
        Error::Execute(format!(
            "Invalid Input Error: invalid regular expression '{pattern}': {}",
            e.to_string().lines().last().unwrap_or_default()
        ))
    })?;
    Ok((regex, global))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parts_count_from_both_ends() {
        assert_eq!(split_part("a,b,c", ",", 2), "b");
        assert_eq!(split_part("a,b,c", ",", -1), "c");
        assert_eq!(split_part("a,b,c", ",", 4), "");
        assert_eq!(split_part("a,b,c", ",", 0), "");
        assert_eq!(split_part("abc", "", 2), "b");
    }

    #[test]
    fn pads_cut_and_fill() {
        assert_eq!(pad_to("abc", 5, "xy", true).unwrap(), "xyabc");
        assert_eq!(pad_to("abc", 2, "x", false).unwrap(), "ab");
        assert_eq!(pad_to("é", 3, "ü", false).unwrap(), "éüü");
        assert!(pad_to("a", 3, "", true).is_err());
    }

    #[test]
    fn re2_replacements_become_rust_ones() {
        assert_eq!(rust_replacement(r"<\1>"), "<${1}>");
        assert_eq!(rust_replacement("a$b"), "a$$b");
        assert_eq!(rust_replacement(r"\\"), r"\");
    }
}
