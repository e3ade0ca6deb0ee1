//! The full-motion area: a plasma field with a bouncing, shaded ball and a
//! running timecode. Every pixel changes every frame, which is the point:
//! it is what exercises the display worker's video path.
//!
//! All per-pixel work is integer: sine and palette tables are built once.

use spicebox_shm::Rect;

use crate::draw::canvas::{Canvas, BPP};
use crate::draw::color::{blend, mix, pack, rgb};
use crate::draw::font::{draw_text, text_width, GLYPH};
use crate::draw::geom::{intersect, rect};
use crate::draw::rng::Rng;

/// Sine over 256 steps, amplitude 64.
fn sine_table() -> [i32; 256] {
    let mut table = [0; 256];
    for (i, v) in table.iter_mut().enumerate() {
        *v = (((i as f64) * std::f64::consts::TAU / 256.0).sin() * 64.0).round() as i32;
    }
    table
}

/// A looping gradient through deep blue, violet, coral and gold.
fn palette() -> [u32; 256] {
    const KEYS: [[f32; 3]; 5] = [
        [12.0, 18.0, 64.0],
        [88.0, 36.0, 140.0],
        [230.0, 90.0, 110.0],
        [250.0, 200.0, 90.0],
        [40.0, 150.0, 170.0],
    ];
    let mut table = [0; 256];
    for (i, c) in table.iter_mut().enumerate() {
        let pos = i as f32 / 256.0 * KEYS.len() as f32;
        let k = pos as usize % KEYS.len();
        let next = (k + 1) % KEYS.len();
        let t = pos.fract();
        let t = t * t * (3.0 - 2.0 * t);
        *c = pack(mix(KEYS[k], KEYS[next], t));
    }
    table
}

/// The animated area and its clock.
pub(crate) struct Video {
    area: Rect,
    scale: u32,
    fps: u32,
    sine: [i32; 256],
    palette: [u32; 256],
    /// Phase offset from the seed, so seeds look different from frame 0.
    phase: u32,
    /// Reusable per-column terms.
    columns: Vec<(i64, i32)>,
}

impl Video {
    /// A video area covering `area`.
    pub(crate) fn new(area: Rect, scale: u32, fps: u32, seed: u64) -> Video {
        let phase = Rng::new(seed, 0x1de0).below(256);
        Video {
            area,
            scale,
            fps: fps.max(1),
            sine: sine_table(),
            palette: palette(),
            phase,
            columns: Vec::new(),
        }
    }

    /// The region that changes every frame.
    pub(crate) fn area(&self) -> Rect {
        self.area
    }

    fn sin(&self, i: i64) -> i32 {
        self.sine[(i & 255) as usize]
    }

    /// Centre and radius of the ball at `frame`, in screen coordinates.
    fn ball(&self, frame: u64) -> (i64, i64, i64) {
        let a = &self.area;
        let radius = i64::from(a.width.min(a.height) / 7).max(2);
        let t = frame as i64 + i64::from(self.phase);
        let span_x = i64::from(a.width) / 2 - radius;
        let span_y = i64::from(a.height) / 2 - radius;
        // A Lissajous path: 3 and 2 cycles over different periods.
        let cx =
            i64::from(a.x) + i64::from(a.width) / 2 + span_x * i64::from(self.sin(t * 3 / 2)) / 64;
        let cy =
            i64::from(a.y) + i64::from(a.height) / 2 + span_y * i64::from(self.sin(t + 64)) / 64;
        (cx, cy, radius)
    }

    /// Paints frame `frame` inside `clip`.
    pub(crate) fn paint(&mut self, canvas: &mut Canvas<'_>, clip: &Rect, frame: u64) {
        let Some(clip) = intersect(clip, &self.area) else {
            return;
        };
        self.paint_plasma(canvas, &clip, frame);
        self.paint_ball(canvas, &clip, frame);
        self.paint_timecode(canvas, &clip, frame);
    }

    fn paint_plasma(&mut self, canvas: &mut Canvas<'_>, clip: &Rect, frame: u64) {
        let a = self.area;
        let t = frame as i64 + i64::from(self.phase);
        // Coordinates normalised to 0..256 so every size shows one pattern.
        let u = |x: u32| i64::from(x - a.x) * 256 / i64::from(a.width.max(1));
        let v = |y: u32| i64::from(y - a.y) * 256 / i64::from(a.height.max(1));
        // Per-column terms: (normalised x, its wave), computed once per frame.
        let mut columns = std::mem::take(&mut self.columns);
        columns.clear();
        columns.extend((clip.x..clip.x + clip.width).map(|x| (u(x), self.sin(u(x) * 2 + t * 3))));
        // A slowly wandering centre for the ring term.
        let cu = 128 + i64::from(self.sin(t));
        let cv = 128 + i64::from(self.sin(t * 2 / 3 + 64));
        for y in clip.y..clip.y + clip.height {
            let vy = v(y);
            let dv2 = (vy - cv) * (vy - cv);
            let row_term = self.sin(vy * 3 - t * 2);
            let Some(row) = canvas.row_mut(y, clip.x, clip.width) else {
                continue;
            };
            for (px, &(ux, col_term)) in row.chunks_exact_mut(BPP).zip(&columns) {
                let du = ux - cu;
                let diagonal = self.sin(ux + vy + t);
                let rings = self.sin(((du * du + dv2) >> 7) - t * 4);
                let value = i64::from(col_term + row_term + diagonal + rings);
                let c = self.palette[((value / 2 + t * 2) & 255) as usize];
                px.copy_from_slice(&c.to_le_bytes());
            }
        }
        self.columns = columns;
    }

    fn paint_ball(&self, canvas: &mut Canvas<'_>, clip: &Rect, frame: u64) {
        let (cx, cy, r) = self.ball(frame);
        let x0 = u32::try_from((cx - r).max(0)).unwrap_or(0);
        let y0 = u32::try_from((cy - r).max(0)).unwrap_or(0);
        let side = u32::try_from(2 * r + 1).unwrap_or(0);
        let Some(area) = intersect(&rect(x0, y0, side, side), clip) else {
            return;
        };
        let r2 = r * r;
        for y in area.y..area.y + area.height {
            for x in area.x..area.x + area.width {
                let dx = i64::from(x) - cx;
                let dy = i64::from(y) - cy;
                let d2 = dx * dx + dy * dy;
                if d2 > r2 {
                    continue;
                }
                // Light from the upper left: brighter where the normal faces it.
                let hx = dx + r / 3;
                let hy = dy + r / 3;
                let highlight = 255 - ((hx * hx + hy * hy) * 255 / (r2 * 2)).min(255);
                let base = rgb(236, 236, 244);
                let shaded = blend(rgb(60, 70, 110), base, highlight as u32);
                // Soft edge: the outermost ring of pixels is half covered.
                let edge = if d2 > (r - 1) * (r - 1) { 128 } else { 255 };
                canvas.blend(x, y, shaded, edge);
            }
        }
    }

    fn paint_timecode(&self, canvas: &mut Canvas<'_>, clip: &Rect, frame: u64) {
        let fps = u64::from(self.fps);
        let secs = frame / fps;
        let text = format!(
            "REC {:02}:{:02}:{:02}:{:02}",
            secs / 3600 % 100,
            secs / 60 % 60,
            secs % 60,
            frame % fps
        );
        let scale = self.scale.saturating_sub(1).max(1);
        let pad = 4 * scale;
        let (x, y) = (self.area.x + pad, self.area.y + pad);
        let label = rect(
            x.saturating_sub(scale * 2),
            y.saturating_sub(scale * 2),
            text_width(text.len(), scale) + scale * 4,
            GLYPH * scale + scale * 4,
        );
        if let Some(back) = intersect(&label, clip) {
            for yy in back.y..back.y + back.height {
                for xx in back.x..back.x + back.width {
                    canvas.blend(xx, yy, 0, 140);
                }
            }
        }
        // The dot in "REC" blinks once a second.
        let blink = frame % fps < fps / 2;
        draw_text(canvas, x, y, text.as_bytes(), scale, clip, |i| match i {
            0..=2 if blink => rgb(255, 80, 80),
            0..=2 => rgb(120, 60, 60),
            _ => rgb(240, 240, 240),
        });
    }
}
