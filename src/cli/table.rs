//! Rows under a header, each column as wide as its widest cell; the last
//! column (free text) is not padded. As `helm history` and `kubectl get`
//! print them.

use serde::Serialize;

use super::OutputFormat;

/// Prints `items` as JSON, or as rows under `header` (`empty` when there
/// are none): how the listing commands answer.
pub fn print<T: Serialize, const N: usize>(
    items: &[T],
    output: OutputFormat,
    header: [&str; N],
    row: impl Fn(&T) -> [String; N],
    empty: &str,
) {
    match output {
        OutputFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(items).expect("listings serialize")
        ),
        OutputFormat::Text if items.is_empty() => crate::outln!("{empty}"),
        OutputFormat::Text => {
            let rows: Vec<_> = items.iter().map(row).collect();
            crate::outln!("{}", render(header, &rows).trim_end());
        }
    }
}

pub fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = header.map(str::to_string);
    let mut out = String::new();
    for cells in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                // Padded by characters: "→" is one column, three bytes.
                let pad = width - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up_by_characters_not_bytes() {
        let text = super::render(
            ["A", "B", "C"],
            &[
                ["v1 → v2".into(), "x".into(), "free text".into()],
                ["v10".into(), "yy".into(), "".into()],
            ],
        );
        assert_eq!(
            text,
            "A        B   C\nv1 → v2  x   free text\nv10      yy\n"
        );
    }
}
