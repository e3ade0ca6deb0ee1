//! The `glz-slide` scene: [`FRAMES`] full-screen frames, each the previous
//! one scrolled up by [`SCROLL`] rows with a band of fresh noise, so a GLZ
//! encoder finds most of every frame in the one before. Forty full screens
//! are far more than a small GLZ window holds, so the window must slide.
//! The last frame shows the page from the top again (the content of frame
//! 1, long gone from a small window) under a "FINAL" banner.

use spicebox_shm::Rect;

use super::paint::{blit, colour, glyph_bit, noise};
use crate::draw::canvas::{Canvas, BPP};
use crate::draw::color::rgb;
use crate::draw::font::{draw_text, text_width};
use crate::draw::geom::rect;

/// Number of frames (steps).
pub const FRAMES: usize = 40;
/// Rows the page moves up per frame.
pub const SCROLL: u32 = 6;
/// Height of the changing noise band.
pub const BAND_HEIGHT: u32 = 24;

/// Height of one text line of the page.
const LINE: u32 = 12;
/// Seed of the page's text and colours.
const SEED: u64 = 0x0061_7a51_1de0;
/// Scale of the banner text.
const BANNER_SCALE: u32 = 6;
const BANNER_TEXT: &[u8] = b"FINAL";

/// The scene's state: the whole scrolling page, rendered once.
pub(crate) struct GlzSlide {
    width: u32,
    height: u32,
    /// B,G,R,X rows: the screen height plus everything scrolled in.
    page: Vec<u8>,
}

impl GlzSlide {
    pub(crate) fn new(width: u32, height: u32) -> GlzSlide {
        let page_height = height + SCROLL * (FRAMES as u32 - 1);
        let mut page = Vec::with_capacity(width as usize * page_height as usize * BPP);
        for y in 0..page_height {
            for x in 0..width {
                page.extend_from_slice(&page_pixel(x, y).to_le_bytes());
            }
        }
        GlzSlide {
            width,
            height,
            page,
        }
    }

    /// Paints frame `step` (0-based) over `frame`; returns the damage (the
    /// whole screen), or `None` past the last frame.
    pub(crate) fn paint(&self, step: usize, frame: &mut [u8]) -> Option<Vec<Rect>> {
        if step >= FRAMES {
            return None;
        }
        let last = step == FRAMES - 1;
        // The last frame goes back to the top of the page.
        let offset = if last { 0 } else { step as u32 * SCROLL };
        let stride = self.width as usize * BPP;
        let start = offset as usize * stride;
        let screen = self.height as usize * stride;
        let src = self.page.get(start..start + screen)?;
        frame.get_mut(..screen)?.copy_from_slice(src);
        self.paint_band(step, frame);
        if last {
            self.paint_banner(frame);
        }
        Some(vec![rect(0, 0, self.width, self.height)])
    }

    /// A band of noise that differs in every frame, with a progress bar.
    fn paint_band(&self, step: usize, frame: &mut [u8]) {
        let y0 = self.height * 2 / 3;
        let band = rect(0, y0, self.width, BAND_HEIGHT.min(self.height - y0));
        let seed = SEED ^ (step as u64 + 1).wrapping_mul(0x1234_5678_9abc);
        let progress = self.width * (step as u32 + 1) / FRAMES as u32;
        let mut pixels = Vec::with_capacity(band.width as usize * band.height as usize * BPP);
        for y in 0..band.height {
            for x in 0..band.width {
                let c = if y < 4 && x < progress {
                    rgb(255, 200, 0)
                } else {
                    noise(seed, x, y)
                };
                pixels.extend_from_slice(&c.to_le_bytes());
            }
        }
        blit(frame, self.width, &band, &pixels);
    }

    /// A flat box with "FINAL" in large letters, centred.
    fn paint_banner(&self, frame: &mut [u8]) {
        let text_w = text_width(BANNER_TEXT.len(), BANNER_SCALE);
        let text_h = 8 * BANNER_SCALE;
        let (w, h) = (text_w + 40, text_h + 40);
        let x = self.width.saturating_sub(w) / 2;
        let y = self.height.saturating_sub(h) / 3;
        let mut canvas = Canvas::new(frame, self.width, self.height);
        canvas.fill(&rect(x, y, w, h), rgb(200, 30, 90));
        canvas.fill(&rect(x + 6, y + 6, w - 12, h - 12), rgb(20, 20, 24));
        let clip = canvas.bounds();
        draw_text(
            &mut canvas,
            x + 20,
            y + 20,
            BANNER_TEXT,
            BANNER_SCALE,
            &clip,
            |i| colour(SEED ^ i as u64),
        );
    }
}

/// Pixel `(x, y)` of the page: numbered text lines on alternating shades.
fn page_pixel(x: u32, y: u32) -> u32 {
    let line = u64::from(y / LINE);
    let bg = if line % 2 == 0 {
        rgb(250, 248, 240)
    } else {
        rgb(236, 240, 250)
    };
    let row = y % LINE;
    if row >= 8 {
        return bg;
    }
    // A gutter with the line number, then words of varying colour.
    let col = x / 8;
    let set = if col < 5 {
        digit_bit(line, col, x, row)
    } else {
        let word = mix_word(line, col);
        word.is_some_and(|cell| glyph_bit(cell, x, row))
    };
    if !set {
        bg
    } else if col < 5 {
        rgb(120, 120, 120)
    } else {
        colour(SEED ^ line.wrapping_mul(31) ^ u64::from(col / 6))
    }
}

/// Whether the gutter glyph at `col` (of 5 digits of `line`) is set.
fn digit_bit(line: u64, col: u32, x: u32, row: u32) -> bool {
    let digit = line / 10u64.pow(4 - col) % 10;
    let rows = font8x8::legacy::BASIC_LEGACY
        .get(usize::from(b'0') + digit as usize)
        .copied()
        .unwrap_or([0; 8]);
    rows[row as usize] >> (x % 8) & 1 == 1
}

/// The character cell at column `col` of `line`: words of 2..9 letters
/// separated by spaces (`None`), different on every line.
fn mix_word(line: u64, col: u32) -> Option<u64> {
    let h = super::paint::mix64(SEED ^ line << 16 ^ u64::from(col / 6));
    let len = 2 + (h % 4) as u32;
    (col % 6 < len).then_some(h >> 8 ^ u64::from(col))
}
