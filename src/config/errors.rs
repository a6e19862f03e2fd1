//! Configuration errors: every problem found in one run, each with the file,
//! the 1-based line and column of the offending key or value, and a hint
//! that says what to do next.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a configuration file.
///
/// `line` and `col` are 1-based. Both are 0 when the problem has no position
/// in the file (the file could not be read at all); `Display` then shows
/// only the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every error found in one configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets from the TOML parser into 1-based line and column
/// (columns count characters, not bytes, so they match what an editor shows).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    /// Line and column of a byte offset; offsets past the end or inside a
    /// multi-byte character are clamped rather than trusted.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }
}

/// Collects errors while the configuration is walked.
pub(crate) struct Errors<'t> {
    file: PathBuf,
    lines: LineIndex<'t>,
    found: Vec<ConfigError>,
}

impl<'t> Errors<'t> {
    pub(crate) fn new(file: &Path, text: &'t str) -> Self {
        Self {
            file: file.to_path_buf(),
            lines: LineIndex::new(text),
            found: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(span, message.into(), None);
    }

    pub(crate) fn add_hint(
        &mut self,
        span: &Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(span, message.into(), Some(hint.into()));
    }

    pub(crate) fn push(&mut self, span: &Range<usize>, message: String, hint: Option<String>) {
        let (line, col) = self.lines.position(span.start);
        self.found.push(ConfigError {
            file: self.file.clone(),
            line,
            col,
            message,
            hint,
        });
    }

    /// Line number of a span, for hints such as "first defined on line 4".
    pub(crate) fn line_of(&self, span: &Range<usize>) -> usize {
        self.lines.position(span.start).0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The errors in file order (stable, so errors at one spot keep the
    /// order they were found in).
    pub(crate) fn finish(mut self) -> ConfigErrors {
        self.found.sort_by_key(|e| (e.line, e.col));
        ConfigErrors(self.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n\nlast";
        let index = LineIndex::new(text);
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(4), (1, 5));
        assert_eq!(index.position(6), (2, 1));
        // "bé = " is 6 bytes but 5 characters: the quote is column 6.
        assert_eq!(index.position(6 + "bé = ".len()), (2, 6));
        assert_eq!(index.position(text.len()), (4, 5));
        assert_eq!(index.position(text.len() + 100), (4, 5));
        // Inside the two-byte `é`: clamped back to its start.
        assert_eq!(index.position(8), (2, 2));
    }

    #[test]
    fn display_shows_location_and_hint() {
        let e = ConfigError {
            file: "h.toml".into(),
            line: 3,
            col: 7,
            message: "unknown key `listn`".into(),
            hint: Some("did you mean `listen`?".into()),
        };
        assert_eq!(
            e.to_string(),
            "h.toml:3:7: error: unknown key `listn`\n  hint: did you mean `listen`?"
        );
        let unreadable = ConfigError {
            line: 0,
            col: 0,
            hint: None,
            ..e
        };
        assert_eq!(unreadable.to_string(), "h.toml: error: unknown key `listn`");
    }
}
