//! `LIKE` patterns whose only wildcard is `%`, with more than one literal part
//! (`'%special%requests%'`), as substring searches.
//!
//! Arrow's kernel handles a pattern of one part (`'abc'`, `'abc%'`, `'%abc'`,
//! `'%abc%'`) with string searches, and any other through a regular expression.
//! Here the parts between the `%`s are found in order instead: the first must
//! begin the string (unless the pattern begins with `%`), the last must end it
//! (unless it ends with `%`), and each part in between is searched for
//! (`memchr::memmem`) after the end of the previous one. Taking the leftmost
//! match of each part is enough: a later match would only leave less room for
//! the parts after it.

use arrow::array::{Array, BooleanArray, StringArray};
use arrow::buffer::BooleanBuffer;
use memchr::memmem::Finder;

/// A `%`-only pattern split at its `%`s.
pub struct InOrderPattern {
    prefix: Vec<u8>,
    middle: Vec<Finder<'static>>,
    suffix: Vec<u8>,
}

impl InOrderPattern {
    /// The pattern, if `%` is its only wildcard (no `_`, no escapes) and it has
    /// at least two non-empty parts (fewer are Arrow's fast cases).
    pub fn new(pattern: &str) -> Option<InOrderPattern> {
        if pattern.contains(['_', '\\']) {
            return None;
        }
        let parts: Vec<&str> = pattern.split('%').collect();
        if parts.len() < 2 || parts.iter().filter(|p| !p.is_empty()).count() < 2 {
            return None;
        }
        let (first, last) = (parts[0], parts[parts.len() - 1]);
        let middle = parts[1..parts.len() - 1]
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| Finder::new(p.as_bytes()).into_owned())
            .collect();
        Some(InOrderPattern {
            prefix: first.as_bytes().to_vec(),
            middle,
            suffix: last.as_bytes().to_vec(),
        })
    }

    fn matches(&self, s: &[u8]) -> bool {
        // (Empty ones are not compared: a call of memcmp per row for nothing.)
        if s.len() < self.prefix.len() + self.suffix.len()
            || (!self.prefix.is_empty() && !s.starts_with(&self.prefix))
            || (!self.suffix.is_empty() && !s.ends_with(&self.suffix))
        {
            return false;
        }
        let mut rest = &s[self.prefix.len()..s.len() - self.suffix.len()];
        for part in &self.middle {
            match part.find(rest) {
                Some(at) => rest = &rest[at + part.needle().len()..],
                None => return false,
            }
        }
        true
    }

    /// `strings LIKE pattern` (or NOT LIKE); NULL for NULL strings.
    pub fn evaluate(&self, strings: &StringArray, negated: bool) -> BooleanArray {
        let values = BooleanBuffer::collect_bool(strings.len(), |row| {
            self.matches(strings.value(row).as_bytes()) != negated
        });
        BooleanArray::new(values, strings.nulls().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(strings: &[Option<&str>], pattern: &str, negated: bool) -> Vec<Option<bool>> {
        let strings = StringArray::from(strings.to_vec());
        let mine = InOrderPattern::new(pattern)
            .expect("a pattern of several parts")
            .evaluate(&strings, negated);
        // Arrow's kernel (a regular expression for these patterns) is the oracle.
        let pattern = StringArray::new_scalar(pattern);
        let arrow = if negated {
            arrow::compute::kernels::comparison::nlike(&strings, &pattern)
        } else {
            arrow::compute::kernels::comparison::like(&strings, &pattern)
        }
        .unwrap();
        assert_eq!(mine, arrow);
        mine.iter().collect()
    }

    #[test]
    fn parts_are_found_in_order_without_overlap() {
        let strings = [
            Some("special requests"),
            Some("requests special"),
            Some("xspecialrequestsx"),
            Some("specialrequests"),
            Some("special"),
            None,
            Some(""),
            Some("ab"),
            Some("aab"),
            Some("abab"),
            Some("a\u{e9}b\u{e9}"),
        ];
        for pattern in [
            "%special%requests%",
            "special%requests",
            "special%requests%",
            "%special%requests",
            "a%b",
            "%a%b%",
            "a%a%b",
            "ab%ab",
            "%\u{e9}%\u{e9}",
            "%%a%%b%%",
        ] {
            like(&strings, pattern, false);
            like(&strings, pattern, true);
        }
        assert_eq!(
            like(&strings[..6], "%special%requests%", false),
            vec![
                Some(true),
                Some(false),
                Some(true),
                Some(true),
                Some(false),
                None
            ]
        );
    }

    #[test]
    fn other_patterns_are_left_to_arrow() {
        for pattern in [
            "abc", "%abc", "abc%", "%abc%", "%%", "%", "a_c%d", "a\\%b%c", "",
        ] {
            assert!(InOrderPattern::new(pattern).is_none(), "{pattern}");
        }
    }
}
