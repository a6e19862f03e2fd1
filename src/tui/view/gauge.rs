//! Text gauges that read without colour: a bar against the alert bands
//! with `t` `A` `C` marks (target, alert, critical), a traffic bar, and
//! one-line sparklines.
//!
//! ```text
//! err 0.32% ALERT b 0.10%
//! ██t█████·A········C····
//! traffic 25% (actual 25%)
//! ██████··················
//! ```

use std::collections::VecDeque;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::config::Band;
use crate::tui::theme::Theme;

/// The band a value is in (defined with the bands: reports name it too).
pub use crate::config::BandLevel as Level;

impl Level {
    pub fn style(self, theme: &Theme) -> Style {
        match self {
            Level::Ok => theme.ok,
            Level::Alert => theme.alert,
            Level::Crit => theme.crit,
        }
    }
}

/// The bar of a metric against its band. The scale ends a quarter past
/// critical, so the three marks sit at fixed, readable places; a value past
/// the end fills the bar and ends in "▶".
pub fn band_bar(value: Option<f64>, band: Band, width: usize, theme: &Theme) -> Line<'static> {
    if width == 0 {
        return Line::default();
    }
    let max = band.critical * 1.25;
    let pos = |x: f64| (((x / max) * width as f64).round() as usize).min(width - 1);
    let marks = [
        (pos(band.target), 't'),
        (pos(band.alert), 'A'),
        (pos(band.critical), 'C'),
    ];
    let filled = value.map_or(0, |v| {
        ((v / max) * width as f64).round().clamp(0.0, width as f64) as usize
    });
    let level = value.map_or(Level::Ok, |v| Level::of(v, band));
    let mut spans = Vec::with_capacity(width);
    for i in 0..width {
        let is_fill = i < filled;
        let (ch, style) = match marks.iter().rev().find(|(p, _)| *p == i) {
            Some((_, m)) if is_fill => (*m, level.style(theme).patch(theme.selected)),
            Some((_, m)) => (*m, theme.mark),
            None if is_fill && i == width - 1 && value.is_some_and(|v| v > max) => {
                ('▶', level.style(theme))
            }
            None if is_fill => ('█', level.style(theme)),
            None => ('·', theme.gauge_empty),
        };
        spans.push(Span::styled(ch.to_string(), style));
    }
    Line::from(merge(spans))
}

/// Traffic on the new version: filled to the actual weight (or the desired
/// one while the backend has not answered), `◆` where the engine wants it
/// when the two differ.
pub fn traffic_bar(desired: u8, actual: Option<u8>, width: usize, theme: &Theme) -> Line<'static> {
    if width == 0 {
        return Line::default();
    }
    let at = |pct: u8| ((pct as f64 / 100.0) * width as f64).round() as usize;
    let filled = at(actual.unwrap_or(desired));
    let want = (actual.is_some_and(|a| a != desired)).then(|| at(desired).min(width - 1));
    let spans = (0..width)
        .map(|i| match (Some(i) == want, i < filled) {
            (true, _) => Span::styled("◆", theme.mark),
            (false, true) => Span::styled("█", theme.traffic),
            (false, false) => Span::styled("·", theme.gauge_empty),
        })
        .collect();
    Line::from(merge(spans))
}

/// The last `width` readings as "▁▂▃▅▇". Scaled to the larger of the
/// highest reading and the alert mark, so noise under a low target stays
/// flat and a spike past alert reaches the top.
pub fn sparkline(values: &VecDeque<f64>, alert: f64, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let skip = values.len().saturating_sub(width);
    let top = values.iter().copied().fold(alert, f64::max);
    values
        .iter()
        .skip(skip)
        .map(|v| {
            let i = if top > 0.0 {
                (v / top * 7.0).round()
            } else {
                0.0
            };
            BARS[i.clamp(0.0, 7.0) as usize]
        })
        .collect()
}

/// Joins neighbouring spans of one style, so a bar is a few spans.
fn merge(spans: Vec<Span<'static>>) -> Vec<Span<'static>> {
    let mut out: Vec<Span<'static>> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if last.style == s.style => last.content.to_mut().push_str(&s.content),
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::view::text_of;

    #[test]
    fn levels_follow_the_bands() {
        let band = crate::config::defaults::bands().error_rate;
        assert_eq!(Level::of(0.05, band), Level::Ok);
        assert_eq!(Level::of(0.7, band), Level::Alert);
        assert_eq!(Level::of(1.5, band), Level::Crit);
    }

    #[test]
    fn bars_carry_the_marks_and_the_fill() {
        let band = crate::config::defaults::bands().error_rate;
        let t = Theme::monochrome();
        let bar = text_of(&band_bar(Some(0.6), band, 20, &t));
        assert_eq!(bar.chars().count(), 20);
        assert!(
            bar.contains('t') && bar.contains('A') && bar.contains('C'),
            "{bar}"
        );
        assert!(bar.starts_with('█'), "{bar}");
        assert_eq!(text_of(&traffic_bar(50, Some(25), 8, &t)), "██··◆···");
        assert_eq!(text_of(&traffic_bar(25, Some(25), 8, &t)), "██······");
        assert_eq!(sparkline(&VecDeque::from([0.0, 0.5, 1.0]), 0.5, 10), "▁▅█");
    }
}
