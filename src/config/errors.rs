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

impl ConfigError {
    /// The bytes of `file` are not UTF-8, which TOML requires: the error
    /// points at the first bad byte, so an editor can jump to it.
    pub(crate) fn not_utf8(file: &Path, bytes: &[u8], error: &std::str::Utf8Error) -> ConfigError {
        let offset = error.valid_up_to();
        // Everything before `offset` is valid UTF-8 by definition.
        let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let (line, col) = LineIndex::new(before).position(offset);
        let what = match (bytes.get(offset), error.error_len()) {
            (Some(byte), Some(_)) => {
                format!("byte 0x{byte:02X} (offset {offset}) does not begin a UTF-8 character")
            }
            // Cut short: the file ends inside a multi-byte character.
            _ => format!("it ends inside a character (offset {offset})"),
        };
        ConfigError {
            file: file.to_path_buf(),
            line,
            col,
            message: format!("the file is not valid UTF-8: {what}"),
            hint: Some(
                "a TOML file must be UTF-8; this one was likely saved in another encoding \
                 (Latin-1, Windows-1252): save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
                    .to_string(),
            ),
        }
    }
}

/// As JSON: `{"file", "line", "column", "message", "hint"}`, with `line`
/// and `column` null when the problem has no position in the file.
impl serde::Serialize for ConfigError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let positioned = (self.line > 0).then_some((self.line, self.col));
        let mut s = serializer.serialize_struct("ConfigError", 5)?;
        s.serialize_field("file", &self.file)?;
        s.serialize_field("line", &positioned.map(|(line, _)| line))?;
        s.serialize_field("column", &positioned.map(|(_, col)| col))?;
        s.serialize_field("message", &self.message)?;
        s.serialize_field("hint", &self.hint)?;
        s.end()
    }
}

/// Every error found in one configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(transparent)]
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

    #[test]
    fn a_bad_byte_is_located_by_line_and_character() {
        let not_utf8 = |bytes: &[u8]| {
            let error = std::str::from_utf8(bytes).unwrap_err();
            ConfigError::not_utf8(Path::new("h.toml"), bytes, &error)
        };
        // `é` as UTF-8 counts as one column: 0xFF is the 3rd character.
        let e = not_utf8(b"a = 1\n\xC3\xA9x\xFF\n");
        assert_eq!((e.line, e.col), (2, 3));
        assert!(e.message.contains("byte 0xFF (offset 9)"), "{}", e.message);
        // A first byte that is bad is column 1.
        assert_eq!((not_utf8(b"\xE9").line, not_utf8(b"\xE9").col), (1, 1));
        // A character cut off by the end of the file.
        let cut = not_utf8(b"a\n\xC3");
        assert_eq!((cut.line, cut.col), (2, 1));
        assert!(
            cut.message.contains("ends inside a character"),
            "{}",
            cut.message
        );
    }

    #[test]
    fn json_has_null_positions_for_a_file_that_cannot_be_read() {
        let unreadable = ConfigError {
            file: "h.toml".into(),
            line: 0,
            col: 0,
            message: "cannot read h.toml".into(),
            hint: None,
        };
        assert_eq!(
            serde_json::to_value(&unreadable).unwrap(),
            serde_json::json!({"file": "h.toml", "line": null, "column": null,
                               "message": "cannot read h.toml", "hint": null})
        );
    }
}
