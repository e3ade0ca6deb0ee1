//! The status bar: pointer position, last button event, lock keys.
//!
//! The text has a fixed width and fixed fields, so a change touches only the
//! columns that differ and the damage stays small.

use spicebox_shm::Rect;

use crate::draw::canvas::Canvas;
use crate::draw::color::rgb;
use crate::draw::font::{draw_text, text_width, GLYPH};
use crate::draw::geom::rect;

use super::keymap::{LED_CAPS, LED_NUM, LED_SCROLL};
use super::layout::Layout;

const BAR: u32 = 0x14_161c;
const RULE: u32 = 0x3a_4050;

/// The last pointer button event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ButtonEvent {
    pub button: u8,
    pub pressed: bool,
}

/// What the status bar shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusInfo {
    pub pointer: (i32, i32),
    pub button: Option<ButtonEvent>,
    pub leds: u16,
}

fn button_text(event: Option<ButtonEvent>) -> String {
    let Some(ButtonEvent { button, pressed }) = event else {
        return "no button yet".into();
    };
    let name = match button {
        1 => "left",
        2 => "middle",
        3 => "right",
        4 => return "wheel up".into(),
        5 => return "wheel down".into(),
        6 => "side",
        7 => "extra",
        other => return format!("button {other} {}", if pressed { "down" } else { "up" }),
    };
    format!("{name} {}", if pressed { "down" } else { "up" })
}

fn locks_text(leds: u16) -> String {
    let flag = |bit: u16, name: &'static str| if leds & bit != 0 { name } else { "    " };
    format!(
        "{} {} {}",
        flag(LED_CAPS, "CAPS"),
        flag(LED_NUM, "NUM "),
        flag(LED_SCROLL, "SCRL")
    )
}

/// The status bar's geometry and current text.
pub(crate) struct Status {
    bar: Rect,
    text_x: u32,
    text_y: u32,
    columns: usize,
    scale: u32,
    /// The right-hand label, shown when it fits.
    label: String,
    text: String,
}

impl Status {
    /// A bar for `layout`, showing `info`.
    pub(crate) fn new(layout: &Layout, info: &StatusInfo) -> Status {
        let s = layout.scale;
        let bar = layout.status;
        let pad = 4 * s;
        let columns = (bar.width.saturating_sub(2 * pad) / (GLYPH * s)) as usize;
        let mut status = Status {
            bar,
            text_x: bar.x + pad,
            text_y: bar.y + bar.height.saturating_sub(GLYPH * s) / 2,
            columns,
            scale: s,
            label: format!("spicebox demo  {}x{}", layout.width, layout.height),
            text: String::new(),
        };
        status.text = status.compose(info);
        status
    }

    /// The text on the bar.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    fn compose(&self, info: &StatusInfo) -> String {
        let (x, y) = info.pointer;
        let left = format!(
            " pointer {x:>4},{y:<4}  {:<16}  {}",
            button_text(info.button),
            locks_text(info.leds)
        );
        let mut text = left;
        let room = self.columns.saturating_sub(text.len());
        if room >= self.label.len() + 2 {
            text.push_str(&format!("{:>room$}", self.label));
        }
        text.truncate(self.columns);
        // Pad so that every update compares equal-length strings.
        format!("{text:<width$}", width = self.columns)
    }

    /// Shows `info`; returns the columns that changed.
    pub(crate) fn update(&mut self, info: &StatusInfo) -> Option<Rect> {
        let text = self.compose(info);
        let old = self.text.as_bytes();
        let differs = |i: &usize| old.get(*i) != text.as_bytes().get(*i);
        let first = (0..text.len().max(old.len())).find(differs)?;
        let last = (0..text.len().max(old.len())).rev().find(differs)?;
        self.text = text;
        let cell = GLYPH * self.scale;
        Some(rect(
            self.text_x + text_width(first, self.scale),
            self.text_y,
            text_width(last - first + 1, self.scale),
            cell,
        ))
    }

    /// Draws the text inside `clip` (the bar itself is in the base).
    pub(crate) fn paint(&self, canvas: &mut Canvas<'_>, clip: &Rect) {
        let label_start = self.text.len().saturating_sub(self.label.len());
        let has_label = self.text.ends_with(&self.label);
        draw_text(
            canvas,
            self.text_x,
            self.text_y,
            self.text.as_bytes(),
            self.scale,
            clip,
            |i| {
                if has_label && i >= label_start {
                    rgb(120, 128, 146)
                } else {
                    rgb(214, 220, 232)
                }
            },
        );
    }

    /// Draws the bar into the base picture.
    pub(crate) fn draw_frame(&self, canvas: &mut Canvas<'_>) {
        canvas.fill(&self.bar, BAR);
        canvas.fill(
            &rect(self.bar.x, self.bar.y, self.bar.width, self.scale),
            RULE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(x: i32, y: i32) -> StatusInfo {
        StatusInfo {
            pointer: (x, y),
            button: None,
            leds: 0,
        }
    }

    #[test]
    fn updates_damage_only_changed_columns() {
        let layout = Layout::new(1280, 800);
        let mut status = Status::new(&layout, &info(10, 20));
        assert!(status.text().contains("pointer   10,20"));
        assert!(status.text().contains("no button yet"));
        assert_eq!(status.update(&info(10, 20)), None);
        let damage = status.update(&info(11, 20)).unwrap();
        assert_eq!(damage.width, text_width(1, 2));
        let mut pressed = info(11, 20);
        pressed.button = Some(ButtonEvent {
            button: 3,
            pressed: true,
        });
        status.update(&pressed);
        assert!(status.text().contains("right down"));
    }

    #[test]
    fn fits_a_small_screen() {
        let layout = Layout::new(320, 200);
        let status = Status::new(&layout, &info(319, 199));
        assert!(status.text().len() * 8 <= 320);
    }
}
