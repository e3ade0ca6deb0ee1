//! The scrolling terminal: a log that grows by itself and an input line
//! that shows what the client types.

use std::collections::VecDeque;

use spicebox_shm::Rect;

use crate::draw::canvas::Canvas;
use crate::draw::color::rgb;
use crate::draw::font::{draw_text, text_width, GLYPH};
use crate::draw::geom::{intersect, rect};
use crate::draw::shapes::{fill_rounded, shadow};

use super::keymap::KeyAction;
use super::layout::Layout;
use super::loggen::{LogGenerator, PROMPT};
use super::shell::{self, Outcome};
use super::text_line::{Ink, Line};

/// Frames between cursor blinks (half a second at 30 fps).
const BLINK_FRAMES: u32 = 16;
/// Longest input line kept, whatever the width.
const MAX_INPUT: usize = 256;

const PANEL: u32 = 0x10_1218;
const TITLE_BAR: u32 = 0x26_2a36;

/// Where the terminal's parts are on screen.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    panel: Rect,
    title_height: u32,
    text_x: u32,
    text_y: u32,
    columns: usize,
    /// Rows of log above the input line.
    log_rows: usize,
    line_height: u32,
    scale: u32,
}

impl Geometry {
    fn new(layout: &Layout) -> Geometry {
        let s = layout.scale;
        let panel = layout.terminal;
        let title_height = layout.line_height + 4 * s;
        let pad = 4 * s;
        let cell = GLYPH * s;
        let text_x = panel.x + pad;
        let text_y = panel.y + title_height + pad;
        let columns = (panel.width.saturating_sub(2 * pad) / cell).max(1) as usize;
        let rows = panel.height.saturating_sub(title_height + 2 * pad) / layout.line_height;
        Geometry {
            panel,
            title_height,
            text_x,
            text_y,
            columns,
            log_rows: rows.saturating_sub(1).max(1) as usize,
            line_height: layout.line_height,
            scale: s,
        }
    }

    fn cell(&self) -> u32 {
        GLYPH * self.scale
    }

    fn row_y(&self, row: usize) -> u32 {
        self.text_y + row as u32 * self.line_height
    }

    /// Columns `first..last` of `row`, clipped to the panel width.
    fn span(&self, row: usize, first: usize, last: usize) -> Option<Rect> {
        let last = last.min(self.columns);
        (first < last).then(|| {
            rect(
                self.text_x + text_width(first, self.scale),
                self.row_y(row),
                text_width(last - first, self.scale),
                self.line_height,
            )
        })
    }
}

/// Terminal contents and behaviour.
pub(crate) struct Terminal {
    geo: Geometry,
    lines: VecDeque<Line>,
    input: String,
    cursor_visible: bool,
    blink: u32,
    log: LogGenerator,
    next: Line,
    countdown: u32,
}

impl Terminal {
    /// A terminal already full of seeded history.
    pub(crate) fn new(layout: &Layout, seed: u64) -> Terminal {
        let geo = Geometry::new(layout);
        let mut log = LogGenerator::new(seed);
        let mut lines = VecDeque::with_capacity(geo.log_rows);
        while lines.len() < geo.log_rows {
            let (mut line, _) = log.next_line();
            line.truncate(geo.columns);
            lines.push_back(line);
        }
        let (next, countdown) = log.next_line();
        Terminal {
            geo,
            lines,
            input: String::new(),
            cursor_visible: true,
            blink: 0,
            log,
            next,
            countdown,
        }
    }

    /// The log lines on screen, top first (the input line excluded).
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(Line::text)
    }

    /// What has been typed on the input line so far.
    pub(crate) fn input(&self) -> &str {
        &self.input
    }

    /// One animation step: maybe a new log line, maybe a cursor blink.
    pub(crate) fn tick(&mut self, damage: &mut Vec<Rect>) {
        self.countdown = self.countdown.saturating_sub(1);
        if self.countdown == 0 {
            let before = self.snapshot();
            let (line, delay) = self.log.next_line();
            let shown = std::mem::replace(&mut self.next, line);
            self.countdown = delay;
            self.push_line(shown);
            damage.extend(self.rows_damage(&before));
        }
        self.blink += 1;
        if self.blink >= BLINK_FRAMES {
            self.blink = 0;
            self.cursor_visible = !self.cursor_visible;
            damage.extend(self.cursor_cell());
        }
    }

    /// Applies a key the keyboard translated.
    pub(crate) fn key(&mut self, action: KeyAction, damage: &mut Vec<Rect>) {
        let before_len = self.input.len();
        let before = self.snapshot();
        match action {
            KeyAction::Char(c) => {
                let room = self
                    .geo
                    .columns
                    .saturating_sub(PROMPT.len() + 1)
                    .min(MAX_INPUT);
                if self.input.len() < room && (c == ' ' || c.is_ascii_graphic()) {
                    self.input.push(c);
                }
            }
            KeyAction::Backspace => {
                self.input.pop();
            }
            KeyAction::KillLine => self.input.clear(),
            KeyAction::Interrupt => {
                let mut line = shell::echo_prompt(&self.input);
                line.push("^C", Ink::Dim);
                self.push_line(line);
                self.input.clear();
            }
            KeyAction::ClearScreen => self.lines.clear(),
            KeyAction::Enter => {
                let command = std::mem::take(&mut self.input);
                self.push_line(shell::echo_prompt(&command));
                match shell::run(&command, self.log.clock()) {
                    Outcome::Print(lines) => lines.into_iter().for_each(|l| self.push_line(l)),
                    Outcome::Clear => self.lines.clear(),
                }
            }
        }
        // Typing keeps the cursor solid, as terminals do.
        self.cursor_visible = true;
        self.blink = 0;
        damage.extend(self.rows_damage(&before));
        let (a, b) = (
            before_len.min(self.input.len()),
            before_len.max(self.input.len()),
        );
        let prompt = PROMPT.len();
        damage.extend(self.geo.span(self.geo.log_rows, prompt + a, prompt + b + 1));
    }

    fn push_line(&mut self, mut line: Line) {
        line.truncate(self.geo.columns);
        if self.lines.len() >= self.geo.log_rows {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn snapshot(&self) -> Vec<Line> {
        self.lines.iter().cloned().collect()
    }

    /// One rectangle over the rows that differ from `before`, as wide as the
    /// longest text involved.
    fn rows_damage(&self, before: &[Line]) -> Option<Rect> {
        let mut changed: Option<(usize, usize)> = None;
        let mut widest = 0;
        for row in 0..self.geo.log_rows {
            let old = before.get(row);
            let new = self.lines.get(row);
            if old != new {
                changed = Some(changed.map_or((row, row), |(first, _)| (first, row)));
                widest = widest
                    .max(old.map_or(0, Line::len))
                    .max(new.map_or(0, Line::len));
            }
        }
        let (first, last) = changed?;
        let top = self.geo.span(first, 0, widest.max(1))?;
        Some(rect(
            top.x,
            top.y,
            top.width,
            (last - first + 1) as u32 * self.geo.line_height,
        ))
    }

    fn cursor_column(&self) -> usize {
        (PROMPT.len() + self.input.len()).min(self.geo.columns.saturating_sub(1))
    }

    fn cursor_cell(&self) -> Option<Rect> {
        let col = self.cursor_column();
        self.geo.span(self.geo.log_rows, col, col + 1)
    }

    /// Draws the text (the panel itself is in the static base) inside `clip`.
    pub(crate) fn paint(&self, canvas: &mut Canvas<'_>, clip: &Rect) {
        let g = &self.geo;
        let Some(clip) = intersect(clip, &g.panel) else {
            return;
        };
        let first = (clip.y.saturating_sub(g.text_y) / g.line_height) as usize;
        let last = ((clip.y + clip.height).saturating_sub(g.text_y) / g.line_height) as usize;
        // Glyphs sit in the middle of their line's spacing.
        let baseline = |row: usize| g.row_y(row) + g.scale;
        for row in first..=last.min(g.log_rows.saturating_sub(1)) {
            if let Some(line) = self.lines.get(row) {
                let text = line.text().as_bytes();
                draw_text(canvas, g.text_x, baseline(row), text, g.scale, &clip, |i| {
                    line.color_at(i)
                });
            }
        }
        if last >= g.log_rows {
            let input_row = g.log_rows;
            let y = baseline(input_row);
            let prompt = PROMPT.as_bytes();
            draw_text(canvas, g.text_x, y, prompt, g.scale, &clip, |_| {
                Ink::Prompt.color()
            });
            let input_x = g.text_x + text_width(prompt.len(), g.scale);
            draw_text(
                canvas,
                input_x,
                y,
                self.input.as_bytes(),
                g.scale,
                &clip,
                |_| Ink::Bright.color(),
            );
            if self.cursor_visible {
                if let Some(cell) = self.cursor_cell() {
                    let block = rect(cell.x, y, g.cell(), g.cell());
                    if let Some(visible) = intersect(&block, &clip) {
                        canvas.fill(&visible, rgb(150, 230, 170));
                    }
                }
            }
        }
    }

    /// Draws the static panel and title bar into the base picture.
    pub(crate) fn draw_frame(&self, canvas: &mut Canvas<'_>) {
        let g = &self.geo;
        let s = g.scale;
        let radius = (4 * s) as f32;
        shadow(canvas, &g.panel, radius, 6 * s, 2 * s, 120);
        fill_rounded(canvas, &g.panel, radius, PANEL, 228);
        let bar = rect(g.panel.x, g.panel.y, g.panel.width, g.title_height);
        fill_rounded(canvas, &bar, radius, TITLE_BAR, 255);
        // Square off the bar's bottom corners.
        let lower = rect(
            bar.x,
            bar.y + bar.height / 2,
            bar.width,
            bar.height - bar.height / 2,
        );
        canvas.fill(&lower, TITLE_BAR);
        let dot = GLYPH * s * 3 / 4;
        let dot_y = bar.y + (bar.height - dot) / 2;
        for (i, color) in [rgb(238, 96, 88), rgb(246, 190, 70), rgb(96, 196, 96)]
            .iter()
            .enumerate()
        {
            let x = bar.x + 4 * s + i as u32 * (dot + 3 * s);
            fill_rounded(
                canvas,
                &rect(x, dot_y, dot, dot),
                dot as f32 / 2.0,
                *color,
                255,
            );
        }
        let title = b"demo@spicebox: ~";
        let title_w = text_width(title.len(), s);
        let dots_end = bar.x + 4 * s + 3 * (dot + 3 * s);
        let title_x = (bar.x + bar.width.saturating_sub(title_w) / 2).max(dots_end + 2 * s);
        let title_y = bar.y + (bar.height - GLYPH * s) / 2;
        draw_text(canvas, title_x, title_y, title, s, &bar, |_| {
            rgb(190, 196, 210)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal() -> Terminal {
        Terminal::new(&Layout::new(1280, 800), 1)
    }

    #[test]
    fn starts_full_and_scrolls_by_itself() {
        let mut t = terminal();
        let rows = t.geo.log_rows;
        assert_eq!(t.lines().count(), rows);
        let first: Vec<String> = t.lines().map(str::to_owned).collect();
        let mut damage = Vec::new();
        for _ in 0..200 {
            t.tick(&mut damage);
        }
        let now: Vec<String> = t.lines().map(str::to_owned).collect();
        assert_ne!(first, now);
        assert!(!damage.is_empty());
        assert!(t.lines().all(|l| l.len() <= t.geo.columns));
    }

    #[test]
    fn typing_and_enter_run_a_command() {
        let mut t = terminal();
        let mut damage = Vec::new();
        for c in "hi".chars() {
            t.key(KeyAction::Char(c), &mut damage);
        }
        assert_eq!(t.input(), "hi");
        t.key(KeyAction::Backspace, &mut damage);
        t.key(KeyAction::Char('i'), &mut damage);
        t.key(KeyAction::Enter, &mut damage);
        assert_eq!(t.input(), "");
        let lines: Vec<&str> = t.lines().collect();
        let n = lines.len();
        assert_eq!(lines[n - 2], "demo:~$ hi");
        assert_eq!(lines[n - 1], "sh: hi: command not found");
        assert!(!damage.is_empty());
    }

    #[test]
    fn input_is_bounded_by_the_width() {
        let mut t = terminal();
        let mut damage = Vec::new();
        for _ in 0..1000 {
            t.key(KeyAction::Char('x'), &mut damage);
        }
        assert!(t.input().len() < t.geo.columns);
        for r in &damage {
            assert!(r.x + r.width <= t.geo.panel.x + t.geo.panel.width);
        }
    }
}
