//! Text in the 8x8 public-domain font, scaled by whole pixels.

use font8x8::legacy::BASIC_LEGACY;
use spicebox_shm::Rect;

use super::canvas::Canvas;
use super::geom::{intersect, rect};

/// Glyph side in font pixels.
pub(crate) const GLYPH: u32 = 8;

/// The glyph rows for an ASCII byte (bit 0 = leftmost pixel); a blank for
/// anything else.
fn glyph(byte: u8) -> [u8; 8] {
    BASIC_LEGACY
        .get(usize::from(byte))
        .copied()
        .unwrap_or([0; 8])
}

/// Draws the part of `text` at `(x, y)` that falls inside `clip`, one colour
/// per character from `color_of(index)`. Only set glyph pixels are written:
/// the background stays.
pub(crate) fn draw_text(
    canvas: &mut Canvas<'_>,
    x: u32,
    y: u32,
    text: &[u8],
    scale: u32,
    clip: &Rect,
    color_of: impl Fn(usize) -> u32,
) {
    let cell = GLYPH * scale;
    let Ok(len) = u32::try_from(text.len()) else {
        return;
    };
    let line = rect(x, y, len.saturating_mul(cell), cell);
    let Some(visible) = intersect(&line, clip) else {
        return;
    };
    let first = (visible.x - x) / cell;
    let last = (visible.x + visible.width - 1 - x) / cell;
    for index in first..=last {
        let Some(&byte) = text.get(index as usize) else {
            break;
        };
        if byte == b' ' {
            continue;
        }
        let rows = glyph(byte);
        let color = color_of(index as usize);
        let cell_x = x + index * cell;
        let Some(area) = intersect(&rect(cell_x, y, cell, cell), &visible) else {
            continue;
        };
        for py in area.y..area.y + area.height {
            let bits = rows[((py - y) / scale) as usize % 8];
            if bits == 0 {
                continue;
            }
            for px in area.x..area.x + area.width {
                if bits >> ((px - cell_x) / scale) & 1 == 1 {
                    canvas.set(px, py, color);
                }
            }
        }
    }
}

/// Width in pixels of `chars` characters.
pub(crate) fn text_width(chars: usize, scale: u32) -> u32 {
    u32::try_from(chars)
        .unwrap_or(u32::MAX)
        .saturating_mul(GLYPH * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_only_inside_the_clip() {
        let mut buf = vec![0u8; 32 * 8 * 4];
        let mut c = Canvas::new(&mut buf, 32, 8);
        draw_text(&mut c, 0, 0, b"HIHI", 1, &rect(0, 0, 16, 8), |_| 0xffffff);
        let lit =
            |c: &Canvas<'_>, x0: u32, x1: u32| (x0..x1).any(|x| (0..8).any(|y| c.get(x, y) != 0));
        assert!(lit(&c, 0, 16));
        assert!(!lit(&c, 16, 32));
    }
}
