//! A settings-style window that drifts and bounces inside the free area.
//! Its picture (with rounded corners and a soft shadow) is drawn once into a
//! sprite; each frame only moves it.

use spicebox_shm::Rect;

use crate::draw::canvas::Canvas;
use crate::draw::color::rgb;
use crate::draw::font::{draw_text, GLYPH};
use crate::draw::geom::{rect, union};
use crate::draw::rng::Rng;
use crate::draw::shapes::{fill_rounded, shadow, Surface};
use crate::draw::sprite::Sprite;

/// Writes text into a sprite. The text helper draws on canvases, so the
/// text goes through a scratch canvas and is copied as opaque pixels.
fn text_into(sprite: &mut Sprite, x: u32, y: u32, text: &str, scale: u32, color: u32) {
    let width = u32::try_from(text.len()).unwrap_or(0) * GLYPH * scale;
    let height = GLYPH * scale;
    if width == 0 {
        return;
    }
    // Glyph pixels are marked with a colour that never appears in glyphs.
    const MARK: u32 = 0x00ff_00ff;
    let mut buf = vec![0u8; width as usize * height as usize * 4];
    let mut scratch = Canvas::new(&mut buf, width, height);
    let all = scratch.bounds();
    draw_text(&mut scratch, 0, 0, text.as_bytes(), scale, &all, |_| MARK);
    for yy in 0..height {
        for xx in 0..width {
            if scratch.get(xx, yy) == MARK {
                sprite.blend_px(x + xx, y + yy, color, 255);
            }
        }
    }
}

/// The moving window.
pub(crate) struct Window {
    sprite: Sprite,
    bounds: Rect,
    x: u32,
    y: u32,
    dx: i32,
    dy: i32,
}

impl Window {
    /// A window sized for `playground`, starting at a seeded place.
    pub(crate) fn new(playground: Rect, scale: u32, seed: u64, screen: (u32, u32)) -> Window {
        let text_scale = scale.saturating_sub(1).max(1);
        let metrics = Metrics {
            margin: 4 * scale,
            line: GLYPH * text_scale,
            text_scale,
        };
        let rows = form(screen);
        let (natural_w, natural_h) = metrics.natural_size(rows.len() as u32);
        let width = natural_w
            .min(playground.width * 7 / 10)
            .max(8 * metrics.margin);
        let height = natural_h
            .min(playground.height * 7 / 10)
            .max(8 * metrics.margin);
        let sprite = draw_sprite(width, height, &metrics, &rows);
        let room_x = playground.width.saturating_sub(sprite.width);
        let room_y = playground.height.saturating_sub(sprite.height);
        let mut rng = Rng::new(seed, 0x3199);
        let x = playground.x + rng.below(room_x + 1);
        let y = playground.y + rng.below(room_y + 1);
        let mut direction = || if rng.chance(50) { 1 } else { -1 };
        // About a pixel or two per frame: smooth at 30 fps, and the
        // vertical speed differs so the path does not repeat quickly.
        let speed = scale.max(1) as i32;
        let dx = direction() * speed;
        let dy = direction() * (speed * 2 / 3).max(1);
        Window {
            sprite,
            bounds: playground,
            x,
            y,
            dx,
            dy,
        }
    }

    /// Where the sprite (window plus shadow) is now.
    pub(crate) fn area(&self) -> Rect {
        rect(self.x, self.y, self.sprite.width, self.sprite.height)
    }

    /// Moves one step, bouncing off the playground edges; returns the
    /// region that changed (old and new places together).
    pub(crate) fn step(&mut self) -> Rect {
        let before = self.area();
        let (x, dx) = bounce(
            self.x,
            self.dx,
            self.bounds.x,
            self.bounds.width,
            self.sprite.width,
        );
        let (y, dy) = bounce(
            self.y,
            self.dy,
            self.bounds.y,
            self.bounds.height,
            self.sprite.height,
        );
        (self.x, self.dx, self.y, self.dy) = (x, dx, y, dy);
        union(&before, &self.area())
    }

    /// Blends the window onto `canvas` inside `clip`.
    pub(crate) fn paint(&self, canvas: &mut Canvas<'_>, clip: &Rect) {
        self.sprite.draw(canvas, self.x, self.y, clip);
    }
}

/// One axis of motion: returns the new position and velocity.
fn bounce(pos: u32, velocity: i32, start: u32, span: u32, size: u32) -> (u32, i32) {
    let min = i64::from(start);
    let max = i64::from(start) + i64::from(span.saturating_sub(size));
    let next = i64::from(pos) + i64::from(velocity);
    let (next, velocity) = if next < min {
        (min + (min - next), -velocity)
    } else if next > max {
        (max - (next - max), -velocity)
    } else {
        (next, velocity)
    };
    let clamped = next.clamp(min, max);
    (u32::try_from(clamped).unwrap_or(start), velocity)
}

/// The rows of the settings form.
enum Row {
    Value(&'static str, String),
    Check(&'static str, bool),
    Slider(&'static str, u32),
    Progress(&'static str, u32),
}

fn form(screen: (u32, u32)) -> [Row; 6] {
    [
        Row::Value("Resolution", format!("{} x {}", screen.0, screen.1)),
        Row::Value("Compression", "auto-glz".into()),
        Row::Check("Video streaming", true),
        Row::Check("Lossless only", false),
        Row::Slider("Quality", 70),
        Row::Progress("Encoder", 66),
    ]
}

/// Metrics of the window picture.
struct Metrics {
    margin: u32,
    line: u32,
    text_scale: u32,
}

impl Metrics {
    fn row(&self) -> u32 {
        self.line + self.margin * 2
    }

    fn title_height(&self) -> u32 {
        self.line + self.margin * 2
    }

    fn button_height(&self) -> u32 {
        self.line + self.margin * 2
    }

    /// Width and height that fit the form without crowding it.
    fn natural_size(&self, rows: u32) -> (u32, u32) {
        let width = self.line * 30 + self.margin * 4;
        let height = self.title_height()
            + self.margin * 2
            + rows * self.row()
            + self.margin * 2
            + self.button_height()
            + self.margin * 2;
        (width, height)
    }
}

fn draw_sprite(width: u32, height: u32, m: &Metrics, rows: &[Row]) -> Sprite {
    let shadow_spread = m.margin * 2;
    let mut sprite = Sprite::new(
        width + 2 * shadow_spread,
        height + 2 * shadow_spread + m.margin,
    );
    let frame = rect(shadow_spread, shadow_spread, width, height);
    let radius = (m.margin * 2) as f32;
    let face = rgb(236, 238, 243);
    shadow(&mut sprite, &frame, radius, shadow_spread, m.margin, 110);
    fill_rounded(&mut sprite, &frame, radius, face, 255);

    // Title bar: the same rounded shape, squared off where it meets the body.
    let title_height = m.title_height();
    let title = rect(frame.x, frame.y, frame.width, title_height + m.margin * 2);
    fill_rounded(&mut sprite, &title, radius, rgb(58, 88, 150), 255);
    let body_top = frame.y + title_height;
    for y in body_top..title.y + title.height {
        for x in frame.x..frame.x + frame.width {
            if sprite.get(x, y) >> 24 == 0xff {
                sprite.set(x, y, 0xff00_0000 | face);
            }
        }
    }
    let ts = m.text_scale;
    text_into(
        &mut sprite,
        frame.x + m.margin * 2,
        frame.y + m.margin,
        "Display settings",
        ts,
        rgb(240, 244, 255),
    );
    // Close / minimise / maximise buttons.
    let dot = m.line.max(4);
    for (i, color) in [rgb(238, 96, 88), rgb(246, 190, 70), rgb(96, 196, 96)]
        .iter()
        .enumerate()
    {
        let x = (frame.x + frame.width)
            .saturating_sub(m.margin + (3 - i as u32) * (dot + m.margin / 2));
        fill_rounded(
            &mut sprite,
            &rect(x, frame.y + m.margin, dot, dot),
            dot as f32 / 2.0,
            *color,
            255,
        );
    }

    let ink = rgb(40, 44, 56);
    let muted = rgb(110, 116, 130);
    let accent = rgb(58, 120, 220);
    let left = frame.x + m.margin * 2;
    let value_x = left + m.line * 13;
    let control_width = (frame.x + frame.width).saturating_sub(value_x + m.margin * 2);
    let line = m.line;
    let pill = line as f32 / 2.0;
    let mut y = body_top + m.margin * 2;
    for row in rows {
        match row {
            Row::Value(label, value) => {
                text_into(&mut sprite, left, y, label, ts, muted);
                text_into(&mut sprite, value_x, y, value, ts, ink);
            }
            Row::Check(label, on) => {
                fill_rounded(
                    &mut sprite,
                    &rect(left, y, line, line),
                    2.0,
                    rgb(120, 126, 140),
                    255,
                );
                let inner = rect(
                    left + 1,
                    y + 1,
                    line.saturating_sub(2),
                    line.saturating_sub(2),
                );
                fill_rounded(
                    &mut sprite,
                    &inner,
                    2.0,
                    if *on { accent } else { rgb(255, 255, 255) },
                    255,
                );
                if *on {
                    text_into(&mut sprite, left, y, "x", ts, rgb(255, 255, 255));
                }
                text_into(&mut sprite, left + line * 2, y, label, ts, ink);
            }
            Row::Slider(label, percent) => {
                text_into(&mut sprite, left, y, label, ts, muted);
                let track = rect(
                    value_x,
                    y + line / 2 - line / 8,
                    control_width,
                    (line / 4).max(2),
                );
                fill_rounded(&mut sprite, &track, 2.0, rgb(200, 204, 214), 255);
                let knob_x = value_x + control_width.saturating_sub(line) * percent / 100;
                fill_rounded(&mut sprite, &rect(knob_x, y, line, line), pill, accent, 255);
            }
            Row::Progress(label, percent) => {
                text_into(&mut sprite, left, y, label, ts, muted);
                let bar = rect(value_x, y, control_width, line);
                fill_rounded(&mut sprite, &bar, pill, rgb(206, 210, 220), 255);
                let done = rect(value_x, y, control_width * percent / 100, line);
                fill_rounded(&mut sprite, &done, pill, rgb(58, 160, 120), 255);
            }
        }
        y += m.row();
    }

    // Buttons along the bottom right.
    let button_w = line * 8;
    let button_h = m.button_height();
    // Bottom-aligned, but never over the form (on tiny screens they are
    // cut off instead).
    let button_y = (frame.y + frame.height)
        .saturating_sub(button_h + m.margin * 2)
        .max(y);
    let apply_x = (frame.x + frame.width).saturating_sub(button_w + m.margin * 2);
    let cancel_x = apply_x.saturating_sub(button_w + m.margin * 2);
    for (x, label, fill, text) in [
        (cancel_x, "Cancel", rgb(214, 218, 226), ink),
        (apply_x, "Apply", accent, rgb(255, 255, 255)),
    ] {
        fill_rounded(
            &mut sprite,
            &rect(x, button_y, button_w, button_h),
            m.margin as f32,
            fill,
            255,
        );
        let label_x = x + button_w.saturating_sub(line * label.len() as u32) / 2;
        text_into(&mut sprite, label_x, button_y + m.margin, label, ts, text);
    }
    // On tiny screens the form is taller than the window: cut what spills
    // over its edge (the shadow, never fully opaque, stays).
    for y in 0..sprite.height {
        for x in 0..sprite.width {
            let inside = x >= frame.x
                && x < frame.x + frame.width
                && y >= frame.y
                && y < frame.y + frame.height;
            if !inside && sprite.get(x, y) >> 24 == 0xff {
                sprite.set(x, y, 0);
            }
        }
    }
    sprite
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_reflects_at_edges() {
        assert_eq!(bounce(10, -4, 8, 100, 20), (10, 4));
        assert_eq!(bounce(86, 4, 8, 100, 20), (86, -4));
        assert_eq!(bounce(50, 3, 8, 100, 20), (53, 3));
        // A sprite larger than its area stays pinned.
        assert_eq!(bounce(8, 3, 8, 10, 20).0, 8);
    }

    #[test]
    fn the_window_stays_inside_its_playground() {
        let play = rect(100, 100, 300, 200);
        let mut w = Window::new(play, 1, 5, (640, 400));
        for _ in 0..2000 {
            let changed = w.step();
            let a = w.area();
            assert!(a.x >= play.x && a.y >= play.y);
            assert!(a.x + a.width <= play.x + play.width.max(a.width));
            assert!(a.y + a.height <= play.y + play.height.max(a.height));
            assert!(changed.width >= a.width);
        }
    }
}
