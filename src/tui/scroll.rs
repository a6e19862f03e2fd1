//! A scroll position for a screen taller than the terminal (the help, the
//! detail view). Keys move it in the model; the view, which alone knows how
//! many rows there are and how many fit, clamps it when it draws and keeps
//! the page size, so the next key moves within what is on screen.

use std::cell::Cell;

/// Rows moved by a page key before anything was drawn.
const FIRST_PAGE: usize = 10;

#[derive(Debug)]
pub struct Scroll {
    offset: Cell<usize>,
    /// The largest offset at the last draw; unbounded before the first.
    max: Cell<usize>,
    /// Rows a page key moves: what fits, less one row kept for context.
    page: Cell<usize>,
}

impl Default for Scroll {
    fn default() -> Scroll {
        Scroll {
            offset: Cell::new(0),
            max: Cell::new(usize::MAX),
            page: Cell::new(FIRST_PAGE),
        }
    }
}

/// What part of the rows a draw shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first row shown.
    pub offset: usize,
    /// Rows hidden above and below.
    pub above: usize,
    pub below: usize,
}

impl Scroll {
    pub fn offset(&self) -> usize {
        self.offset.get()
    }

    pub fn reset(&self) {
        self.offset.set(0);
    }

    pub fn up(&self, rows: usize) {
        self.offset.set(self.offset.get().saturating_sub(rows));
    }

    pub fn down(&self, rows: usize) {
        let to = self.offset.get().saturating_add(rows);
        self.offset.set(to.min(self.max.get()));
    }

    pub fn page_up(&self) {
        self.up(self.page.get());
    }

    pub fn page_down(&self) {
        self.down(self.page.get());
    }

    /// Called by the view with the rows it has and the rows that fit:
    /// clamps the position and says what is hidden.
    pub fn fit(&self, total: usize, visible: usize) -> Window {
        let max = total.saturating_sub(visible);
        self.max.set(max);
        self.page.set(visible.saturating_sub(1).max(1));
        let offset = self.offset.get().min(max);
        self.offset.set(offset);
        Window {
            offset,
            above: offset,
            below: total.saturating_sub(offset + visible),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_within_what_the_last_draw_had() {
        let s = Scroll::default();
        assert_eq!(
            s.fit(30, 10),
            Window {
                offset: 0,
                above: 0,
                below: 20
            }
        );
        s.page_down();
        assert_eq!(s.offset(), 9, "a page keeps one row of context");
        s.page_down();
        s.page_down();
        assert_eq!(s.offset(), 20, "no further than the last row");
        s.up(1);
        assert_eq!(s.offset(), 19, "the first key up moves at once");
        assert_eq!(s.fit(30, 10).below, 1);
        // A taller terminal: everything fits, nothing is hidden.
        assert_eq!(s.fit(30, 40).offset, 0);
        s.page_up();
        s.reset();
        assert_eq!(s.offset(), 0);
    }
}
